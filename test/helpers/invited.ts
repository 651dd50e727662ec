import assert from 'node:assert/strict';
import { readSystem } from '../../src/platform/db/context.ts';
import { hashSecret } from '../../src/platform/secrets.ts';
import type { TestApp } from './app.ts';
import { bearer, GOOD_PASSWORD, type SignedUp, uniqueEmail } from './users.ts';

/**
 * The token of the pending invitation for `email` (into `tenantId`, when given) from the invitation links mailed
 * to that address, read from the outbox, delivered or not. Several mails can share one clock instant, so the
 * link is matched to its invitation, never picked by order.
 */
export async function invitationTokenFor(t: TestApp, email: string, tenantId?: string): Promise<string> {
  return readSystem(t.database.db, async (trx) => {
    let pending = trx.selectFrom('invitations').select('token_hash').where('email', '=', email).where('status', '=', 'pending');
    if (tenantId !== undefined) pending = pending.where('tenant_id', '=', tenantId);
    const hashes = new Set((await pending.execute()).map((r) => r.token_hash));
    const tokens = new Set<string>();
    for (const row of await trx.selectFrom('outbox').select('payload').execute()) {
      const payload = (typeof row.payload === 'string' ? JSON.parse(row.payload) : row.payload) as { to?: string; text?: string };
      const token = payload.to === email ? /\/team-invite\/(tnr_inv_[A-Za-z0-9_-]{43})/.exec(payload.text ?? '')?.[1] : undefined;
      if (token !== undefined && hashes.has(hashSecret(token))) tokens.add(token);
    }
    assert.equal(tokens.size, 1, `one pending invitation mailed to ${email}${tenantId === undefined ? '' : ` for ${tenantId}`}, found ${tokens.size}`);
    return [...tokens][0] ?? '';
  });
}

/**
 * How people arrive where sign-up creates nothing (seed 001: "invite their admin"): the bearer of `inviterToken`
 * invites a new address into `tenantId` with `roles`, and the person signs up through the mailed link. They
 * come out verified, a direct member of that tenant with those roles and of nothing else, signed in there.
 */
export async function signUpInvited(t: TestApp, inviterToken: string, tenantId: string, roles: string[], overrides: { email?: string; name?: string } = {}): Promise<SignedUp> {
  const email = overrides.email ?? uniqueEmail('invited');
  const invited = await t.app.inject({ method: 'POST', url: `/api/v1/tenants/${tenantId}/invitations`, headers: bearer(inviterToken), payload: { email, roles } });
  assert.equal(invited.statusCode, 201, invited.body);
  const invitationToken = await invitationTokenFor(t, email, tenantId);
  const res = await t.app.inject({
    method: 'POST',
    url: '/api/v1/auth/signup',
    payload: { email, password: GOOD_PASSWORD, invitationToken, ...(overrides.name === undefined ? {} : { name: overrides.name }) },
  });
  assert.equal(res.statusCode, 201, res.body);
  const body = res.json();
  assert.deepEqual([body.tenant?.id, body.activeTenantId, body.user.emailVerified], [tenantId, tenantId, true], res.body);
  return { email, password: GOOD_PASSWORD, userId: body.user.id, tenantId, accessToken: body.accessToken, refreshToken: body.refreshToken };
}
