import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { testEngines } from '../helpers/database.ts';
import { seedTenant } from '../helpers/tenants.ts';
import { assertProblem, GOOD_PASSWORD, signUp, uniqueEmail } from '../helpers/users.ts';

type Cookie = { name: string; value: string; httpOnly?: boolean; secure?: boolean; sameSite?: string; path?: string };

for (const engine of testEngines()) {
  describe(`cookie mode with CSRF protection [${engine}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await createTestApp(engine, { env: { TENANTRY_PUBLIC_URL: 'https://id.example.com', TENANTRY_AUTH_RATE_LIMIT: '1000' } });
    });
    after(() => t.close());

    async function cookieLogin() {
      const user = await signUp(t);
      const res = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: user.email, password: user.password, useCookies: true } });
      assert.equal(res.statusCode, 200, res.body);
      const cookies = Object.fromEntries((res.cookies as Cookie[]).map((c) => [c.name, c]));
      return { user, res, cookies };
    }

    it('sets HttpOnly, Secure, SameSite=Lax cookies and keeps tokens out of the body', async () => {
      const { res, cookies } = await cookieLogin();
      assert.equal(res.json().accessToken, undefined);
      assert.equal(res.json().refreshToken, undefined);
      for (const name of ['tenantry_access', 'tenantry_refresh']) {
        assert.equal(cookies[name]?.httpOnly, true, name);
        assert.equal(cookies[name]?.secure, true, name);
        assert.equal(cookies[name]?.sameSite, 'Lax', name);
      }
      assert.equal(cookies.tenantry_refresh?.path, '/api/v1/auth');
      assert.equal(cookies.tenantry_csrf?.httpOnly, undefined, 'the CSRF cookie is readable by the page');
    });

    it('authenticates reads by cookie and needs the CSRF header for writes', async () => {
      const { cookies } = await cookieLogin();
      const jar = { tenantry_access: cookies.tenantry_access!.value, tenantry_csrf: cookies.tenantry_csrf!.value };
      assert.equal((await t.app.inject({ url: '/api/v1/auth/me', cookies: jar })).statusCode, 200);
      const patch = (headers: Record<string, string>) => t.app.inject({ method: 'PATCH', url: '/api/v1/auth/me', cookies: jar, headers, payload: { name: 'Cookie Monster' } });
      assertProblem(await patch({}), 403, 'csrf_token_invalid');
      assertProblem(await patch({ 'x-csrf-token': 'guessed' }), 403, 'csrf_token_invalid');
      const ok = await patch({ 'x-csrf-token': jar.tenantry_csrf });
      assert.equal(ok.statusCode, 200, ok.body);
      assert.equal(ok.json().user.name, 'Cookie Monster');
    });

    it('refreshes from the cookie and rotates the cookies', async () => {
      const { cookies } = await cookieLogin();
      const res = await t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', cookies: { tenantry_refresh: cookies.tenantry_refresh!.value } });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.json().accessToken, undefined);
      const next = Object.fromEntries((res.cookies as Cookie[]).map((c) => [c.name, c.value]));
      assert.ok(next.tenantry_refresh && next.tenantry_refresh !== cookies.tenantry_refresh!.value);
      assert.equal((await t.app.inject({ url: '/api/v1/auth/me', cookies: { tenantry_access: next.tenantry_access! } })).statusCode, 200);
    });

    it('refreshes, and signs in, though the browser still sends the expired access cookie with them', async () => {
      const { user, cookies } = await cookieLogin();
      const jar = { tenantry_access: cookies.tenantry_access!.value, tenantry_refresh: cookies.tenantry_refresh!.value, tenantry_csrf: cookies.tenantry_csrf!.value };
      t.clock.advance(60 * 60_000); // the access token has expired, the session has not
      assertProblem(await t.app.inject({ url: '/api/v1/auth/me', cookies: jar }), 401, 'invalid_token');
      const refreshed = await t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', cookies: jar, headers: { 'x-csrf-token': jar.tenantry_csrf } });
      assert.equal(refreshed.statusCode, 200, refreshed.body);
      const fresh = (refreshed.cookies as Cookie[]).find((c) => c.name === 'tenantry_access')!.value;
      assert.equal((await t.app.inject({ url: '/api/v1/auth/me', cookies: { tenantry_access: fresh } })).statusCode, 200);
      const login = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', cookies: jar, payload: { email: user.email, password: user.password, useCookies: true } });
      assert.equal(login.statusCode, 200, login.body);
      // Everywhere else an expired cookie is still a 401, so a page learns it must refresh.
      assertProblem(await t.app.inject({ method: 'POST', url: '/api/v1/auth/logout', cookies: jar, headers: { 'x-csrf-token': jar.tenantry_csrf } }), 401, 'invalid_token');
    });

    it('marks the cookies Secure for an https public URL but not for plain-HTTP localhost', async () => {
      const secureFlags = (res: { cookies: unknown }) => Object.fromEntries((res.cookies as Cookie[]).map((c) => [c.name, c.secure === true]));
      const everyCookie = (secure: boolean) => ({ tenantry_access: secure, tenantry_refresh: secure, tenantry_csrf: secure });
      assert.deepEqual(secureFlags((await cookieLogin()).res), everyCookie(true), `at ${t.config.publicUrl}`);

      // Development on http://localhost: a browser would drop a Secure cookie there, so it is not set.
      const local = await createTestApp(engine, { database: t.database, env: { TENANTRY_PUBLIC_URL: 'http://localhost:3000', TENANTRY_AUTH_RATE_LIMIT: '1000' } });
      try {
        const user = await signUp(local);
        const res = await local.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: user.email, password: user.password, useCookies: true } });
        assert.equal(res.statusCode, 200, res.body);
        assert.deepEqual(secureFlags(res), everyCookie(false), 'at http://localhost:3000');
        const loggedOut = await local.app.inject({
          method: 'POST',
          url: '/api/v1/auth/logout',
          cookies: { tenantry_access: (res.cookies as Cookie[]).find((c) => c.name === 'tenantry_access')!.value },
          headers: { 'x-csrf-token': (res.cookies as Cookie[]).find((c) => c.name === 'tenantry_csrf')!.value },
        });
        assert.equal(loggedOut.statusCode, 204, loggedOut.body);
        assert.deepEqual(secureFlags(loggedOut), everyCookie(false), 'the cookies are cleared with the same attributes');
      } finally {
        // The database is this describe's: close only the second app.
        await local.app.close();
      }
    });

    it('signs up in cookie mode, then switches the active tenant by cookie and re-sets the access cookie', async () => {
      const email = uniqueEmail('cookie');
      const signedUp = await t.app.inject({ method: 'POST', url: '/api/v1/auth/signup', payload: { email, password: GOOD_PASSWORD, useCookies: true } });
      assert.equal(signedUp.statusCode, 201, signedUp.body);
      assert.equal(signedUp.json().accessToken, undefined);
      assert.equal(signedUp.json().refreshToken, undefined);
      const cookies = Object.fromEntries((signedUp.cookies as Cookie[]).map((c) => [c.name, c]));
      assert.deepEqual(Object.keys(cookies).sort(), ['tenantry_access', 'tenantry_csrf', 'tenantry_refresh']);
      for (const name of ['tenantry_access', 'tenantry_refresh']) assert.equal(cookies[name]?.httpOnly, true, name);
      const userId: string = signedUp.json().user.id;
      const firstTenant: string = signedUp.json().tenant.id;
      const me = (access: string) => t.app.inject({ url: '/api/v1/auth/me', cookies: { tenantry_access: access } });
      assert.equal((await me(cookies.tenantry_access!.value)).json().activeTenantId, firstTenant);

      const { tenantId: second } = await seedTenant(t.database, { name: 'Second', ownerId: userId });
      const jar = { tenantry_access: cookies.tenantry_access!.value, tenantry_csrf: cookies.tenantry_csrf!.value };
      const switchTo = (headers: Record<string, string>) =>
        t.app.inject({ method: 'POST', url: '/api/v1/auth/active-tenant', cookies: jar, headers, payload: { tenantId: second } });
      assertProblem(await switchTo({}), 403, 'csrf_token_invalid');
      const switched = await switchTo({ 'x-csrf-token': jar.tenantry_csrf });
      assert.equal(switched.statusCode, 200, switched.body);
      assert.equal(switched.json().activeTenantId, second);
      assert.equal(switched.json().accessToken, undefined, 'cookie mode keeps the tokens out of the body');
      const access = (switched.cookies as Cookie[]).find((c) => c.name === 'tenantry_access');
      assert.ok(access !== undefined, 'the access cookie is set again');
      assert.equal(access.httpOnly, true);
      assert.notEqual(access.value, jar.tenantry_access);
      assert.equal((await me(access.value)).json().activeTenantId, second);
    });

    it('clears the cookies at logout', async () => {
      const { cookies } = await cookieLogin();
      const res = await t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/logout',
        cookies: { tenantry_access: cookies.tenantry_access!.value },
        headers: { 'x-csrf-token': cookies.tenantry_csrf!.value },
      });
      assert.equal(res.statusCode, 204);
      const cleared = (res.cookies as Cookie[]).map((c) => [c.name, c.value]);
      assert.deepEqual(cleared.map(([n]) => n).sort(), ['tenantry_access', 'tenantry_csrf', 'tenantry_refresh']);
      assert.ok(cleared.every(([, v]) => v === ''));
    });
  });
}

describe('per-IP rate limiting of credential endpoints', () => {
  it('answers 429 with Retry-After past the limit, per client address', async () => {
    const t = await createTestApp('pglite', { env: { TENANTRY_AUTH_RATE_LIMIT: '3' } });
    try {
      const attempt = (remoteAddress: string) =>
        t.app.inject({ method: 'POST', url: '/api/v1/auth/login', remoteAddress, payload: { email: 'x@example.test', password: 'whatever-it-is' } });
      for (let i = 0; i < 3; i++) assert.equal((await attempt('10.9.9.9')).statusCode, 401);
      const limited = await attempt('10.9.9.9');
      assertProblem(limited, 429, 'rate_limited');
      assert.ok(Number(limited.headers['retry-after']) > 0);
      assert.equal((await attempt('10.9.9.10')).statusCode, 401, 'another address has its own budget');
    } finally {
      await t.close();
    }
  });
});

// Needs a Redis server: CI (.ci/run) starts one and sets TEST_REDIS_URL; elsewhere this is skipped, never failed.
const redisUrl = process.env.TEST_REDIS_URL;

describe('rate limits shared through Redis', { skip: redisUrl ? false : 'TEST_REDIS_URL is not set (CI sets it and starts Redis)' }, () => {
  it('counts requests to two app instances against one budget when REDIS_URL is set', async () => {
    const env = { REDIS_URL: redisUrl!, TENANTRY_AUTH_RATE_LIMIT: '4' };
    const [a, b] = await Promise.all([createTestApp('pglite', { env }), createTestApp('pglite', { env })]);
    try {
      const remoteAddress = `10.77.${process.pid % 250}.${Math.floor(Math.random() * 250)}`;
      const attempt = (t: TestApp) =>
        t.app.inject({ method: 'POST', url: '/api/v1/auth/login', remoteAddress, payload: { email: 'shared@example.test', password: 'whatever-it-is' } });
      const statuses = [];
      for (const t of [a, b, a, b]) statuses.push((await attempt(t)).statusCode);
      assert.deepEqual(statuses, [401, 401, 401, 401]);
      assertProblem(await attempt(a), 429, 'rate_limited');
      assertProblem(await attempt(b), 429, 'rate_limited');
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});

describe('an app whose Redis is down', () => {
  it('still closes cleanly', async () => {
    // A port that was just free: nothing answers there, so the rate limiter's Redis client never connects.
    const port = await new Promise<number>((resolve, reject) => {
      const server = createServer().listen(0, '127.0.0.1', () => {
        const address = server.address();
        server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
      });
    });
    const t = await createTestApp('pglite', { env: { REDIS_URL: `redis://127.0.0.1:${port}` } });
    await assert.doesNotReject(t.app.close());
    await t.database.close();
  });
});
