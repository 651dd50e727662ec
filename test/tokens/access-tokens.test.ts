import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { base64url, decodeJwt, decodeProtectedHeader, generateKeyPair, SignJWT } from 'jose';
import { ManualClock } from '../../src/platform/clock.ts';
import type { Database } from '../../src/platform/db/database.ts';
import { AppError } from '../../src/platform/http/errors.ts';
import { type AccessClaims, signAccessToken, verifyAccessToken } from '../../src/tokens/access-tokens.ts';
import { KeyStore } from '../../src/tokens/key-store.ts';
import { createTestDatabase, testEngines } from '../helpers/database.ts';

const ISSUER = 'http://tenantry.test';

const claims: AccessClaims = {
  sub: 'usr_aaaaaaaaaaaaaaaaaaaa',
  sid: 'ses_bbbbbbbbbbbbbbbbbbbb',
  tid: 'tcccccccccccccccc',
  roles: ['owner'],
  authorization: { tcccccccccccccccc: { tenantId: 'tcccccccccccccccc', name: 'Acme', roles: ['owner'] } },
};

/** Asserts a 401 invalid_token whose detail matches `detail` and does not contain the token. */
async function refused(promise: Promise<unknown>, token: string, detail: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof AppError, `expected an AppError, got ${String(error)}`);
    assert.equal(error.spec.status, 401);
    assert.equal(error.spec.code, 'invalid_token');
    assert.equal(error.headers['www-authenticate'], 'Bearer error="invalid_token"');
    assert.match(error.extras.detail ?? '', detail);
    for (const part of token.split('.').filter((p) => p.length > 8)) assert.ok(!error.message.includes(part), 'the detail must not echo the token');
    return true;
  });
}

function segments(token: string): [string, string, string] {
  const parts = token.split('.');
  assert.equal(parts.length, 3);
  return parts as [string, string, string];
}

function encode(value: unknown): string {
  return base64url.encode(JSON.stringify(value));
}

