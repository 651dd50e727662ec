import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createLocalJWKSet, createRemoteJWKSet, decodeProtectedHeader, type JSONWebKeySet, jwtVerify } from 'jose';
import { ManualClock } from '../../src/platform/clock.ts';
import { signAccessToken, verifyAccessToken } from '../../src/tokens/access-tokens.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { testEngines } from '../helpers/database.ts';

const ISSUER = 'http://tenantry.test';
const claims = { sub: 'usr_aaaaaaaaaaaaaaaaaaaa', sid: 'ses_bbbbbbbbbbbbbbbbbbbb', tid: null, roles: [] };

for (const engine of testEngines()) {
  describe(`JWKS and discovery [${engine}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await createTestApp(engine);
    });
    after(() => t.close());

    async function jwks(): Promise<JSONWebKeySet & { keys: Array<{ kid: string }> }> {
      const response = await t.app.inject({ method: 'GET', url: '/.well-known/jwks.json' });
      assert.equal(response.statusCode, 200);
      return response.json();
    }

    it('serves the public keys with a five-minute public cache and nothing private', async () => {
      const response = await t.app.inject({ method: 'GET', url: '/.well-known/jwks.json' });
      assert.equal(response.statusCode, 200);
      assert.equal(response.headers['cache-control'], 'public, max-age=300');
      assert.match(String(response.headers['content-type']), /^application\/json/);
      const body = response.json<{ keys: Array<Record<string, unknown>> }>();
      assert.equal(body.keys.length, 1);
      const [key] = body.keys;
      assert.deepEqual(Object.keys(key ?? {}).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
      assert.equal(key?.alg, 'ES256');
      assert.equal(key?.use, 'sig');
      assert.equal(key?.kid, (await t.app.services.keys.signingKey()).kid);
    });

    it('a token it signs verifies with an independent verifier that only knows the JWKS URL', async () => {
      await t.app.listen({ port: 0, host: '127.0.0.1' });
      const base = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
      // The independent verifier checks exp against the real time, so sign near it.
      const { token } = await signAccessToken(t.app.services.keys, { ...claims, roles: ['owner'] }, { issuer: ISSUER, clock: new ManualClock(new Date()) });
      const { payload, protectedHeader } = await jwtVerify(token, createRemoteJWKSet(new URL(`${base}/.well-known/jwks.json`)), {
        issuer: ISSUER,
        algorithms: ['ES256'],
        typ: 'at+jwt',
      });
      assert.equal(payload.sub, claims.sub);
      assert.deepEqual(payload.roles, ['owner']);
      assert.equal(protectedHeader.kid, (await t.app.services.keys.signingKey()).kid);
    });

    it('rotation logs nobody out: old tokens verify, both keys are published, then the old one is withdrawn', async () => {
      const store = t.app.services.keys;
      const before = await signAccessToken(store, claims, { issuer: ISSUER, clock: t.clock });
      const oldKid = decodeProtectedHeader(before.token).kid;
      const newKid = await store.rotate();
      assert.notEqual(newKid, oldKid);

      await verifyAccessToken(store, before.token, { issuer: ISSUER, clock: t.clock });
      const published = await jwks();
      assert.deepEqual(
        published.keys.map((k) => k.kid),
        [newKid, oldKid],
      );
      // An outside verifier holding the published set accepts the old token too.
      await jwtVerify(before.token, createLocalJWKSet(published), { issuer: ISSUER, currentDate: t.clock.now() });

      const after = await signAccessToken(store, claims, { issuer: ISSUER, clock: t.clock });
      assert.equal(decodeProtectedHeader(after.token).kid, newKid);
      await verifyAccessToken(store, after.token, { issuer: ISSUER, clock: t.clock });

      t.clock.advance(9 * 60_000);
      await verifyAccessToken(store, before.token, { issuer: ISSUER, clock: t.clock });
      assert.deepEqual(
        (await jwks()).keys.map((k) => k.kid),
        [newKid, oldKid],
      );
      // Token lifetime (10 min) + 60 s after the rotation, the old key is gone.
      t.clock.advance(2 * 60_000);
      assert.deepEqual(
        (await jwks()).keys.map((k) => k.kid),
        [newKid],
      );
    });

    it('serves the discovery document with the public URL as issuer', async () => {
      const response = await t.app.inject({ method: 'GET', url: '/.well-known/openid-configuration' });
      assert.equal(response.statusCode, 200);
      assert.deepEqual(response.json(), {
        issuer: ISSUER,
        jwks_uri: `${ISSUER}/.well-known/jwks.json`,
        token_endpoint: `${ISSUER}/api/v1/oauth/token`,
        introspection_endpoint: `${ISSUER}/api/v1/oauth/introspect`,
        grant_types_supported: ['client_credentials'],
        token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
        id_token_signing_alg_values_supported: ['ES256'],
      });
    });
  });
}
