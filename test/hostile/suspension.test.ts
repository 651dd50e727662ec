import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createKey, machineToken } from '../helpers/api-keys.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { testEngines } from '../helpers/database.ts';
import { invitationTokenFor } from '../helpers/invited.ts';
import { assertProblem, bearer, enrol, join, signUp, uniqueEmail } from '../helpers/users.ts';
import { closeChecked } from './oracle.ts';

/**
 * Issue 14, lifecycle (ASVS 5.0 V7.4): the moment a tenant is suspended, every credential that speaks for it stops —
 * a member's access token and refresh token, an API key and its machine token, a pending invitation — even where the
 * previous request had just put them in every cache. Resuming brings back what suspension stopped, nothing more.
 */
for (const engine of testEngines()) {
  describe(`hostile: a suspended tenant's live credentials [${engine}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await createTestApp(engine, { env: { TENANTRY_AUTH_RATE_LIMIT: '10000' } });
    });
    after(() => closeChecked(t));

    it('stop working on the next request, warm caches and all, and come back on resume', async () => {
      const top = await signUp(t, { name: 'Top' });
      const customer = await signUp(t, { name: 'Customer' });
      const created = await t.app.inject({
        method: 'POST',
        url: '/api/v1/tenants',
        headers: bearer(top.accessToken),
        payload: { name: 'Customer Co', slug: `hostile-customer-${engine}-${process.pid}`, parentId: top.tenantId },
      });
      assert.equal(created.statusCode, 201, created.body);
      const child = created.json().id as string;
      await join(t, child, customer.userId, ['owner']);
      const member = await enrol(t, child, ['member']);
      const key = await createKey(t, top.accessToken, child, ['members.read', 'tenant.read']);
      const token = await machineToken(t, key);
      const invitee = uniqueEmail('invitee');
      assert.equal(
        (await t.app.inject({ method: 'POST', url: `/api/v1/tenants/${child}/invitations`, headers: bearer(top.accessToken), payload: { email: invitee, roles: ['member'] } }))
          .statusCode,
        201,
      );
      const invitation = await invitationTokenFor(t, invitee, child);

      const members = (credential: string) => t.app.inject({ url: `/api/v1/tenants/${child}/members`, headers: bearer(credential) });
      // Warm every cache: the member's session and list, the key, the machine token, the invitation's preview.
      for (const credential of [member.accessToken, key.secret, token]) assert.equal((await members(credential)).statusCode, 200);
      assert.equal((await t.app.inject({ url: `/api/v1/invitations/${invitation}` })).statusCode, 200);

      assert.equal(
        (await t.app.inject({ method: 'POST', url: `/api/v1/tenants/${child}/suspend`, headers: bearer(top.accessToken), payload: { reason: 'hostile test' } })).statusCode,
        200,
      );

      assertProblem(await members(member.accessToken), 404, 'tenant_not_found');
      assertProblem(await members(key.secret), 403, 'tenant_suspended');
      assertProblem(await members(token), 403, 'tenant_suspended');
      const grant = await t.app.inject({ method: 'POST', url: '/api/v1/oauth/token', payload: { grant_type: 'client_credentials', client_secret: key.secret } });
      assert.equal(grant.statusCode, 403, grant.body);
      // The member's refresh token still refreshes, but not into the suspended tenant.
      const refreshed = await t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refreshToken: member.refreshToken } });
      assert.equal(refreshed.statusCode, 200, refreshed.body);
      assert.equal(refreshed.json().activeTenantId, null);
      assert.equal((await t.app.inject({ url: `/api/v1/invitations/${invitation}` })).statusCode, 404, 'the invitation of a suspended tenant is not found');

      assert.equal((await t.app.inject({ method: 'POST', url: `/api/v1/tenants/${child}/resume`, headers: bearer(top.accessToken), payload: {} })).statusCode, 200);
      const back = await t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refreshToken: refreshed.json().refreshToken } });
      assert.equal(back.json().activeTenantId, child, 'the session keeps its tenant and enters it again');
      for (const credential of [back.json().accessToken, key.secret, token]) assert.equal((await members(credential)).statusCode, 200);
      assert.equal((await t.app.inject({ url: `/api/v1/invitations/${invitation}` })).statusCode, 200);
    });
  });
}
