import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import { authenticateKeyId } from '../../src/api-keys/api-keys.service.ts';
import { newApiKeySecret } from '../../src/api-keys/credentials.ts';
import { withSystem } from '../../src/platform/db/context.ts';
import { AppError } from '../../src/platform/http/errors.ts';
import { purgeDueTenants } from '../../src/tenants/deletion.service.ts';
import { assertOAuthError, createKey, type CreatedKey, machineToken } from '../helpers/api-keys.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { testEngines } from '../helpers/database.ts';
import { assertProblem, bearer, signUp, type SignedUp } from '../helpers/users.ts';

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

/**
 * SPEC 5 (issue 11, item 7): a valid credential whose tenant is not active is authenticated and refused,
 * `403 tenant_suspended`, not `401`: the key is fine, its tenant is not. Only a credential that is not valid
 * (unknown, forged, malformed, revoked, expired, or its tenant deleted) is `401 invalid_api_key`.
 * The tenant goes through its real lifecycle here: suspended and resumed, deleted and restored, purged.
 */
for (const engine of testEngines()) {
  describe(`API keys of a tenant that is not active [${engine}]`, () => {
    let t: TestApp;
    let top: SignedUp;
    let operator: SignedUp;
    let child: string;
    let slug: string;
    let key: CreatedKey;
    let token: string;
    let revokedKey: CreatedKey;
    let expiringKey: CreatedKey;

    const api = (method: 'GET' | 'POST' | 'DELETE', url: string, credential: string, payload?: object) =>
      t.app.inject({ method, url: `/api/v1${url}`, headers: bearer(credential), ...(payload === undefined ? {} : { payload }) });
    const members = (credential: string) => api('GET', `/tenants/${child}/members`, credential);
    const exchange = (secret: string) =>
      t.app.inject({
        method: 'POST',
        url: '/api/v1/oauth/token',
        headers: FORM,
        payload: new URLSearchParams({ grant_type: 'client_credentials', client_secret: secret }).toString(),
      });
    const introspect = async (credential: string) => (await api('POST', '/oauth/introspect', operator.accessToken, { token: credential })).json();

    /** A refusal of a valid credential: 403 tenant_suspended, saying the key is valid and what its tenant is. */
    function assertSuspended(res: LightMyRequestResponse, status: 'suspended' | 'pending_deletion', credential: 'secret' | 'token', wasSuspended = false): void {
      assertProblem(res, 403, 'tenant_suspended');
      const body = res.json();
      const valid = credential === 'secret' ? `the API key ${key.id} is valid` : `the machine token and its API key ${key.id} are valid`;
      const until = status === 'suspended' ? 'it works again once the tenant is resumed' : `it works again if the tenant is restored${wasSuspended ? ' and then resumed' : ''}`;
      assert.equal(body.detail, `${valid}, but its tenant ${child} is ${status.replace('_', ' ')}; ${until}`);
      assert.deepEqual([body.title, body.status, body.tenantId, body.tenantStatus], ['The credential is valid, but its tenant is not active', 403, child, status]);
      assert.equal(typeof body.requestId, 'string');
      assert.equal(res.headers['www-authenticate'], undefined, 'no challenge: the credential was accepted');
    }

    /** The token endpoint: the same status and problem code, with RFC 6749's unauthorized_client (the client did authenticate). */
    function assertRefusedClient(res: LightMyRequestResponse, code: 'tenant_suspended'): void {
      assert.equal(res.statusCode, 403, res.body);
      assert.match(String(res.headers['content-type']), /^application\/json/);
      assert.equal(res.headers['cache-control'], 'no-store');
      assert.equal(res.headers['www-authenticate'], undefined);
      const body = res.json();
      assert.deepEqual([body.code, body.error], [code, 'unauthorized_client'], res.body);
      assert.equal(body.error_description, body.detail);
      assert.match(body.detail, new RegExp(`^the API key ${key.id} is valid, but its tenant ${child} is`));
    }

    before(async () => {
      t = await createTestApp(engine, { env: { TENANTRY_AUTH_RATE_LIMIT: '1000' } });
      // Top's company has a customer tenant below it; only those above a tenant may suspend it.
      top = await signUp(t, { name: 'Top' });
      slug = `customer-${process.pid}-${engine}`;
      const created = await api('POST', '/tenants', top.accessToken, { name: 'Customer', slug, parentId: top.tenantId });
      assert.equal(created.statusCode, 201, created.body);
      child = created.json().id;
      // A platform super_admin may introspect anything, so an inactive answer says the credential is not live.
      operator = await signUp(t, { name: 'Operator' });
      await withSystem(t.database.db, (trx) => trx.updateTable('users').set({ platform_role: 'super_admin' }).where('id', '=', operator.userId).execute());

      key = await createKey(t, top.accessToken, child, ['members.read', 'tenant.read']);
      token = await machineToken(t, key);
      revokedKey = await createKey(t, top.accessToken, child, ['members.read']);
      assert.equal((await api('DELETE', `/tenants/${child}/api-keys/${revokedKey.id}`, top.accessToken)).statusCode, 204);
      expiringKey = await createKey(t, top.accessToken, child, ['members.read'], { expiresAt: new Date(t.clock.now().getTime() + 60_000).toISOString() });
      for (const credential of [key.secret, token, expiringKey.secret]) assert.equal((await members(credential)).statusCode, 200);
    });
    after(() => t.close());

    it("a suspended tenant's key secret and machine token get 403 tenant_suspended, a problem saying the key is valid and the tenant suspended", async () => {
      const suspended = await api('POST', `/tenants/${child}/suspend`, top.accessToken, { reason: 'invoice 42 unpaid' });
      assert.equal(suspended.statusCode, 200, suspended.body);
      assertSuspended(await members(key.secret), 'suspended', 'secret');
      assertSuspended(await members(token), 'suspended', 'token');
      // Every endpoint, not only the tenant's own paths: the credential is refused wherever it is presented.
      assertSuspended(await api('POST', '/check', key.secret, { tenantId: child, permission: 'members.read' }), 'suspended', 'secret');
      assertSuspended(await api('GET', `/tenants/${child}`, token), 'suspended', 'token');
    });

    it("POST /oauth/token with a suspended tenant's key: 403 tenant_suspended with error unauthorized_client, not invalid_client", async () => {
      assertRefusedClient(await exchange(key.secret), 'tenant_suspended');
      // HTTP Basic and a matching client_id change nothing; a client_id that is not the secret's key is still invalid_client.
      const basic = { ...FORM, authorization: `Basic ${Buffer.from(`${key.id}:${key.secret}`).toString('base64')}` };
      assertRefusedClient(await t.app.inject({ method: 'POST', url: '/api/v1/oauth/token', headers: basic, payload: 'grant_type=client_credentials' }), 'tenant_suspended');
      const mismatched = new URLSearchParams({ grant_type: 'client_credentials', client_id: expiringKey.id, client_secret: key.secret }).toString();
      assertOAuthError(await t.app.inject({ method: 'POST', url: '/api/v1/oauth/token', headers: FORM, payload: mismatched }), 401, 'invalid_client');
      // The key authenticating to the introspection endpoint, with client credentials or as a bearer, is refused the same way.
      const asClient = await t.app.inject({
        method: 'POST',
        url: '/api/v1/oauth/introspect',
        headers: FORM,
        payload: new URLSearchParams({ token, client_id: key.id, client_secret: key.secret }).toString(),
      });
      assertRefusedClient(asClient, 'tenant_suspended');
      assert.equal((await api('POST', '/oauth/introspect', key.secret, { token })).json().code, 'tenant_suspended');
    });

    it("introspection calls a suspended tenant's key and machine token inactive, and says nothing more (RFC 7662)", async () => {
      assert.deepEqual(await introspect(key.secret), { active: false });
      assert.deepEqual(await introspect(token), { active: false });
    });

    it('revoked, expired and forged keys of a suspended tenant are still 401 invalid_api_key: validity is checked first', async () => {
      const refusedAs = async (secret: string, detail: string) => {
        const res = await members(secret);
        assertProblem(res, 401, 'invalid_api_key');
        assert.equal(res.json().detail, detail);
        assert.equal(res.json().tenantStatus, undefined, 'an invalid credential learns nothing about the tenant');
        assert.match(String(res.headers['www-authenticate']), /^Bearer error="invalid_token"/);
        assertOAuthError(await exchange(secret), 401, 'invalid_client');
      };
      await refusedAs(revokedKey.secret, 'the API key has been revoked');
      // Well-formed (right shape and checksum, names the real key) but not the key's secret.
      await refusedAs(newApiKeySecret(child, key.id), 'the API key is not known');
      await refusedAs(`${key.secret.slice(0, -1)}${key.secret.endsWith('a') ? 'b' : 'a'}`, 'the API key is malformed');
      // A machine token whose signature is not Tenantry's.
      const [header, payload] = token.split('.');
      assertProblem(await members(`${header}.${payload}.${'A'.repeat(86)}`), 401, 'invalid_token');
      t.clock.advance(61_000);
      await refusedAs(expiringKey.secret, 'the API key has expired');
    });

    it('resumed: the same secret and machine token work again (200), and introspect as active', async () => {
      const resumed = await api('POST', `/tenants/${child}/resume`, top.accessToken);
      assert.equal(resumed.statusCode, 200, resumed.body);
      for (const credential of [key.secret, token]) assert.equal((await members(credential)).statusCode, 200);
      assert.equal((await exchange(key.secret)).statusCode, 200);
      assert.deepEqual([(await introspect(key.secret)).active, (await introspect(token)).active], [true, true]);
      // What was invalid stays invalid.
      assertProblem(await members(revokedKey.secret), 401, 'invalid_api_key');
      assertProblem(await members(expiringKey.secret), 401, 'invalid_api_key');
    });

    it('pending deletion: 403 tenant_suspended with tenantStatus pending_deletion; restored, it works again', async () => {
      const deleted = await api('DELETE', `/tenants/${child}`, top.accessToken, { confirm: slug });
      assert.equal(deleted.statusCode, 200, deleted.body);
      assert.equal(deleted.json().status, 'pending_deletion');
      assertSuspended(await members(key.secret), 'pending_deletion', 'secret');
      assertSuspended(await members(token), 'pending_deletion', 'token');
      assertRefusedClient(await exchange(key.secret), 'tenant_suspended');
      assert.deepEqual(await introspect(token), { active: false });

      const restored = await api('POST', `/tenants/${child}/restore`, top.accessToken);
      assert.equal(restored.statusCode, 200, restored.body);
      for (const credential of [key.secret, token]) assert.equal((await members(credential)).statusCode, 200);
    });

    it('pending deletion after a suspension: the detail says it takes a restore and a resume; restored, it is still suspended', async () => {
      assert.equal((await api('POST', `/tenants/${child}/suspend`, top.accessToken)).statusCode, 200);
      assert.equal((await api('DELETE', `/tenants/${child}`, top.accessToken, { confirm: slug })).statusCode, 200);
      assertSuspended(await members(key.secret), 'pending_deletion', 'secret', true);
      assert.equal((await api('POST', `/tenants/${child}/restore`, top.accessToken)).statusCode, 200);
      assertSuspended(await members(token), 'suspended', 'token');
      assert.equal((await api('POST', `/tenants/${child}/resume`, top.accessToken)).statusCode, 200);
      assert.equal((await members(key.secret)).statusCode, 200);
    });

    it("a deleted tenant's keys are 401 invalid_api_key: once purged, the key no longer exists", async () => {
      assert.equal((await api('DELETE', `/tenants/${child}`, top.accessToken, { confirm: slug })).statusCode, 200);
      t.clock.advance(31 * 86_400_000);
      const purged = await purgeDueTenants({ db: t.database.db, clock: t.clock });
      assert.deepEqual(
        purged.map((report) => report.tenantId),
        [child],
      );
      const res = await members(key.secret);
      assertProblem(res, 401, 'invalid_api_key');
      assert.equal(res.json().detail, 'the API key is not known');
      assertOAuthError(await exchange(key.secret), 401, 'invalid_client');
      // A machine token minted from it (long expired by now anyway) finds no key either.
      await assert.rejects(
        authenticateKeyId(t.app.services, child, key.id),
        (error: unknown) => error instanceof AppError && error.spec.code === 'invalid_api_key' && error.spec.status === 401,
      );
    });
  });
}
