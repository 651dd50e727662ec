import assert from 'node:assert/strict';
import { withTenant } from '../../src/platform/db/context.ts';
import { insertMembership } from '../../src/members/memberships.repository.ts';
import type { TestApp } from './app.ts';
import { bearer, signUp } from './users.ts';

/** Someone holding one role in a tenant, signed in there. */
export interface SeatedPerson {
  userId: string;
  email: string;
  password: string;
  /** From POST /auth/login with the tenant active. */
  accessToken: string;
}

/**
 * One person per role in `tenantId`, each signed in there through POST /auth/login. Every role is given
 * to a newly signed-up user as a direct membership, except `owner.role`, which stands for `owner` (who
 * holds it already, having made the tenant). The owner signs in first, then the rest in `roles` order;
 * each login must list exactly that one role in `tenantId`.
 */
export async function seatRoles<R extends string>(
  t: TestApp,
  tenantId: string,
  roles: readonly R[],
  owner?: { role: NoInfer<R>; userId: string; email: string; password: string },
): Promise<Map<R, SeatedPerson>> {
  const people = new Map<R, { userId: string; email: string; password: string }>(owner ? [[owner.role, owner]] : []);
  for (const role of roles.filter((r) => r !== owner?.role)) {
    const user = await signUp(t);
    await withTenant(t.database.db, tenantId, (trx) => insertMembership(trx, { tenantId, userId: user.userId, kind: 'direct', roles: [role], now: t.clock.now() }));
    people.set(role, user);
  }
  const seated = new Map<R, SeatedPerson>();
  for (const [role, { userId, email, password }] of people) {
    const res = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email, password, tenantId } });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(res.json().tenants.find((x: { tenantId: string }) => x.tenantId === tenantId)?.roles, [role]);
    seated.set(role, { userId, email, password, accessToken: res.json().accessToken });
  }
  return seated;
}

/** POST /check for each of `permissions` in `tenantId` as the bearer of `accessToken`: each result by permission. */
export async function checkPermissions(
  t: TestApp,
  accessToken: string,
  tenantId: string,
  permissions: readonly string[],
): Promise<Map<string, { permission: string; allowed: boolean; reason: string }>> {
  const res = await t.app.inject({
    method: 'POST',
    url: '/api/v1/check',
    headers: bearer(accessToken),
    payload: { checks: permissions.map((permission) => ({ tenantId, permission })) },
  });
  assert.equal(res.statusCode, 200, res.body);
  return new Map((res.json().results as Array<{ permission: string; allowed: boolean; reason: string }>).map((r) => [r.permission, r]));
}

/** The permissions among `permissions` that the bearer of `accessToken` holds in `tenantId`, per POST /check. */
export async function allowedPermissions(t: TestApp, accessToken: string, tenantId: string, permissions: readonly string[]): Promise<Set<string>> {
  const results = await checkPermissions(t, accessToken, tenantId, permissions);
  return new Set([...results.values()].filter((r) => r.allowed).map((r) => r.permission));
}
