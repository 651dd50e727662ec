import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createRemoteJWKSet, generateKeyPair, jwtVerify, SignJWT } from 'jose';
import { withTenant } from '../../src/platform/db/context.ts';
import { newTenantId } from '../../src/platform/ids.ts';
import { insertMembership } from '../../src/members/memberships.repository.ts';
import { signAccessToken } from '../../src/tokens/access-tokens.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { testEngines } from '../helpers/database.ts';
import { seedTenant } from '../helpers/tenants.ts';
import { assertProblem, bearer, signUp, type SignedUp } from '../helpers/users.ts';

for (const engine of testEngines()) {
  describe(`sign-in, tenant choice, switching, refresh and logout [${engine}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await createTestApp(engine, { env: { TENANTRY_AUTH_RATE_LIMIT: '1000' } });
    });
    after(() => t.close());

    const login = (payload: object, remoteAddress = '10.0.0.1') => t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload, remoteAddress });
    const me = (token: string) => t.app.inject({ url: '/api/v1/auth/me', headers: bearer(token) });

    /** Gives `user` a membership with `roles` in another person's new tenant. */
    async function addTenant(user: SignedUp, name: string, roles = ['member']): Promise<string> {
      const { tenantId } = await seedTenant(t.database, { name });
      await withTenant(t.database.db, tenantId, (trx) => insertMembership(trx, { tenantId, userId: user.userId, kind: 'direct', roles, now: t.clock.now() }));
      return tenantId;
    }

    it('lands a one-tenant user on that tenant', async () => {
      const user = await signUp(t);
      const res = await login({ email: user.email.toUpperCase(), password: user.password });
      assert.equal(res.statusCode, 200, res.body);
      const body = res.json();
      assert.equal(body.activeTenantId, user.tenantId);
      assert.equal(body.needsTenantChoice, false);
      assert.deepEqual(
        body.tenants.map((x: { tenantId: string }) => x.tenantId),
        [user.tenantId],
      );
      assert.equal(body.tenants[0].shadow, false);
    });

    it('asks a several-tenant user to choose, unless a tenant is requested or a default is set', async () => {
      const user = await signUp(t);
      const second = await addTenant(user, 'Acme', ['member', 'viewer']);
      const choose = (await login({ email: user.email, password: user.password })).json();
      assert.equal(choose.needsTenantChoice, true);
      assert.equal(choose.activeTenantId, null);
      assert.deepEqual(
        choose.tenants.map((x: { tenantId: string; roles: string[] }) => [x.tenantId, x.roles]).sort(),
        [
          [user.tenantId, ['owner']],
          [second, ['member', 'viewer']],
        ].sort(),
      );
      const meWithout = (await me(choose.accessToken)).json();
      assert.equal(meWithout.activeTenantId, null);

      const picked = (await login({ email: user.email, password: user.password, tenantId: second })).json();
      assert.equal(picked.activeTenantId, second);
      assert.equal(picked.needsTenantChoice, false);
      assertProblem(await login({ email: user.email, password: user.password, tenantId: newTenantId() }), 404, 'tenant_not_found');

      await t.database.db.updateTable('users').set({ default_tenant_id: second }).where('id', '=', user.userId).execute();
      assert.equal((await login({ email: user.email, password: user.password })).json().activeTenantId, second);
    });

    it('asks a several-tenant user to choose when their default tenant is one they no longer belong to', async () => {
      const user = await signUp(t);
      const kept = await addTenant(user, 'Kept');
      const left = await addTenant(user, 'Left');
      await t.database.db.updateTable('users').set({ default_tenant_id: left }).where('id', '=', user.userId).execute();
      assert.equal((await login({ email: user.email, password: user.password })).json().activeTenantId, left, 'the default is honoured while it is valid');

      // Gone from the tenant behind the default's back (the membership row only; the default stays stale).
      await withTenant(t.database.db, left, (trx) => trx.deleteFrom('memberships').where('tenant_id', '=', left).where('user_id', '=', user.userId).execute());
      const stale = await t.database.db.selectFrom('users').select('default_tenant_id').where('id', '=', user.userId).executeTakeFirstOrThrow();
      assert.equal(stale.default_tenant_id, left, 'precondition: the default still names the tenant left');

      const res = await login({ email: user.email, password: user.password });
      assert.equal(res.statusCode, 200, res.body);
      const body = res.json();
      assert.equal(body.needsTenantChoice, true);
      assert.equal(body.activeTenantId, null);
      assert.deepEqual(body.tenants.map((x: { tenantId: string }) => x.tenantId).sort(), [user.tenantId, kept].sort());
      assert.equal((await me(body.accessToken)).json().activeTenantId, null);
    });

    it('switches the active tenant only to tenants the user belongs to', async () => {
      const user = await signUp(t);
      const stranger = await signUp(t);
      const second = await addTenant(user, 'Beta');
      const switched = await t.app.inject({ method: 'POST', url: '/api/v1/auth/active-tenant', headers: bearer(user.accessToken), payload: { tenantId: second } });
      assert.equal(switched.statusCode, 200, switched.body);
      assert.equal(switched.json().activeTenantId, second);
      const after = (await me(switched.json().accessToken)).json();
      assert.equal(after.activeTenantId, second);
      const lastActive = await withTenant(t.database.db, second, (trx) => trx.selectFrom('tenants').select('last_active_at').executeTakeFirst());
      assert.deepEqual(lastActive?.last_active_at, t.clock.now());
      assertProblem(
        await t.app.inject({ method: 'POST', url: '/api/v1/auth/active-tenant', headers: bearer(user.accessToken), payload: { tenantId: stranger.tenantId } }),
        404,
        'tenant_not_found',
      );
      // The refresh token from before the switch is expired (invalid, not reuse: the session lives on)…
      assertProblem(await t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refreshToken: user.refreshToken } }), 401, 'invalid_refresh_token');
      // …and the one from the switch, stored by the same statement, works and carries the new tenant.
      const refreshed = await t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refreshToken: switched.json().refreshToken } });
      assert.equal(refreshed.json().activeTenantId, second);
    });

    it('answers an unknown email and a wrong password alike', async () => {
      const user = await signUp(t);
      const wrong = await login({ email: user.email, password: 'not the password at all' }, '10.0.1.1');
      const unknown = await login({ email: `nobody.${user.email}`, password: 'not the password at all' }, '10.0.1.2');
      assertProblem(wrong, 401, 'invalid_credentials');
      assertProblem(unknown, 401, 'invalid_credentials');
      const strip = (b: Record<string, unknown>) => ({ ...b, requestId: undefined });
      assert.deepEqual(strip(wrong.json()), strip(unknown.json()));
    });

    it('locks an address after five failures, with Retry-After, and unlocks it after the lock period', async () => {
      const user = await signUp(t);
      for (let i = 0; i < 5; i++) assertProblem(await login({ email: user.email, password: `wrong-${i}-password` }, `10.0.2.${i}`), 401, 'invalid_credentials');
      const locked = await login({ email: user.email, password: user.password }, '10.0.2.9');
      assertProblem(locked, 429, 'account_locked');
      assert.equal(locked.headers['retry-after'], String(15 * 60));
      t.clock.advance(15 * 60_000 + 1);
      assert.equal((await login({ email: user.email, password: user.password }, '10.0.2.10')).statusCode, 200);
    });

    it('rotates refresh tokens and revokes the whole session when a used one comes back', async () => {
      const user = await signUp(t);
      const refresh = (refreshToken: string) => t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refreshToken } });
      const first = await refresh(user.refreshToken);
      assert.equal(first.statusCode, 200, first.body);
      const rotated = first.json();
      assert.notEqual(rotated.refreshToken, user.refreshToken);
      assert.equal((await me(rotated.accessToken)).statusCode, 200);

      assertProblem(await refresh(user.refreshToken), 401, 'refresh_token_reused');
      assertProblem(await me(rotated.accessToken), 401, 'session_ended');
      assertProblem(await refresh(rotated.refreshToken), 401, 'invalid_refresh_token');
      assertProblem(await refresh('tnr_rt_made-up-token-value'), 401, 'invalid_refresh_token');
    });

    it('switching replaces the refresh token: the old one is merely invalid, the new one refreshes into the chosen tenant', async () => {
      const user = await signUp(t);
      const other = await addTenant(user, 'Switched To');
      const refresh = (refreshToken: string) => t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refreshToken } });
      let latest = user.refreshToken;
      for (const tenantId of [other, user.tenantId, other]) {
        const switched = await t.app.inject({ method: 'POST', url: '/api/v1/auth/active-tenant', headers: bearer(user.accessToken), payload: { tenantId } });
        assert.equal(switched.statusCode, 200, switched.body);
        // A client that lost this answer still holds the previous token: "invalid", not reuse (the session lives on).
        assertProblem(await refresh(latest), 401, 'invalid_refresh_token');
        latest = switched.json().refreshToken;
      }
      const refreshed = await refresh(latest);
      assert.equal(refreshed.statusCode, 200, refreshed.body);
      assert.equal(refreshed.json().activeTenantId, other);
      assert.equal((await me(refreshed.json().accessToken)).json().activeTenantId, other);
      const unused = await t.database.db
        .selectFrom('refresh_tokens')
        .innerJoin('sessions', 'sessions.id', 'refresh_tokens.session_id')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('sessions.user_id', '=', user.userId)
        .where('refresh_tokens.used_at', 'is', null)
        .executeTakeFirstOrThrow();
      assert.equal(Number(unused.n), 1, 'switching piles up no refresh tokens: the session holds one live token');
    });

    it('ends the session at logout: its access and refresh tokens stop working at once', async () => {
      const user = await signUp(t);
      const out = await t.app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: bearer(user.accessToken) });
      assert.equal(out.statusCode, 204);
      assertProblem(await me(user.accessToken), 401, 'session_ended');
      assertProblem(await t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refreshToken: user.refreshToken } }), 401, 'invalid_refresh_token');
      assertProblem(await t.app.inject({ method: 'POST', url: '/api/v1/auth/logout' }), 401, 'unauthenticated');
    });

    it('refuses tampered, expired, wrong-issuer, alg:none and wrong-key tokens with 401', async () => {
      const user = await signUp(t);
      const [header, payload, signature] = user.accessToken.split('.') as [string, string, string];
      const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
      const forged = Buffer.from(JSON.stringify({ ...claims, sub: 'usr_someoneelse' })).toString('base64url');
      assertProblem(await me(`${header}.${forged}.${signature}`), 401, 'invalid_token');

      const none = Buffer.from(JSON.stringify({ alg: 'none', typ: 'at+jwt' })).toString('base64url');
      assertProblem(await me(`${none}.${payload}.`), 401, 'invalid_token');

      const wrongIssuer = await signAccessToken(t.app.services.keys, { sub: user.userId, sid: claims.sid, tid: user.tenantId }, { issuer: 'https://evil.example', clock: t.clock });
      assertProblem(await me(wrongIssuer.token), 401, 'invalid_token');

      const { privateKey } = await generateKeyPair('ES256');
      const otherKey = await new SignJWT(claims)
        .setProtectedHeader({ alg: 'ES256', kid: JSON.parse(Buffer.from(header, 'base64url').toString()).kid, typ: 'at+jwt' })
        .sign(privateKey);
      assertProblem(await me(otherKey), 401, 'invalid_token');

      assertProblem(await me('not-a-jwt'), 401, 'invalid_token');
      assert.equal((await me(user.accessToken)).statusCode, 200);
      t.clock.advance(11 * 60_000);
      assertProblem(await me(user.accessToken), 401, 'invalid_token');
    });
  });

  describe(`tokens verify with an independent JWKS client [${engine}]`, () => {
    it('accepts a sign-in token via createRemoteJWKSet against the running server', async () => {
      // Its own app: a verifier outside the process checks expiry against the real clock.
      const t = await createTestApp(engine, { clockStart: new Date() });
      try {
        const base = await t.app.listen({ port: 0, host: '127.0.0.1' });
        const user = await signUp(t);
        const jwks = createRemoteJWKSet(new URL(`${base}/.well-known/jwks.json`));
        const { payload, protectedHeader } = await jwtVerify(user.accessToken, jwks, { issuer: 'http://tenantry.test', typ: 'at+jwt' });
        assert.equal(protectedHeader.alg, 'ES256');
        assert.equal(payload.sub, user.userId);
        assert.equal(payload.tid, user.tenantId);
        assert.deepEqual(payload.roles, ['owner']);
        assert.match(String(payload.sid), /^ses_/);
        assert.deepEqual((payload.authorization as Record<string, { roles: string[] }>)[user.tenantId]?.roles, ['owner']);
      } finally {
        await t.close();
      }
    });
  });
}
