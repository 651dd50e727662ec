import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { assertOAuthError, createKey, type CreatedKey, machineToken } from '../helpers/api-keys.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { testEngines } from '../helpers/database.ts';
import { assertProblem, bearer, join, type SignedUp, signUp } from '../helpers/users.ts';

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

for (const engine of testEngines()) {
  describe(`OAuth client credentials and introspection [${engine}]`, () => {
    let t: TestApp;
    let base: string;
    let owner: SignedUp;
    let key: CreatedKey;
    before(async () => {
      // Real time: an independent verifier checks exp and iat against its own clock.
      t = await createTestApp(engine, { clockStart: new Date(), env: { TENANTRY_AUTH_RATE_LIMIT: '1000' } });
      base = await t.app.listen({ port: 0, host: '127.0.0.1' });
      owner = await signUp(t);
      key = await createKey(t, owner.accessToken, owner.tenantId, ['members.read', 'tenant.read']);
    });
    after(() => t.close());

    const token = (payload: string | object, headers: Record<string, string> = FORM) =>
      t.app.inject({ method: 'POST', url: '/api/v1/oauth/token', headers, payload: payload as string });
    const introspect = (headers: Record<string, string>, payload: object) => t.app.inject({ method: 'POST', url: '/api/v1/oauth/introspect', headers, payload });
    const form = (params: Record<string, string>) => new URLSearchParams(params).toString();
    const basic = (id: string, secret: string) => ({ ...FORM, authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}` });
    const members = `/api/v1/tenants/${'{tenant}'}/members`;

    it("issues a JWT for the key's tenant and permissions that an independent JWKS client verifies", async () => {
      const res = await token(form({ grant_type: 'client_credentials', client_id: key.id, client_secret: key.secret }));
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.headers['cache-control'], 'no-store');
      const grant = res.json();
      assert.deepEqual({ ...grant, access_token: typeof grant.access_token }, { access_token: 'string', token_type: 'Bearer', expires_in: 600, scope: 'members.read tenant.read' });

      const jwks = createRemoteJWKSet(new URL(`${base}/.well-known/jwks.json`));
      const { payload, protectedHeader } = await jwtVerify(grant.access_token, jwks, { issuer: 'http://tenantry.test', typ: 'at+jwt' });
      assert.equal(protectedHeader.alg, 'ES256');
      assert.deepEqual([payload.sub, payload.client_id, payload.tid, payload.scope, payload.sid], [key.id, key.id, owner.tenantId, 'members.read tenant.read', undefined]);

      const used = await t.app.inject({ url: members.replace('{tenant}', owner.tenantId), headers: bearer(grant.access_token) });
      assert.equal(used.statusCode, 200, used.body);
    });

    it('takes the credentials as HTTP Basic or as JSON too', async () => {
      const viaBasic = await token(form({ grant_type: 'client_credentials' }), basic(key.id, key.secret));
      assert.equal(viaBasic.statusCode, 200, viaBasic.body);
      const viaJson = await token({ grant_type: 'client_credentials', client_id: key.id, client_secret: key.secret }, { 'content-type': 'application/json' });
      assert.equal(viaJson.statusCode, 200, viaJson.body);
      // client_id may be left out: the secret names its key.
      assert.equal((await token(form({ grant_type: 'client_credentials', client_secret: key.secret }))).statusCode, 200);
    });

    it('narrows the token to a requested scope, and refuses a scope beyond the key', async () => {
      const narrow = await machineToken(t, key, 'members.read');
      assert.equal((await t.app.inject({ url: members.replace('{tenant}', owner.tenantId), headers: bearer(narrow) })).statusCode, 200);
      assertProblem(await t.app.inject({ url: `/api/v1/tenants/${owner.tenantId}`, headers: bearer(narrow) }), 403, 'forbidden');
      const beyond = await token(form({ grant_type: 'client_credentials', client_id: key.id, client_secret: key.secret, scope: 'members.read members.manage' }));
      assertOAuthError(beyond, 400, 'invalid_scope');
      assert.equal(beyond.json().error, 'invalid_scope');
      assert.equal(beyond.json().error_description, 'the key does not carry members.manage');
    });

    it('answers OAuth errors as problem documents with RFC 6749 error members', async () => {
      const wrong = await token(form({ grant_type: 'client_credentials', client_id: key.id, client_secret: `${key.secret.slice(0, -1)}${key.secret.endsWith('a') ? 'b' : 'a'}` }));
      assertOAuthError(wrong, 401, 'invalid_client');
      assert.equal(wrong.json().error, 'invalid_client');
      assert.match(String(wrong.headers['www-authenticate']), /^Basic/);
      const other = await createKey(t, owner.accessToken, owner.tenantId, ['tenant.read']);
      assertOAuthError(await token(form({ grant_type: 'client_credentials', client_id: other.id, client_secret: key.secret })), 401, 'invalid_client');
      assertOAuthError(await token(form({ grant_type: 'client_credentials' })), 401, 'invalid_client');
      assertOAuthError(await token(form({ grant_type: 'password', username: owner.email, password: owner.password })), 400, 'unsupported_grant_type');
      assertOAuthError(await token(form({ client_id: key.id, client_secret: key.secret })), 400, 'invalid_request');
      assertOAuthError(await token('grant_type=client_credentials&grant_type=client_credentials'), 400, 'invalid_request');
      assertOAuthError(await token(form({ grant_type: 'client_credentials', client_secret: key.secret }), basic(key.id, key.secret)), 400, 'invalid_request');
      assertOAuthError(await token({ grant_type: 7 }, { 'content-type': 'application/json' }), 400, 'invalid_request');
      const media = await token('grant_type=client_credentials', { 'content-type': 'text/plain' });
      assert.deepEqual([media.statusCode, media.json().code], [415, 'unsupported_media_type']);
    });

    it('never replays a token request through Idempotency-Key (HTTP Basic is not in the replay scope)', async () => {
      const headers = { ...basic(key.id, key.secret), 'idempotency-key': `k-${engine}` };
      const first = await token(form({ grant_type: 'client_credentials' }), headers);
      assert.equal(first.statusCode, 200, first.body);
      const anonymous = await token(form({ grant_type: 'client_credentials' }), { ...FORM, 'idempotency-key': `k-${engine}` });
      assertOAuthError(anonymous, 401, 'invalid_client');
      assert.equal(anonymous.headers['idempotent-replayed'], undefined);
    });

    it("introspects: live credentials of the caller's tenant are active, revoked ones and strangers' are not", async () => {
      const resourceServer = await createKey(t, owner.accessToken, owner.tenantId, ['tenant.read'], { name: 'resource server' });
      const client = await createKey(t, owner.accessToken, owner.tenantId, ['members.read']);
      const clientToken = await machineToken(t, client);

      const asServer = (credential: string) => introspect(bearer(resourceServer.secret), { token: credential });
      const active = (await asServer(clientToken)).json();
      assert.deepEqual(
        [active.active, active.token_type, active.client_id, active.sub, active.tid, active.scope, typeof active.exp, active.iss],
        [true, 'Bearer', client.id, client.id, owner.tenantId, 'members.read', 'number', 'http://tenantry.test'],
      );
      const secret = (await asServer(client.secret)).json();
      assert.deepEqual([secret.active, secret.token_type, secret.client_id, secret.scope], [true, 'api_key', client.id, 'members.read']);
      // A person's token for this tenant too (the resource server checking its callers).
      const person = (await asServer(owner.accessToken)).json();
      assert.deepEqual([person.active, person.sub, person.tid, person.sid], [true, owner.userId, owner.tenantId, undefined], "the session id is the person's own");
      assert.equal(typeof (await introspect(bearer(owner.accessToken), { token: owner.accessToken })).json().sid, 'string');
      // Authenticating with client credentials works as well as a bearer.
      const viaForm = await t.app.inject({
        method: 'POST',
        url: '/api/v1/oauth/introspect',
        headers: FORM,
        payload: form({ token: clientToken, client_id: resourceServer.id, client_secret: resourceServer.secret }),
      });
      assert.equal(viaForm.json().active, true, viaForm.body);

      // The owner (api_keys.manage) sees the tenant's keys; another tenant's owner sees nothing.
      assert.equal((await introspect(bearer(owner.accessToken), { token: client.secret })).json().active, true);
      const stranger = await signUp(t);
      assert.deepEqual((await introspect(bearer(stranger.accessToken), { token: client.secret })).json(), { active: false });
      assert.deepEqual((await introspect(bearer(stranger.accessToken), { token: owner.accessToken })).json(), { active: false });
      const strangerKey = await createKey(t, stranger.accessToken, stranger.tenantId, ['tenant.read']);
      assert.deepEqual((await introspect(bearer(strangerKey.secret), { token: clientToken })).json(), { active: false });

      const revoked = await t.app.inject({ method: 'DELETE', url: `/api/v1/tenants/${owner.tenantId}/api-keys/${client.id}`, headers: bearer(owner.accessToken) });
      assert.equal(revoked.statusCode, 204);
      assert.deepEqual((await asServer(clientToken)).json(), { active: false });
      assert.deepEqual((await asServer(client.secret)).json(), { active: false });
      assert.deepEqual((await asServer('not a token')).json(), { active: false });
    });

    it("introspects a person's own token until they sign out, and needs a caller", async () => {
      const person = await signUp(t);
      assert.equal((await introspect(bearer(person.accessToken), { token: person.accessToken })).json().active, true);
      assert.equal((await t.app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: bearer(person.accessToken), payload: {} })).statusCode, 204);
      assert.deepEqual((await introspect(bearer(owner.accessToken), { token: person.accessToken })).json(), { active: false });
      assertOAuthError(await introspect({}, { token: person.accessToken }), 401, 'invalid_client');
      assertOAuthError(await introspect(bearer(owner.accessToken), {}), 400, 'invalid_request');
    });

    it("stops calling a person's token active once they are removed from its tenant", async () => {
      const member = await signUp(t);
      await join(t, owner.tenantId, member.userId, ['member']);
      const switched = await t.app.inject({ method: 'POST', url: '/api/v1/auth/active-tenant', headers: bearer(member.accessToken), payload: { tenantId: owner.tenantId } });
      const memberToken = switched.json().accessToken;
      assert.equal((await introspect(bearer(key.secret), { token: memberToken })).json().active, true);
      const removed = await t.app.inject({ method: 'DELETE', url: `/api/v1/tenants/${owner.tenantId}/members/${member.userId}`, headers: bearer(owner.accessToken) });
      assert.equal(removed.statusCode, 204, removed.body);
      assert.deepEqual((await introspect(bearer(key.secret), { token: memberToken })).json(), { active: false });
    });

    it('advertises the token and introspection endpoints in the discovery document', async () => {
      const doc = (await t.app.inject({ url: '/.well-known/openid-configuration' })).json();
      assert.equal(doc.token_endpoint, 'http://tenantry.test/api/v1/oauth/token');
      assert.equal(doc.introspection_endpoint, 'http://tenantry.test/api/v1/oauth/introspect');
      assert.deepEqual(doc.grant_types_supported, ['client_credentials']);
    });
  });
}
