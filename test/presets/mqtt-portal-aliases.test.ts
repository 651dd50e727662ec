import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createKey, type CreatedKey } from '../helpers/api-keys.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { testEngines } from '../helpers/database.ts';
import { assertProblem, bearer, join, type SignedUp, signUp, uniqueEmail } from '../helpers/users.ts';

/**
 * Seed 000's own paths keep working for integrators migrating from the MQTT portal: `POST /api/auth/active-tenant`
 * and the Mgmt REST API's `/api/v1/subscriber/tenants` and `/api/v1/subscriber/members/…`, as thin aliases of the
 * real routes, in this preset only.
 */
for (const engine of testEngines()) {
  describe(`mqtt-portal: the seed's own paths [${engine}]`, () => {
    let t: TestApp;
    let owner: SignedUp;
    let key: CreatedKey;
    const call = (method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, token: string, payload?: object) =>
      t.app.inject({ method, url, headers: bearer(token), ...(payload === undefined ? {} : { payload }) });

    before(async () => {
      t = await createTestApp(engine, { env: { TENANTRY_PRESET: 'mqtt-portal', TENANTRY_AUTH_RATE_LIMIT: '1000' } });
      owner = await signUp(t, { name: 'Owner' });
      assert.equal((await call('PUT', `/api/v1/tenants/${owner.tenantId}/features`, owner.accessToken, { features: { mgmt_api: true } })).statusCode, 200);
      key = await createKey(t, owner.accessToken, owner.tenantId, [
        'tenant.read',
        'tenants.create_child',
        'members.read',
        'members.invite',
        'members.manage',
        'mqtt_clients.manage',
        'subscriber_tokens.manage',
        'influx_tokens.create',
      ]);
    });
    after(() => t.close());

    it('POST /api/auth/active-tenant switches like POST /api/v1/auth/active-tenant, with the same answer', async () => {
      const res = await call('POST', '/api/auth/active-tenant', owner.accessToken, { tenantId: owner.tenantId });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.json().activeTenantId, owner.tenantId);
      assert.ok(res.json().accessToken);
      assertProblem(await call('POST', '/api/auth/active-tenant', owner.accessToken, { tenantId: 'tzzzzzzzzzzzzzzz' }), 404, 'tenant_not_found');
    });

    it("lists, invites, re-roles and removes members of the key's tenant through /api/v1/subscriber/members", async () => {
      const listed = await call('GET', '/api/v1/subscriber/members', key.secret);
      assert.equal(listed.statusCode, 200, listed.body);
      assert.deepEqual(
        listed.json().members.map((m: { userId: string }) => m.userId),
        [owner.userId],
      );

      const email = uniqueEmail('teammate');
      const invited = await call('POST', '/api/v1/subscriber/members', key.secret, { email, roles: ['member'] });
      assert.equal(invited.statusCode, 201, invited.body);
      assert.deepEqual([invited.json().email, invited.json().roles], [email, ['member']]);

      const mate = await signUp(t, { name: 'Mate' });
      await join(t, owner.tenantId, mate.userId, ['member']);
      const patched = await call('PATCH', `/api/v1/subscriber/members/${mate.userId}`, key.secret, { roles: ['member'] });
      assert.equal(patched.statusCode, 200, patched.body);
      const removed = await call('DELETE', `/api/v1/subscriber/members/${mate.userId}`, key.secret);
      assert.equal(removed.statusCode, 204, removed.body);
      assert.deepEqual(
        (await call('GET', '/api/v1/subscriber/members', key.secret)).json().members.map((m: { userId: string }) => m.userId),
        [owner.userId],
      );
    });

    it("answers with the real route's problems: validation, authorization, and the key's own tenant only", async () => {
      assertProblem(await call('POST', '/api/v1/subscriber/members', key.secret, { email: 'not-an-email', roles: ['member'] }), 422, 'invalid_email');
      assertProblem(await call('GET', '/api/v1/subscriber/members', 'tnty_forged'), 401, 'invalid_api_key');
      const listed = await call('GET', '/api/v1/subscriber/tenants', key.secret);
      assert.equal(listed.statusCode, 200, listed.body);
      assert.deepEqual(
        listed.json().tenants.map((x: { id: string }) => x.id),
        [owner.tenantId],
      );
    });

    it('exists in this preset only', async () => {
      const other = await createTestApp(engine);
      try {
        const person = await signUp(other);
        assert.equal((await other.app.inject({ method: 'GET', url: '/api/v1/subscriber/members', headers: bearer(person.accessToken) })).statusCode, 404);
        assert.equal(
          (await other.app.inject({ method: 'POST', url: '/api/auth/active-tenant', headers: bearer(person.accessToken), payload: { tenantId: person.tenantId } })).statusCode,
          404,
        );
      } finally {
        await other.close();
      }
    });
  });
}
