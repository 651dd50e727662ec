import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { testEngines } from '../helpers/database.ts';
import { assertProblem, signUp } from '../helpers/users.ts';

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
      const patch = (headers: Record<string, string>) =>
        t.app.inject({ method: 'PATCH', url: '/api/v1/auth/me', cookies: jar, headers, payload: { name: 'Cookie Monster' } });
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

describe('rate limits shared through Redis', () => {
  it('counts requests to two app instances against one budget when REDIS_URL is set', async () => {
    const env = { REDIS_URL: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379', TENANTRY_AUTH_RATE_LIMIT: '4' };
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
