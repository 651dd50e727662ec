import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Aedes } from 'aedes';
import mqtt, { type MqttClient } from 'mqtt';
import { type CreatedKey, createKey, machineToken } from '../helpers/api-keys.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { testEngines } from '../helpers/database.ts';
import { bearer, type SignedUp, signUp } from '../helpers/users.ts';
import { grantedQos } from '../helpers/mqtt.ts';
import { setFeatures } from '../helpers/tenants.ts';

/**
 * Issue 16: a broker that calls out — here Aedes, in process, whose hooks ask Tenantry's EMQX endpoints over HTTP —
 * admits devices and read-only subscribers with their tenant's API keys, keeps each inside `{tenantId}/…` (a device
 * inside `{tenantId}/{clientId}/…` for publishing), and refuses them as soon as a key is revoked or a tenant suspended.
 */
const BROKER_SECRET = 'broker-secret-for-the-aedes-test-0123456789';

interface Broker {
  url: string;
  close(): Promise<void>;
}

/** Aedes on a free port; its hooks POST to the EMQX authn/authz endpoints of the app at `api`. */
async function startAedes(api: string): Promise<Broker> {
  const ask = async (path: string, body: object): Promise<boolean> => {
    const res = await fetch(`${api}/api/v1/mqtt/emqx/${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${BROKER_SECRET}` },
      body: JSON.stringify(body),
    });
    assert.equal(res.status, 200, await res.clone().text());
    return ((await res.json()) as { result: string }).result === 'allow';
  };
  const broker = await Aedes.createBroker({
    authenticate: (client, username, password, done) => {
      ask('authn', { username: username ?? '', password: password?.toString('utf8') ?? '', clientid: client.id }).then(
        (allowed) => done(allowed ? null : Object.assign(new Error('not authorized'), { returnCode: 5 }), allowed),
        (error: Error) => done(Object.assign(error, { returnCode: 3 }), false),
      );
    },
    authorizePublish: (client, packet, done) => {
      if (client === null) return done(null);
      ask('authz', { username: usernameOf(client), clientid: client.id, topic: packet.topic, action: 'publish' }).then(
        (allowed) => done(allowed ? null : new Error(`publish to ${packet.topic} refused`)),
        (error: Error) => done(error),
      );
    },
    authorizeSubscribe: (client, subscription, done) => {
      ask('authz', { username: usernameOf(client), clientid: client.id, topic: subscription.topic, action: 'subscribe' }).then(
        // A null subscription is Aedes's way of answering SUBACK 0x80 for this filter alone.
        (allowed) => done(null, allowed ? subscription : null),
        (error: Error) => done(error),
      );
    },
  });
  // The username a client connected with, for the authorization hooks (Aedes does not keep it).
  const usernames = new WeakMap<object, string>();
  const usernameOf = (client: object) => usernames.get(client) ?? '';
  const authenticate = broker.authenticate;
  broker.authenticate = (client, username, password, done) => {
    usernames.set(client, username ?? '');
    authenticate(client, username, password, done);
  };
  const server: Server = createServer(broker.handle);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async close() {
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

for (const engine of testEngines()) {
  describe(`MQTT through a broker that calls the EMQX endpoints (Aedes) [${engine}]`, () => {
    let t: TestApp;
    let broker: Broker;
    let alice: SignedUp;
    let bob: SignedUp;
    let device: CreatedKey;
    let subscriber: CreatedKey;
    let bobDevice: CreatedKey;
    const clients: MqttClient[] = [];

    const connect = async (key: CreatedKey, clientId: string, password = key.secret) => {
      const client = await mqtt.connectAsync(broker.url, { username: key.id, password, clientId, reconnectPeriod: 0, connectTimeout: 5_000 });
      clients.push(client);
      return client;
    };
    const refusedConnect = async (username: string, password: string, clientId: string) => {
      await assert.rejects(mqtt.connectAsync(broker.url, { username, password, clientId, reconnectPeriod: 0, connectTimeout: 5_000 }), /Not authorized|Connection refused/);
    };
    const subscribe = grantedQos;
    /** The next message on `client`, or undefined after `ms`. */
    const nextMessage = (client: MqttClient, ms = 1_500) =>
      new Promise<{ topic: string; payload: string } | undefined>((resolve) => {
        const timer = setTimeout(() => {
          client.off('message', onMessage);
          resolve(undefined);
        }, ms);
        const onMessage = (topic: string, payload: Buffer) => {
          clearTimeout(timer);
          client.off('message', onMessage);
          resolve({ topic, payload: payload.toString('utf8') });
        };
        client.on('message', onMessage);
      });
    /** A refused publish makes Aedes drop the connection (MQTT 3.1.1 has no way to refuse one publish). */
    const publishDropsConnection = async (client: MqttClient, topic: string) => {
      const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
      client.publish(topic, 'x', { qos: 0 });
      await closed;
    };

    before(async () => {
      t = await createTestApp(engine, {
        env: { TENANTRY_PRESET: 'mqtt-portal', TENANTRY_MQTT_BROKER_SECRET: BROKER_SECRET, TENANTRY_AUTH_RATE_LIMIT: '1000' },
        clockStart: new Date(),
      });
      await t.app.listen({ port: 0, host: '127.0.0.1' });
      broker = await startAedes(`http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`);
      alice = await signUp(t, { name: 'Alice' });
      bob = await signUp(t, { name: 'Bob' });
      for (const owner of [alice, bob]) await setFeatures(t, owner.accessToken, owner.tenantId, { mgmt_api: true });
      device = await createKey(t, alice.accessToken, alice.tenantId, ['mqtt_clients.manage'], { name: 'devices' });
      subscriber = await createKey(t, alice.accessToken, alice.tenantId, ['subscriber_tokens.manage'], { name: 'dashboard' });
      bobDevice = await createKey(t, bob.accessToken, bob.tenantId, ['mqtt_clients.manage'], { name: 'bob devices' });
    });
    after(async () => {
      for (const client of clients) await client.endAsync(true).catch(() => undefined);
      await broker?.close();
      await t?.close();
    });

    it('lets a device publish under its own prefix and a subscriber of its tenant read it', async () => {
      const reader = await connect(subscriber, 'dashboard-1');
      assert.equal(await subscribe(reader, `${alice.tenantId}/#`), 1);
      const sensor = await connect(device, 'sensor-1');
      const received = nextMessage(reader);
      await sensor.publishAsync(`${alice.tenantId}/sensor-1/temperature`, '21.5', { qos: 1 });
      assert.deepEqual(await received, { topic: `${alice.tenantId}/sensor-1/temperature`, payload: '21.5' });
      // A device reads its own commands, not the rest of its tenant.
      assert.equal(await subscribe(sensor, `${alice.tenantId}/sensor-1/commands/#`), 1);
      assert.equal(await subscribe(sensor, `${alice.tenantId}/#`), 128);
      assert.equal(await subscribe(sensor, `${alice.tenantId}/sensor-2/#`), 128);
    });

    it("refuses another tenant's prefix, wildcards across tenants and the broker's own topics", async () => {
      const reader = await connect(subscriber, 'dashboard-2');
      for (const filter of ['#', '+/#', '+/+/temperature', `${bob.tenantId}/#`, '$SYS/#', '$CONTROL/dynamic-security/v1', `$share/g/${alice.tenantId}/#`]) {
        assert.equal(await subscribe(reader, filter), 128, filter);
      }
      // Nothing of Bob's reaches Alice's subscriber, whatever it asked for.
      const bobs = await connect(bobDevice, 'bob-sensor');
      const leaked = nextMessage(reader, 800);
      await bobs.publishAsync(`${bob.tenantId}/bob-sensor/temperature`, 'secret', { qos: 1 });
      assert.equal(await leaked, undefined);
      const sensor = await connect(device, 'sensor-3');
      await publishDropsConnection(sensor, `${bob.tenantId}/sensor-3/temperature`);
      const other = await connect(device, 'sensor-4');
      await publishDropsConnection(other, `${alice.tenantId}/sensor-5/temperature`);
    });

    it('never lets a read-only subscriber publish', async () => {
      const reader = await connect(subscriber, 'dashboard-3');
      await publishDropsConnection(reader, `${alice.tenantId}/dashboard-3/anything`);
    });

    it('refuses wrong credentials at connect: another key, a forged secret, a client id that is not one topic level', async () => {
      await refusedConnect(device.id, subscriber.secret, 'sensor-x');
      await refusedConnect(device.id, `${device.secret.slice(0, -1)}a`, 'sensor-x');
      await refusedConnect(device.id, 'not-a-token', 'sensor-x');
      await refusedConnect(device.id, device.secret, 'sensor/x');
      await refusedConnect(device.id, device.secret, '$sensor');
      // A key with no MQTT permission is no MQTT credential.
      const influx = await createKey(t, alice.accessToken, alice.tenantId, ['influx_tokens.create'], { name: 'influx' }).catch(() => undefined);
      if (influx !== undefined) await refusedConnect(influx.id, influx.secret, 'reader');
    });

    it('accepts a machine token of the key as the password, but not one narrower than the key', async () => {
      const token = await machineToken(t, device);
      const sensor = await connect(device, 'sensor-token', token);
      await sensor.publishAsync(`${alice.tenantId}/sensor-token/ping`, '1', { qos: 1 });
      const both = await createKey(t, alice.accessToken, alice.tenantId, ['mqtt_clients.manage', 'subscriber_tokens.manage'], { name: 'both' });
      await refusedConnect(both.id, await machineToken(t, both, 'subscriber_tokens.manage'), 'narrow');
    });

    it("drops a revoked key's connection at its next action and refuses it from then on", async () => {
      const doomed = await createKey(t, alice.accessToken, alice.tenantId, ['mqtt_clients.manage'], { name: 'doomed' });
      const sensor = await connect(doomed, 'sensor-doomed');
      await sensor.publishAsync(`${alice.tenantId}/sensor-doomed/t`, '1', { qos: 1 });
      const revoked = await t.app.inject({ method: 'DELETE', url: `/api/v1/tenants/${alice.tenantId}/api-keys/${doomed.id}`, headers: bearer(alice.accessToken) });
      assert.equal(revoked.statusCode, 204, revoked.body);
      await publishDropsConnection(sensor, `${alice.tenantId}/sensor-doomed/t`);
      await refusedConnect(doomed.id, doomed.secret, 'sensor-doomed');
    });

    it("refuses a suspended tenant's clients at their next connect, publish or subscribe", async () => {
      const reader = await connect(subscriber, 'dashboard-4');
      const sensor = await connect(device, 'sensor-6');
      const suspended = await t.app.inject({ method: 'POST', url: `/api/v1/tenants/${alice.tenantId}/suspend`, headers: bearer(alice.accessToken), payload: { reason: 'unpaid' } });
      assert.equal(suspended.statusCode, 200, suspended.body);
      assert.equal(await subscribe(reader, `${alice.tenantId}/#`), 128);
      await publishDropsConnection(sensor, `${alice.tenantId}/sensor-6/t`);
      await refusedConnect(device.id, device.secret, 'sensor-7');
      const resumed = await t.app.inject({ method: 'POST', url: `/api/v1/tenants/${alice.tenantId}/resume`, headers: bearer(alice.accessToken), payload: {} });
      assert.equal(resumed.statusCode, 200, resumed.body);
      const back = await connect(device, 'sensor-7');
      await back.publishAsync(`${alice.tenantId}/sensor-7/t`, '1', { qos: 1 });
    });
  });
}
