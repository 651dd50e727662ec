import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import express from 'express';
import { Hono } from 'hono';
import { type Caller, expressTenantry, honoTenantry, TenantryClient, TenantryGuard } from '../../sdk/src/index.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { freePort } from '../helpers/net.ts';
import { join, type SignedUp, signIn, signUp } from '../helpers/users.ts';

/**
 * `requirePermission` in Express and Hono, against a real Tenantry (the Fastify adapter is the example service's,
 * test/sdk/devices-api.test.ts): the caller reaches the handler with a permission, is refused 403 without it and 401
 * without a token, and a person's questions in one request go to /check once.
 */
describe('@tenantry/sdk requirePermission in Express and Hono', () => {
  let t: TestApp;
  let owner: SignedUp;
  let stranger: SignedUp;
  let viewer: SignedUp; // a member: reads, does not manage
  let guard: TenantryGuard;
  let checks: number;

  before(async () => {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    t = await createTestApp('pglite', { clockStart: new Date(), env: { TENANTRY_PUBLIC_URL: base, TENANTRY_AUTH_RATE_LIMIT: '1000' } });
    await t.app.listen({ port, host: '127.0.0.1' });
    owner = await signUp(t);
    stranger = await signUp(t);
    viewer = await signUp(t);
    await join(t, owner.tenantId, viewer.userId, ['member']);
    checks = 0;
    const counting: typeof fetch = (input, init) => {
      if (String(input instanceof Request ? input.url : input).endsWith('/api/v1/check')) checks++;
      return fetch(input, init);
    };
    guard = new TenantryGuard(new TenantryClient({ baseUrl: base, fetch: counting, jwksCooldownSeconds: 0.2 }));
  });
  after(() => t.close());

  it('guards an Express route', async () => {
    const app = express();
    const { requirePermission } = expressTenantry(guard);
    app.get('/tenants/:tenantId/things', requirePermission('members.manage'), (req, res) => {
      const caller = (req as unknown as { tenantry: Caller }).tenantry;
      res.json({ caller: caller.kind === 'user' ? caller.userId : caller.keyId });
    });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/tenants/${owner.tenantId}/things`;
      const as = (token?: string) => fetch(url, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });
      const ok = await as(owner.accessToken);
      assert.equal(ok.status, 200);
      assert.deepEqual(await ok.json(), { caller: owner.userId });
      for (const [token, status] of [
        [viewer.accessToken, 403],
        [stranger.accessToken, 403],
        [undefined, 401],
        ['garbage', 401],
      ] as const) {
        const res = await as(token);
        assert.equal(res.status, status, String(token));
        assert.match(String(res.headers.get('content-type')), /^application\/problem\+json/);
      }
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('guards a Hono route, and asks /check once for a person asking twice', async () => {
    const app = new Hono<{ Variables: { tenantry: Caller } }>();
    const { requirePermission } = honoTenantry(guard);
    app.get('/tenants/:tenantId/things', requirePermission('members.read'), requirePermission('tenant.read'), (c) => c.json({ roles: c.get('tenantry').kind }));
    const as = (token: string) => app.request(`/tenants/${owner.tenantId}/things`, { headers: { authorization: `Bearer ${token}` } });
    const before = checks;
    const ok = await as(viewer.accessToken);
    assert.equal(ok.status, 200, await ok.clone().text());
    assert.deepEqual(await ok.json(), { roles: 'user' });
    assert.equal(checks - before, 2, 'two questions, asked in turn');
    assert.equal((await as(viewer.accessToken)).status, 200);
    assert.equal(checks - before, 2, 'remembered for the token');
    assert.equal((await as(stranger.accessToken)).status, 403);
    guard.forget({ userId: viewer.userId });
    assert.equal((await as(viewer.accessToken)).status, 200);
    assert.equal(checks - before, 5, 'asked again after forget');
  });

  it('asks about several tenants in one /check when the questions come together', async () => {
    const caller = await guard.authenticate(`Bearer ${owner.accessToken}`);
    const before = checks;
    const answers = await Promise.all([
      guard.allowed(caller, owner.tenantId, 'api_keys.manage'),
      guard.allowed(caller, stranger.tenantId, 'tenant.read'),
      guard.allowed(caller, owner.tenantId, 'webhooks.manage'),
    ]);
    assert.deepEqual(answers, [true, false, true]);
    assert.equal(checks - before, 1);
  });

  it('picks up a rotated signing key by itself (the JWKS is fetched again for a key id it does not hold)', async () => {
    assert.equal((await guard.authenticate(`Bearer ${owner.accessToken}`)).kind, 'user');
    await t.app.services.keys.rotate();
    const fresh = await signIn(t, owner.email, { password: owner.password });
    await new Promise((resolve) => setTimeout(resolve, 250));
    const caller = await guard.authenticate(`Bearer ${fresh.accessToken}`);
    assert.equal(caller.kind === 'user' ? caller.userId : '', owner.userId);
  });
});
