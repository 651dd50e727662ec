import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { base64url, decodeJwt, generateKeyPair, SignJWT } from 'jose';
import { ManualClock } from '../../src/platform/clock.ts';
import { signAccessToken } from '../../src/tokens/access-tokens.ts';
import { machineToken } from '../helpers/api-keys.ts';
import { testEngines } from '../helpers/database.ts';
import { assertProblem } from '../helpers/users.ts';
import { hostileWorld, type World } from './world.ts';

/**
 * Issue 14, tokens (ASVS 5.0 V9, OWASP API2:2023): an access token is honoured only when the install signed it with a
 * key it publishes, for itself as issuer, now — and even then it carries no authority of its own: what its subject
 * may do is decided at each request. Each forgery below is sent where A's owner would read A's members.
 */
for (const engine of testEngines()) {
  describe(`hostile: forged and misused tokens [${engine}]`, () => {
    let w: World;
    let members: string;
    /** A's owner's real claims, as a forger would copy them. */
    let claims: Record<string, unknown>;
    const encode = (part: object) => base64url.encode(JSON.stringify(part));
    const refused = async (token: string) => {
      const res = await w.call('GET', members, token);
      assert.equal(res.statusCode, 401, `${res.statusCode} ${res.body}`);
      for (const part of token.split('.').filter((p) => p.length > 16)) assert.ok(!res.body.includes(part), 'the problem echoes the token');
    };
    const issuer = () => w.t.config.publicUrl;
    const forgedWith = async (header: Record<string, unknown>, payload: Record<string, unknown>, key: Parameters<SignJWT['sign']>[0]) =>
      new SignJWT(payload).setProtectedHeader(header as { alg: string }).sign(key);

    hostileWorld(engine, async (built) => {
      w = built;
      members = `/api/v1/tenants/${w.a.id}/members`;
      claims = decodeJwt(w.a.owner.accessToken);
      assert.equal((await w.call('GET', members, w.a.owner.accessToken)).statusCode, 200);
    });

    it('refuses alg "none", with and without the install\'s kid', async () => {
      const { kid } = await w.t.app.services.keys.signingKey();
      await refused(`${encode({ alg: 'none', typ: 'at+jwt' })}.${encode(claims)}.`);
      await refused(`${encode({ alg: 'none', kid, typ: 'at+jwt' })}.${encode(claims)}.`);
    });

    it('refuses HS256 keyed with the published public key (algorithm confusion)', async () => {
      const { kid } = await w.t.app.services.keys.signingKey();
      const jwks = (await w.call('GET', '/.well-known/jwks.json')).body;
      const secret = new TextEncoder().encode(jwks);
      const publicJwk = JSON.stringify((JSON.parse(jwks).keys as Array<{ kid: string }>).find((k) => k.kid === kid));
      for (const key of [secret, new TextEncoder().encode(publicJwk)]) await refused(await forgedWith({ alg: 'HS256', kid, typ: 'at+jwt' }, claims, key));
    });

    it("refuses an ES256 token signed by another key, under the install's kid and under an unknown kid", async () => {
      const { kid } = await w.t.app.services.keys.signingKey();
      const { privateKey } = await generateKeyPair('ES256');
      await refused(await forgedWith({ alg: 'ES256', kid, typ: 'at+jwt' }, claims, privateKey));
      await refused(await forgedWith({ alg: 'ES256', kid: 'kid-nobody-published', typ: 'at+jwt' }, claims, privateKey));
    });

    it('refuses a token the install signed for another issuer', async () => {
      const { token } = await signAccessToken(
        w.t.app.services.keys,
        { sub: w.a.owner.userId, tid: w.a.id, sid: claims.sid as string },
        { issuer: 'http://evil.test', clock: w.t.clock },
      );
      await refused(token);
    });

    it('refuses a token past its expiry and one issued in the future', async () => {
      const { token } = await signAccessToken(
        w.t.app.services.keys,
        { sub: w.a.owner.userId, tid: w.a.id, sid: claims.sid as string },
        { issuer: issuer(), clock: w.t.clock, ttlSeconds: 60 },
      );
      assert.equal((await w.call('GET', members, token)).statusCode, 200, 'the same token is good now');
      w.t.clock.advance(70_000); // past the expiry and the 5-second tolerance
      try {
        await refused(token);
      } finally {
        w.t.clock.advance(-70_000);
      }
      const future = new ManualClock(new Date(w.t.clock.now().getTime() + 3_600_000));
      await refused((await signAccessToken(w.t.app.services.keys, { sub: w.a.owner.userId, tid: w.a.id, sid: claims.sid as string }, { issuer: issuer(), clock: future })).token);
    });

    it("refuses a real token whose payload was edited (another subject, B's tenant, more roles), signature kept", async () => {
      const [header, , signature] = w.a.member.accessToken.split('.');
      const original = decodeJwt(w.a.member.accessToken);
      for (const edit of [{ sub: w.a.owner.userId }, { tid: w.b.id }, { roles: ['owner'] }]) await refused(`${header}.${encode({ ...original, ...edit })}.${signature}`);
    });

    it('gives a validly signed token naming B nothing in B: authority comes from memberships at each request, not from claims', async () => {
      const { token } = await signAccessToken(
        w.t.app.services.keys,
        { sub: w.a.owner.userId, sid: claims.sid as string, tid: w.b.id, roles: ['owner'], authorization: { [w.b.id]: { tenantId: w.b.id, name: 'B', roles: ['owner'] } } },
        { issuer: issuer(), clock: w.t.clock },
      );
      assertProblem(await w.call('GET', `/api/v1/tenants/${w.b.id}/members`, token), 404, 'tenant_not_found');
      assertProblem(await w.call('DELETE', `/api/v1/tenants/${w.b.id}/members/${w.b.member.userId}`, token), 404, 'tenant_not_found');
    });

    it("refuses a refresh token, an API key's id and a machine token of A presented where they do not belong", async () => {
      await refused(w.a.owner.refreshToken);
      await refused(w.a.readKey.id);
      const machine = await machineToken(w.t, w.a.readKey);
      assertProblem(await w.call('GET', `/api/v1/tenants/${w.b.id}/members`, machine), 404, 'tenant_not_found');
      assertProblem(await w.call('GET', '/api/v1/auth/me', machine), 403, 'user_required');
    });

    it('issues access tokens that live ten minutes and machine tokens no longer, whatever is asked', async () => {
      const login = await w.call('POST', '/api/v1/auth/login', undefined, { email: w.a.member.email, password: w.a.member.password });
      const person = decodeJwt(login.json().accessToken);
      assert.equal(person.exp! - person.iat!, 600);
      assert.equal(login.json().expiresIn, 600);
      const machine = decodeJwt(await machineToken(w.t, w.a.readKey));
      assert.ok(machine.exp! - machine.iat! <= 600, `machine token lives ${machine.exp! - machine.iat!} s`);
    });
  });
}
