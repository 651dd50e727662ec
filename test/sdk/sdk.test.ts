import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { withSystem } from '../../src/platform/db/context.ts';
import { TenantryClient, TenantryError } from '../../sdk/src/index.ts';
import { createKey, type CreatedKey } from '../helpers/api-keys.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { testEngines } from '../helpers/database.ts';
import { bearer, signUp, type SignedUp } from '../helpers/users.ts';
import { freePort } from '../helpers/net.ts';

/** The SDK against a real, listening Tenantry: a service verifying people's tokens and asking about them. */
for (const engine of testEngines()) {
  describe(`@tenantry/sdk [${engine}]`, () => {
    let t: TestApp;
    let base: string;
    let owner: SignedUp;
    let key: CreatedKey;
    let calls: string[];
    let client: TenantryClient;

    before(async () => {
      // The SDK's JWKS client checks expiry against the real clock; the issuer is where the server listens.
      const port = await freePort();
      base = `http://127.0.0.1:${port}`;
      t = await createTestApp(engine, { clockStart: new Date(), env: { TENANTRY_PUBLIC_URL: base, TENANTRY_AUTH_RATE_LIMIT: '1000' } });
      await t.app.listen({ port, host: '127.0.0.1' });
      owner = await signUp(t);
      key = await createKey(t, owner.accessToken, owner.tenantId, ['members.read', 'tenant.read']);
      calls = [];
      const counting: typeof fetch = (input, init) => {
        calls.push(`${init?.method ?? 'GET'} ${new URL(String(input)).pathname}`);
        return fetch(input, init);
      };
      client = new TenantryClient({ baseUrl: `${base}/`, apiKey: key.secret, fetch: counting });
    });
    after(() => t.close());

    it("verifies a person's access token locally against the published keys", async () => {
      const claims = await client.verifyAccessToken(owner.accessToken);
      assert.deepEqual([claims.sub, claims.tid, claims.roles], [owner.userId, owner.tenantId, ['owner']]);
      const [header, payload] = owner.accessToken.split('.');
      const forged = `${header}.${payload}.${'A'.repeat(86)}`;
      await assert.rejects(client.verifyAccessToken(forged), /signature/);
    });

    it('checks permissions for the service itself and for a person, with the reason', async () => {
      assert.deepEqual(await client.check({ tenantId: owner.tenantId, permission: 'members.read' }), { allowed: true, reason: `granted by API key ${key.id}` });
      const person = await client.check({ tenantId: owner.tenantId, permission: 'tenant.delete', subject: owner.userId });
      assert.equal(person.allowed, true);
      const many = await client.checkMany([
        { tenantId: owner.tenantId, permission: 'members.manage' },
        { tenantId: owner.tenantId, permission: 'tenant.read' },
      ]);
      assert.deepEqual(
        many.map((r) => r.allowed),
        [false, true],
      );
    });

    it('exchanges the key for a token once and reuses it', async () => {
      const before = calls.filter((c) => c === 'POST /api/v1/oauth/token').length;
      await client.check({ tenantId: owner.tenantId, permission: 'tenant.read' });
      await Promise.all([client.check({ tenantId: owner.tenantId, permission: 'tenant.read' }), client.introspect(owner.accessToken)]);
      assert.equal(calls.filter((c) => c === 'POST /api/v1/oauth/token').length, before, 'no new exchange while the token is fresh');
      assert.ok(before <= 1);
    });

    it("reports a suspended tenant's key as TenantryError 403 tenant_suspended, not a 401 to rotate for, and keeps its token for when the tenant is back", async () => {
      const other = await signUp(t);
      const otherKey = await createKey(t, other.accessToken, other.tenantId, ['tenant.read']);
      const setStatus = (status: 'active' | 'suspended') =>
        withSystem(t.database.db, (trx) => trx.updateTable('tenants').set({ status }).where('id', '=', other.tenantId).execute());
      const exchanges = () => calls.filter((c) => c === 'POST /api/v1/oauth/token').length;
      const counting: typeof fetch = (input, init) => {
        calls.push(`${init?.method ?? 'GET'} ${new URL(String(input)).pathname}`);
        return fetch(input, init);
      };
      const query = { tenantId: other.tenantId, permission: 'tenant.read' };
      const warm = new TenantryClient({ baseUrl: base, apiKey: otherKey.secret, fetch: counting });
      assert.equal((await warm.check(query)).allowed, true);
      const cold = new TenantryClient({ baseUrl: base, apiKey: otherKey.secret, fetch: counting });
      const suspended = (error: unknown) => {
        assert.ok(error instanceof TenantryError);
        assert.deepEqual([error.status, error.code, error.keyRefusedByTenant, error.problem.tenantStatus], [403, 'tenant_suspended', true, 'suspended']);
        assert.match(error.message, /(is|are) valid, but its tenant .* is suspended/);
        return true;
      };

      await setStatus('suspended');
      const before = exchanges();
      // With a cached token: refused, and no pointless re-exchange (only a 401 triggers one).
      await assert.rejects(warm.check(query), suspended);
      assert.equal(exchanges(), before);
      // Without one: the exchange itself is refused the same way (OAuth error unauthorized_client alongside).
      await assert.rejects(cold.check(query), (error: unknown) => suspended(error) && (error as TenantryError).problem.error === 'unauthorized_client');

      await setStatus('active');
      assert.equal((await warm.check(query)).allowed, true);
      assert.equal((await cold.check(query)).allowed, true);
      assert.equal(exchanges(), before + 2, 'the warm client kept its token; the cold one exchanged once more');
    });

    it('introspects, and turns problem documents into TenantryError', async () => {
      const live = await client.introspect(owner.accessToken);
      assert.equal(live.active, true);
      const other = await signUp(t);
      await assert.rejects(client.request('GET', `/api/v1/tenants/${other.tenantId}`), (error: unknown) => {
        assert.ok(error instanceof TenantryError);
        assert.deepEqual([error.status, error.code], [404, 'tenant_not_found']);
        return true;
      });
      // Revoked: the next exchange is refused, and so is every call.
      const revoke = await t.app.inject({ method: 'DELETE', url: `/api/v1/tenants/${owner.tenantId}/api-keys/${key.id}`, headers: bearer(owner.accessToken) });
      assert.equal(revoke.statusCode, 204);
      await assert.rejects(
        client.check({ tenantId: owner.tenantId, permission: 'tenant.read' }),
        (error: unknown) => error instanceof TenantryError && error.status === 401 && !error.keyRefusedByTenant,
      );
    });
  });
}
