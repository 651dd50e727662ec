import assert from 'node:assert/strict';
import type { LightMyRequestResponse } from 'fastify';
import { hashPassword } from '../../src/accounts/passwords.ts';
import { insertUser } from '../../src/accounts/users.repository.ts';
import { withTenant } from '../../src/platform/db/context.ts';
import { newId } from '../../src/platform/ids.ts';
import { insertMembership } from '../../src/members/memberships.repository.ts';
import { TEST_PASSWORD_HASHING, type TestApp } from './app.ts';

let counter = 0;

/** GOOD_PASSWORD hashed once per process (with the tests' cheap parameters): enrolled people all share it. */
let passwordHash: Promise<string> | undefined;

/** A fresh, valid address for this test process. */
export function uniqueEmail(prefix = 'user'): string {
  counter += 1;
  return `${prefix}.${process.pid}.${counter}@example.test`;
}

export const GOOD_PASSWORD = 'correct horse battery staple';

export interface SignedUp {
  email: string;
  password: string;
  userId: string;
  /** Where sign-up landed: the tenant it created (or joined); '' when the preset's sign-up creates none. */
  tenantId: string;
  /** The enterprise above it, where the preset's sign-up creates one (mqtt-portal). */
  enterpriseId?: string;
  accessToken: string;
  refreshToken: string;
}

/** Signs a new person up through the API and returns their credentials. */
export async function signUp(t: TestApp, overrides: { email?: string; password?: string; name?: string } = {}): Promise<SignedUp> {
  const email = overrides.email ?? uniqueEmail();
  const password = overrides.password ?? GOOD_PASSWORD;
  const res = await t.app.inject({
    method: 'POST',
    url: '/api/v1/auth/signup',
    payload: { email, password, ...(overrides.name ? { name: overrides.name } : {}) },
  });
  assert.equal(res.statusCode, 201, res.body);
  const body = res.json();
  return {
    email,
    password,
    userId: body.user.id,
    tenantId: body.tenant?.id ?? '',
    ...(body.enterprise === undefined ? {} : { enterpriseId: body.enterprise.id }),
    accessToken: body.accessToken,
    refreshToken: body.refreshToken,
  };
}

/**
 * A verified person who holds `roles` in `tenantId`, signed in there: how people arrive in presets whose sign-up
 * creates no tenant (msp, company-tree), where an operator or an invitation brings them in.
 */
export async function enrol(t: TestApp, tenantId: string, roles: string[], overrides: { email?: string; name?: string } = {}): Promise<SignedUp> {
  const email = overrides.email ?? uniqueEmail();
  const now = t.clock.now();
  const userId = newId('user');
  passwordHash ??= hashPassword(GOOD_PASSWORD, TEST_PASSWORD_HASHING);
  const hash = await passwordHash;
  await withTenant(t.database.db, tenantId, async (trx) => {
    await insertUser(trx, { id: userId, email, name: overrides.name ?? null, passwordHash: hash, emailVerifiedAt: now, platformRole: null, now });
    await insertMembership(trx, { tenantId, userId, kind: 'direct', roles, now });
  });
  const body = await signIn(t, email, { tenantId });
  return { email, password: GOOD_PASSWORD, userId, tenantId, accessToken: body.accessToken, refreshToken: body.refreshToken };
}

/** Makes `userId` a direct member of `tenantId` holding `roles`, straight in the database (no invitation, no audit). */
export async function join(t: Pick<TestApp, 'database' | 'clock'>, tenantId: string, userId: string, roles: string[]): Promise<void> {
  await withTenant(t.database.db, tenantId, (trx) => insertMembership(trx, { tenantId, userId, kind: 'direct', roles, now: t.clock.now() }));
}

export interface SignedIn {
  accessToken: string;
  refreshToken: string;
  activeTenantId: string | null;
  user: { id: string; email: string };
  tenants: Array<{ tenantId: string; roles: string[] }>;
}

/** Signs someone in through the API (`POST /auth/login`, into `tenantId` when given) and returns the 200's body. */
export async function signIn(t: TestApp, email: string, options: { password?: string; tenantId?: string } = {}): Promise<SignedIn> {
  const res = await t.app.inject({
    method: 'POST',
    url: '/api/v1/auth/login',
    payload: { email, password: options.password ?? GOOD_PASSWORD, ...(options.tenantId === undefined ? {} : { tenantId: options.tenantId }) },
  });
  assert.equal(res.statusCode, 200, res.body);
  return res.json() as SignedIn;
}

/** The install's single root (company-tree's Main Company), created at first start. */
export async function rootTenantOf(t: TestApp): Promise<string> {
  const row = await t.database.db.selectFrom('tenant_tree').select('tenant_id').where('parent_id', 'is', null).executeTakeFirstOrThrow();
  return row.tenant_id;
}

export function bearer(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}

export function assertProblem(res: LightMyRequestResponse, status: number, code: string): void {
  assert.equal(res.statusCode, status, res.body);
  assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
  assert.equal(res.json().code, code, res.body);
}
