import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { testEngines } from '../helpers/database.ts';
import { assertProblem, bearer, enrol, signUp } from '../helpers/users.ts';
import { closeChecked } from './oracle.ts';

/**
 * Issue 14, tokens (ASVS 5.0 V7/V9, API2:2023). A token is never the last word: what it says is re-checked on every
 * request. Races run on PostgreSQL only (PGlite runs one statement at a time, so a race there proves nothing).
 */
for (const engine of testEngines()) {
  describe(`hostile: what a still-valid token can no longer do [${engine}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await createTestApp(engine, { env: { TENANTRY_AUTH_RATE_LIMIT: '10000' } });
    });
    after(() => closeChecked(t));

    const members = (tenantId: string, token: string) => t.app.inject({ url: `/api/v1/tenants/${tenantId}/members`, headers: bearer(token) });

    it("refuses a removed member's unexpired access token at once, on the tenant it names", async () => {
      const owner = await signUp(t);
      const member = await enrol(t, owner.tenantId, ['member']);
      assert.equal((await members(owner.tenantId, member.accessToken)).statusCode, 200, 'cached while a member');
      const removed = await t.app.inject({ method: 'DELETE', url: `/api/v1/tenants/${owner.tenantId}/members/${member.userId}`, headers: bearer(owner.accessToken) });
      assert.equal(removed.statusCode, 204, removed.body);
      assertProblem(await members(owner.tenantId, member.accessToken), 404, 'tenant_not_found');
    });

    it("refuses a demoted member's unexpired access token what the old role gave, at once", async () => {
      const owner = await signUp(t);
      const admin = await enrol(t, owner.tenantId, ['admin']);
      const invite = () =>
        t.app.inject({
          method: 'POST',
          url: `/api/v1/tenants/${owner.tenantId}/invitations`,
          headers: bearer(admin.accessToken),
          payload: { email: `x-${Date.now()}-${Math.random()}@example.com`, roles: ['viewer'] },
        });
      assert.equal((await invite()).statusCode, 201, 'an admin invites');
      const demoted = await t.app.inject({
        method: 'PATCH',
        url: `/api/v1/tenants/${owner.tenantId}/members/${admin.userId}`,
        headers: bearer(owner.accessToken),
        payload: { roles: ['viewer'] },
      });
      assert.equal(demoted.statusCode, 200, demoted.body);
      assertProblem(await invite(), 403, 'forbidden');
    });

    it("refuses switching into a tenant one does not belong to, and leaves the session's tenant as it was", async () => {
      const person = await signUp(t);
      const stranger = await signUp(t);
      const res = await t.app.inject({ method: 'POST', url: '/api/v1/auth/active-tenant', headers: bearer(person.accessToken), payload: { tenantId: stranger.tenantId } });
      assertProblem(res, 404, 'tenant_not_found');
      const refreshed = await t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refreshToken: person.refreshToken } });
      assert.equal(refreshed.json().activeTenantId, person.tenantId);
    });
  });
}

if (testEngines().includes('postgres')) {
  describe('hostile: racing the same refresh token [postgres]', () => {
    let t: TestApp;
    before(async () => {
      t = await createTestApp('postgres', { env: { TENANTRY_AUTH_RATE_LIMIT: '10000' } });
    });
    after(() => closeChecked(t));

    it('lets one of three concurrent refreshes of one token win; the other is reuse, and the whole session ends', async () => {
      const person = await signUp(t);
      const refresh = () => t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refreshToken: person.refreshToken } });
      const results = await Promise.all([refresh(), refresh(), refresh()]);
      const statuses = results.map((r) => r.statusCode).sort();
      assert.deepEqual(statuses, [200, 401, 401], results.map((r) => r.body).join('\n'));
      for (const r of results.filter((x) => x.statusCode === 401)) assert.equal(r.json().code, 'refresh_token_reused');
      // The winner's tokens belong to the revoked session too: a stolen token raced by its owner locks both out.
      const winner = results.find((r) => r.statusCode === 200)?.json() as { accessToken: string; refreshToken: string };
      assertProblem(await t.app.inject({ url: '/api/v1/auth/me', headers: bearer(winner.accessToken) }), 401, 'session_ended');
      assertProblem(await t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refreshToken: winner.refreshToken } }), 401, 'invalid_refresh_token');
    });

    it('issues exactly one successor when one token is refreshed sixteen times at once', async () => {
      const person = await signUp(t);
      const results = await Promise.all(
        Array.from({ length: 16 }, () => t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refreshToken: person.refreshToken } })),
      );
      assert.equal(results.filter((r) => r.statusCode === 200).length, 1, results.map((r) => `${r.statusCode}`).join(','));
      const live = await t.database.db
        .selectFrom('refresh_tokens')
        .innerJoin('sessions', 'sessions.id', 'refresh_tokens.session_id')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('sessions.user_id', '=', person.userId)
        .where('refresh_tokens.used_at', 'is', null)
        .executeTakeFirstOrThrow();
      assert.equal(Number(live.n), 1, 'one successor, not sixteen');
    });
  });
}