for (const engine of testEngines()) {
  describe(`access tokens [${engine}]`, () => {
    let database: Database;
    let clock: ManualClock;
    let store: KeyStore;
    before(async () => {
      database = await createTestDatabase(engine);
      clock = new ManualClock();
      store = new KeyStore({ db: database.db, secretKey: randomBytes(32), clock });
    });
    after(() => database.close());

    const verify = (token: string, typ?: string) => verifyAccessToken(store, token, { issuer: ISSUER, clock, ...(typ ? { typ } : {}) });

    it('signs an ES256 at+jwt with iss, iat, exp (10 minutes), jti and the claims, and verifies it', async () => {
      const { token, expiresAt, jti } = await signAccessToken(store, claims, { issuer: ISSUER, clock });
      const header = decodeProtectedHeader(token);
      assert.deepEqual(header, { alg: 'ES256', kid: (await store.signingKey()).kid, typ: 'at+jwt' });
      const now = Math.floor(clock.now().getTime() / 1000);
      assert.equal(expiresAt.getTime(), (now + 600) * 1000);
      const verified = await verify(token);
      assert.deepEqual(verified, { ...claims, iss: ISSUER, iat: now, exp: now + 600, jti });
      assert.match(jti, /^[A-Za-z0-9_-]{22}$/);
      const second = await signAccessToken(store, claims, { issuer: ISSUER, clock });
      assert.notEqual(second.jti, jti);
    });

    it('sets the registered claims itself, whatever the caller passes', async () => {
      const { token, jti } = await signAccessToken(store, { ...claims, exp: 9_999_999_999, iss: 'http://evil.test', jti: 'mine' }, { issuer: ISSUER, clock });
      const verified = await verify(token);
      assert.equal(verified.iss, ISSUER);
      assert.equal(verified.jti, jti);
      assert.equal(verified.exp, verified.iat + 600);
    });

    it('omits the authorization claim when it is too large, and says so', async () => {
      const big: AccessClaims['authorization'] = {};
      for (let i = 0; i < 100; i++) big[`t${String(i).padStart(15, 'a')}`] = { tenantId: `t${String(i).padStart(15, 'a')}`, name: `Tenant number ${i}`, roles: ['member'] };
      const { token } = await signAccessToken(store, { ...claims, authorization: big }, { issuer: ISSUER, clock });
      const payload = decodeJwt(token);
      assert.equal(payload.authorization, undefined);
      assert.equal(payload.authorization_omitted, true);
      assert.deepEqual(payload.roles, ['owner'], 'the other claims stay');

      const small = decodeJwt((await signAccessToken(store, claims, { issuer: ISSUER, clock })).token);
      assert.deepEqual(small.authorization, claims.authorization);
      assert.equal(small.authorization_omitted, undefined);

      const limited = decodeJwt((await signAccessToken(store, claims, { issuer: ISSUER, clock, maxAuthorizationBytes: 10 })).token);
      assert.equal(limited.authorization, undefined);
      assert.equal(limited.authorization_omitted, true);
    });

    it('honours a shorter lifetime and refuses one longer than the key publication window allows', async () => {
      const { token, expiresAt } = await signAccessToken(store, claims, { issuer: ISSUER, clock, ttlSeconds: 60 });
      assert.equal(expiresAt.getTime(), Math.floor(clock.now().getTime() / 1000) * 1000 + 60_000);
      assert.equal((await verify(token)).exp - (await verify(token)).iat, 60);
      await assert.rejects(signAccessToken(store, claims, { issuer: ISSUER, clock, ttlSeconds: 601 }), RangeError);
      await assert.rejects(signAccessToken(store, { ...claims, sub: '' }, { issuer: ISSUER, clock }), TypeError);
    });

    it('refuses a tampered payload', async () => {
      const { token } = await signAccessToken(store, claims, { issuer: ISSUER, clock });
      const [header, payload, signature] = segments(token);
      const forged = { ...(JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as object), roles: ['owner', 'platform_admin'] };
      const tampered = `${header}.${encode(forged)}.${signature}`;
      await refused(verify(tampered), tampered, /signature is invalid/);
    });

    it('refuses an expired token (11 minutes later) and one issued in the future', async () => {
      const { token } = await signAccessToken(store, claims, { issuer: ISSUER, clock });
      clock.advance(9 * 60_000);
      await verify(token);
      clock.advance(2 * 60_000);
      await refused(verify(token), token, /expired/);

      const future = new ManualClock(new Date(clock.now().getTime() + 5 * 60_000));
      const early = (await signAccessToken(store, claims, { issuer: ISSUER, clock: future })).token;
      await refused(verify(early), early, /not yet valid/);
    });

    it('remembers a verified token only for the typ and issuer it was verified against, and only while it is fresh', async () => {
      const { token } = await signAccessToken(store, claims, { issuer: ISSUER, clock });
      await verify(token); // now remembered
      await refused(verify(token, 'refresh+jwt'), token, /not an access token/);
      await refused(verifyAccessToken(store, token, { issuer: 'http://other.test', clock }), token, /"iss"/);
      clock.advance(10 * 60_000 + 6_000); // past exp and the 5 s tolerance
      await refused(verify(token), token, /expired/);
    });

    it('refuses the wrong issuer', async () => {
      const { token } = await signAccessToken(store, claims, { issuer: 'http://other.test', clock });
      await refused(verify(token), token, /"iss"/);
    });

    it('refuses alg "none"', async () => {
      const { kid } = await store.signingKey();
      const now = Math.floor(clock.now().getTime() / 1000);
      const payload = { ...claims, iss: ISSUER, iat: now, exp: now + 600, jti: 'x' };
      for (const token of [`${encode({ alg: 'none', typ: 'at+jwt' })}.${encode(payload)}.`, `${encode({ alg: 'none', kid, typ: 'at+jwt' })}.${encode(payload)}.`]) {
        await refused(verify(token), token, /algorithm is not accepted|malformed/);
      }
    });

    it('refuses a token signed by another ES256 key under a known kid', async () => {
      const { kid } = await store.signingKey();
      const { privateKey } = await generateKeyPair('ES256');
      const token = await new SignJWT({ ...claims })
        .setProtectedHeader({ alg: 'ES256', kid, typ: 'at+jwt' })
        .setIssuer(ISSUER)
        .setIssuedAt(Math.floor(clock.now().getTime() / 1000))
        .setExpirationTime(Math.floor(clock.now().getTime() / 1000) + 600)
        .setJti('x')
        .sign(privateKey);
      await refused(verify(token), token, /signature is invalid/);
    });

    it('refuses an HS256 token, even one keyed with the public key', async () => {
      const { kid } = await store.signingKey();
      const [jwk] = (await store.publicKeys()).filter((k) => k.kid === kid);
      const now = Math.floor(clock.now().getTime() / 1000);
      for (const secret of [randomBytes(32), Buffer.from(JSON.stringify(jwk))]) {
        const token = await new SignJWT({ ...claims })
          .setProtectedHeader({ alg: 'HS256', kid, typ: 'at+jwt' })
          .setIssuer(ISSUER)
          .setIssuedAt(now)
          .setExpirationTime(now + 600)
          .setJti('x')
          .sign(secret);
        await refused(verify(token), token, /algorithm is not accepted/);
      }
    });

    it('refuses an unknown kid, a missing kid, the wrong typ and garbage', async () => {
      const { key } = await store.signingKey();
      const now = Math.floor(clock.now().getTime() / 1000);
      const build = (header: Record<string, string>) =>
        new SignJWT({ ...claims })
          .setProtectedHeader({ alg: 'ES256', ...header })
          .setIssuer(ISSUER)
          .setIssuedAt(now)
          .setExpirationTime(now + 600)
          .setJti('x')
          .sign(key);
      const unknown = await build({ kid: 'no-such-key', typ: 'at+jwt' });
      await refused(verify(unknown), unknown, /unknown key/);
      const noKid = await build({ typ: 'at+jwt' });
      await refused(verify(noKid), noKid, /no signing key/);
      const plainJwt = await build({ kid: (await store.signingKey()).kid, typ: 'JWT' });
      await refused(verify(plainJwt), plainJwt, /not an access token/);

      const { token } = await signAccessToken(store, claims, { issuer: ISSUER, clock });
      await refused(verify(token, 'logout+jwt'), token, /not an access token/);
      for (const garbage of ['', 'abc', 'a.b.c', `${token}.extra`, 'x'.repeat(20_000)]) await refused(verify(garbage), garbage, /malformed|invalid/);
    });

    it('lets a failure of the key store itself through instead of calling it an invalid token', async () => {
      const other = await createTestDatabase(engine);
      const otherStore = new KeyStore({ db: other.db, secretKey: randomBytes(32), clock });
      const { token } = await signAccessToken(otherStore, claims, { issuer: ISSUER, clock });
      await other.close();
      const broken = new KeyStore({ db: other.db, secretKey: randomBytes(32), clock });
      await assert.rejects(verifyAccessToken(broken, token, { issuer: ISSUER, clock }), (error: unknown) => !(error instanceof AppError));
    });
  });
}
