import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import type { MosquittoSync } from '../../src/mqtt/mosquitto-sync.ts';
import { readSystem } from '../../src/platform/db/context.ts';
import { type CreatedKey, createKey } from '../helpers/api-keys.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { testEngines } from '../helpers/database.ts';
import { type MosquittoBroker, startMosquitto } from '../helpers/mosquitto.ts';
import { bearer, type SignedUp, signUp } from '../helpers/users.ts';
import { grantedQos } from '../helpers/mqtt.ts';
import { setFeatures } from '../helpers/tenants.ts';

/**
 * Issue 16: a real Mosquitto 2 (Debian's), whose dynamic-security plugin Tenantry keeps in step over
 * `$CONTROL/dynamic-security/v1`: a client per key with MQTT rights, a role per tenant and right, and clients disabled or
 * deleted — and so disconnected — the moment a key is revoked or expires or its tenant is suspended.
 */
for (const engine of testEngines()) {
  describe(`Mosquitto kept in step through its dynamic-security plugin [${engine}]`, () => {
    let broker: MosquittoBroker;
    let t: TestApp;
    let sync: MosquittoSync;
    let alice: SignedUp;
    let bob: SignedUp;
    let device: CreatedKey;
    let subscriber: CreatedKey;
    const clients: MqttClient[] = [];

    const connect = async (key: CreatedKey, clientId: string) => {
      const client = await mqtt.connectAsync(broker.url, { username: key.id, password: key.secret, clientId, reconnectPeriod: 0, connectTimeout: 5_000, protocolVersion: 5 });
      clients.push(client);
      return client;
    };
    const refused = (key: CreatedKey, clientId: string) =>
      assert.rejects(
        mqtt.connectAsync(broker.url, { username: key.id, password: key.secret, clientId, reconnectPeriod: 0, connectTimeout: 5_000, protocolVersion: 5 }),
        /Not authorized|Bad User Name or Password/i,
      );
    const subscribe = grantedQos;
    const closed = (client: MqttClient) => new Promise<void>((resolve) => (client.connected ? client.once('close', () => resolve()) : resolve()));
    const makeKey = async (owner: SignedUp, permissions: string[], extra: { name?: string; expiresAt?: string } = {}) => {
      const key = await createKey(t, owner.accessToken, owner.tenantId, permissions, extra);
      assert.equal((await sync.outbox.runOnce()).delivered, 1, `the new key reaches the broker: ${JSON.stringify(t.logs.filter((l) => String(l.msg).includes('mosquitto')))}`);
      return key;
    };

    before(async () => {
      broker = await startMosquitto();
      t = await createTestApp(engine, { env: { TENANTRY_PRESET: 'mqtt-portal', TENANTRY_MOSQUITTO_URL: broker.adminUrl, TENANTRY_AUTH_RATE_LIMIT: '1000' } });
      assert.ok(t.app.services.mosquitto);
      sync = t.app.services.mosquitto;
      alice = await signUp(t, { name: 'Alice' });
      bob = await signUp(t, { name: 'Bob' });
      for (const owner of [alice, bob]) await setFeatures(t, owner.accessToken, owner.tenantId, { mgmt_api: true });
      device = await makeKey(alice, ['mqtt_clients.manage'], { name: 'devices' });
      subscriber = await makeKey(alice, ['subscriber_tokens.manage'], { name: 'dashboard' });
    });
    after(async () => {
      for (const client of clients) await client.endAsync(true).catch(() => undefined);
      await t?.close();
      await broker?.close();
    });

    it('admits a new key with its secret, and forgets the secret once the broker has it', async () => {
      const reader = await connect(subscriber, 'dashboard-1');
      assert.equal(await subscribe(reader, `${alice.tenantId}/#`), 1);
      const sensor = await connect(device, 'sensor-1');
      const received = new Promise<string>((resolve) => reader.once('message', (topic) => resolve(topic)));
      await sensor.publishAsync(`${alice.tenantId}/sensor-1/temperature`, '21.5', { qos: 1 });
      assert.equal(await received, `${alice.tenantId}/sensor-1/temperature`);
      const rows = await readSystem(t.database.db, (trx) => trx.selectFrom('outbox').select('payload').where('topic', '=', 'mosquitto').execute());
      assert.equal(rows.length, 2);
      for (const row of rows) assert.deepEqual(Object.keys(row.payload as object).sort(), ['keyId', 'tenantId'], 'no sealed secret is kept after delivery');
    });

    it("keeps each tenant's clients inside its own tree, and subscribers from publishing", async () => {
      const bobsKey = await makeKey(bob, ['mqtt_clients.manage', 'subscriber_tokens.manage'], { name: 'bob' });
      const bobs = await connect(bobsKey, 'bob-1');
      for (const filter of ['#', '+/#', `${alice.tenantId}/#`, '$SYS/#', '$CONTROL/dynamic-security/v1/#']) assert.equal(await subscribe(bobs, filter), 135, filter);
      await assert.rejects(bobs.publishAsync(`${alice.tenantId}/bob-1/x`, 'x', { qos: 1 }), /Not authorized/);
      await assert.rejects(bobs.publishAsync('$CONTROL/dynamic-security/v1', '{"commands":[]}', { qos: 1 }), /Not authorized/);
      const reader = await connect(subscriber, 'dashboard-2');
      await assert.rejects(reader.publishAsync(`${alice.tenantId}/dashboard-2/x`, 'x', { qos: 1 }), /Not authorized/);
      // A key without an MQTT permission is a client that cannot connect (disabled until a right appears).
      const reporting = await makeKey(alice, ['tenant.read'], { name: 'reporting' });
      await refused(reporting, 'reporting-1');
    });

    it("disconnects a revoked key's clients at once and refuses it from then on", async () => {
      const doomed = await makeKey(alice, ['mqtt_clients.manage'], { name: 'doomed' });
      const sensor = await connect(doomed, 'sensor-doomed');
      const gone = closed(sensor);
      const res = await t.app.inject({ method: 'DELETE', url: `/api/v1/tenants/${alice.tenantId}/api-keys/${doomed.id}`, headers: bearer(alice.accessToken) });
      assert.equal(res.statusCode, 204, res.body);
      await gone;
      await refused(doomed, 'sensor-doomed');
    });

    it("disables a suspended tenant's clients and enables them again when it is resumed", async () => {
      const sensor = await connect(device, 'sensor-2');
      const gone = closed(sensor);
      const suspended = await t.app.inject({ method: 'POST', url: `/api/v1/tenants/${alice.tenantId}/suspend`, headers: bearer(alice.accessToken), payload: { reason: 'unpaid' } });
      assert.equal(suspended.statusCode, 200, suspended.body);
      await gone;
      await refused(device, 'sensor-3');
      const resumed = await t.app.inject({ method: 'POST', url: `/api/v1/tenants/${alice.tenantId}/resume`, headers: bearer(alice.accessToken), payload: {} });
      assert.equal(resumed.statusCode, 200, resumed.body);
      await sync.reconcile();
      const back = await connect(device, 'sensor-3');
      await back.publishAsync(`${alice.tenantId}/sensor-3/t`, '1', { qos: 1 });
    });

    it('deletes an expired key at the next reconcile', async () => {
      const shortLived = await makeKey(alice, ['mqtt_clients.manage'], { name: 'short', expiresAt: new Date(t.clock.now().getTime() + 60_000).toISOString() });
      const sensor = await connect(shortLived, 'sensor-short');
      const gone = closed(sensor);
      t.clock.advance(61_000);
      await sync.reconcile();
      await gone;
      await refused(shortLived, 'sensor-short');
    });

    it('deletes a key at its expiry, without waiting for the reconcile', async () => {
      const brief = await makeKey(alice, ['mqtt_clients.manage'], { name: 'brief', expiresAt: new Date(t.clock.now().getTime() + 1_000).toISOString() });
      const sensor = await connect(brief, 'sensor-brief');
      const gone = closed(sensor);
      t.clock.advance(2_000);
      await gone;
      await refused(brief, 'sensor-brief');
    });

    it('delivers a key made while the broker was down once it is back: delayed, never lost', async () => {
      await broker.stop();
      const late = await createKey(t, alice.accessToken, alice.tenantId, ['mqtt_clients.manage'], { name: 'late' });
      assert.deepEqual(await sync.outbox.runOnce(), { delivered: 0, failed: 1 });
      await broker.start();
      t.clock.advance(10 * 60_000);
      assert.deepEqual(await sync.outbox.runOnce(), { delivered: 1, failed: 0 });
      const sensor = await connect(late, 'sensor-late');
      await sensor.publishAsync(`${alice.tenantId}/sensor-late/t`, '1', { qos: 1 });
    });
  });
}
