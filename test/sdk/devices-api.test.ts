import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { devicesApi } from '../../examples/devices-api/server.ts';
import { type CreatedKey, createKey, machineToken } from '../helpers/api-keys.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { testEngines } from '../helpers/database.ts';
import { freePort } from '../helpers/net.ts';
import { bearer, join, type SignedUp, signIn, signUp } from '../helpers/users.ts';
import { setFeatures } from '../helpers/tenants.ts';

/**
 * Issue 16: the example service (examples/devices-api), wired to a real, listening Tenantry through the SDK, keeps
 * every tenant's devices to that tenant's members and keys; it learns of a removal from Tenantry's signed webhook.
 */
for (const engine of testEngines()) {
  describe(`examples/devices-api behind Tenantry [${engine}]`, () => {
    let t: TestApp;
    let base: string;
    let service: ReturnType<typeof devicesApi>;
    let serviceUrl: string;
    let alice: SignedUp;
    let bob: SignedUp;
    let dataManager: { userId: string; accessToken: string };
    let aliceKey: CreatedKey;

    const devices = (method: 'GET' | 'POST', tenantId: string, token?: string, name?: string) =>
      service.app.inject({
        method,
        url: `/tenants/${tenantId}/devices`,
        headers: { ...(token === undefined ? {} : bearer(token)), 'content-type': 'application/json' },
        ...(name === undefined ? {} : { payload: JSON.stringify({ name }) }),
      });

    before(async () => {
      const port = await freePort();
      base = `http://127.0.0.1:${port}`;
      t = await createTestApp(engine, {
        clockStart: new Date(),
        env: { TENANTRY_PUBLIC_URL: base, TENANTRY_PRESET: 'mqtt-portal', TENANTRY_AUTH_RATE_LIMIT: '1000', TENANTRY_WEBHOOK_ALLOW_PRIVATE: 'true' },
      });
      await t.app.listen({ port, host: '127.0.0.1' });
      alice = await signUp(t, { name: 'Alice' });
      bob = await signUp(t, { name: 'Bob' });
      const dm = await signUp(t, { name: 'Dana' });
      await join(t, alice.tenantId, dm.userId, ['data_manager']);
      dataManager = { userId: dm.userId, accessToken: (await signIn(t, dm.email, { password: dm.password, tenantId: alice.tenantId })).accessToken };
      await setFeatures(t, alice.accessToken, alice.tenantId, { mgmt_api: true });
      aliceKey = await createKey(t, alice.accessToken, alice.tenantId, ['tenant.read', 'mqtt_clients.manage'], { name: 'provisioning' });

      // The service, with a Tenantry webhook pointed at it (tenant A's membership changes).
      const hook = await t.app.inject({
        method: 'POST',
        url: `/api/v1/tenants/${alice.tenantId}/webhooks`,
        headers: bearer(alice.accessToken),
        payload: { url: 'http://127.0.0.1:1/placeholder', eventTypes: ['member.removed', 'member.roles_changed'] },
      });
      assert.equal(hook.statusCode, 201, hook.body);
      service = devicesApi({ tenantryUrl: base, webhookSecret: hook.json().secret });
      await service.app.listen({ port: 0, host: '127.0.0.1' });
      serviceUrl = `http://127.0.0.1:${(service.app.server.address() as AddressInfo).port}/tenantry/events`;
      const pointed = await t.app.inject({
        method: 'PATCH',
        url: `/api/v1/tenants/${alice.tenantId}/webhooks/${hook.json().id}`,
        headers: bearer(alice.accessToken),
        payload: { url: serviceUrl },
      });
      assert.equal(pointed.statusCode, 200, pointed.body);
    });
    after(async () => {
      await service?.app.close();
      await t?.close();
    });

    it("lets a tenant's members list its devices and its device managers register them", async () => {
      const made = await devices('POST', alice.tenantId, alice.accessToken, 'boiler');
      assert.equal(made.statusCode, 201, made.body);
      assert.equal(made.json().registeredBy, alice.userId);
      const listed = await devices('GET', alice.tenantId, dataManager.accessToken);
      assert.deepEqual(
        listed.json().devices.map((d: { name: string }) => d.name),
        ['boiler'],
      );
      // A data manager reads but does not manage MQTT clients.
      const refused = await devices('POST', alice.tenantId, dataManager.accessToken, 'rogue');
      assert.equal(refused.statusCode, 403, refused.body);
      assert.equal(refused.json().permission, 'mqtt_clients.manage');
    });

    it("keeps every tenant's devices from everyone else's people and keys", async () => {
      await devices('POST', bob.tenantId, bob.accessToken, 'bob-sensor');
      for (const [method, tenantId, token] of [
        ['GET', bob.tenantId, alice.accessToken],
        ['POST', bob.tenantId, alice.accessToken],
        ['GET', alice.tenantId, bob.accessToken],
        ['GET', bob.tenantId, dataManager.accessToken],
        ['GET', bob.tenantId, await machineToken(t, aliceKey)],
        ['POST', bob.tenantId, await machineToken(t, aliceKey)],
      ] as const) {
        const res = await devices(method, tenantId, token, method === 'POST' ? 'intruder' : undefined);
        assert.equal(res.statusCode, 403, `${method} ${tenantId}: ${res.body}`);
      }
      assert.deepEqual(
        (await devices('GET', bob.tenantId, bob.accessToken)).json().devices.map((d: { name: string }) => d.name),
        ['bob-sensor'],
      );
      assert.equal((await devices('GET', alice.tenantId)).statusCode, 401);
      assert.equal((await devices('GET', alice.tenantId, 'not-a-token')).statusCode, 401);
      assert.equal((await devices('GET', alice.tenantId, aliceKey.secret)).statusCode, 401, 'a raw key secret is not a token');
    });

    it("accepts the tenant's own API key by its machine token, within the token's scope", async () => {
      const token = await machineToken(t, aliceKey);
      const made = await devices('POST', alice.tenantId, token, 'meter');
      assert.equal(made.statusCode, 201, made.body);
      assert.equal(made.json().registeredBy, aliceKey.id);
      const readOnly = await machineToken(t, aliceKey, 'tenant.read');
      assert.equal((await devices('POST', alice.tenantId, readOnly, 'nope')).statusCode, 403);
      assert.equal((await devices('GET', alice.tenantId, readOnly)).statusCode, 200);
    });

    it('remembers answers for the token, and forgets them when Tenantry says the person was removed', async () => {
      assert.equal((await devices('GET', alice.tenantId, dataManager.accessToken)).statusCode, 200);
      const removed = await t.app.inject({ method: 'DELETE', url: `/api/v1/tenants/${alice.tenantId}/members/${dataManager.userId}`, headers: bearer(alice.accessToken) });
      assert.equal(removed.statusCode, 204, removed.body);
      // Still remembered (the token is valid for minutes more) until the webhook arrives…
      assert.equal((await devices('GET', alice.tenantId, dataManager.accessToken)).statusCode, 200);
      assert.deepEqual(await t.app.services.webhooks.runOnce(), { delivered: 1, failed: 0, dead: 0 });
      // …then asked again, and refused.
      assert.equal((await devices('GET', alice.tenantId, dataManager.accessToken)).statusCode, 403);
    });
  });
}
