import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type CreatedKey, createKey } from '../helpers/api-keys.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { testEngines } from '../helpers/database.ts';
import { assertProblem, bearer, type SignedUp, signUp } from '../helpers/users.ts';
import { setFeatures } from '../helpers/tenants.ts';

/**
 * Issue 16: the brokers' own HTTP contracts over the one decision — mosquitto-go-auth's HTTP backend (status and JSON
 * response modes), VerneMQ's webhooks, EMQX's authn/authz — and the broker secret in front of all of them.
 */
const SECRET = 'broker-secret-for-the-contract-test-0123';
const basic = (password: string) => ({ authorization: `Basic ${Buffer.from(`vernemq:${password}`).toString('base64')}` });

for (const engine of testEngines()) {
  describe(`MQTT broker contracts [${engine}]`, () => {
    let t: TestApp;
    let owner: SignedUp;
    let device: CreatedKey;
    let subscriber: CreatedKey;

    const post = (url: string, payload: object, headers: Record<string, string> = { authorization: `Bearer ${SECRET}` }) =>
      t.app.inject({ method: 'POST', url: `/api/v1/mqtt/${url}`, headers, payload });

    before(async () => {
      t = await createTestApp(engine, { env: { TENANTRY_PRESET: 'mqtt-portal', TENANTRY_MQTT_BROKER_SECRET: SECRET } });
      owner = await signUp(t);
      await setFeatures(t, owner.accessToken, owner.tenantId, { mgmt_api: true });
      device = await createKey(t, owner.accessToken, owner.tenantId, ['mqtt_clients.manage']);
      subscriber = await createKey(t, owner.accessToken, owner.tenantId, ['subscriber_tokens.manage']);
    });
    after(() => t.close());

    it('answers only a broker presenting the secret, as a bearer token or a Basic password', async () => {
      const body = { username: device.id, password: device.secret, clientid: 'd1' };
      assertProblem(await post('emqx/authn', body, {}), 401, 'broker_unauthenticated');
      assertProblem(await post('emqx/authn', body, { authorization: 'Bearer wrong-secret-wrong-secret-wrong' }), 401, 'broker_unauthenticated');
      assertProblem(await post('emqx/authn', body, bearer(device.secret)), 401, 'broker_unauthenticated');
      assert.deepEqual((await post('emqx/authn', body, basic(SECRET))).json(), { result: 'allow', is_superuser: false });
    });

    it('speaks EMQX: allow or deny, never a superuser', async () => {
      assert.deepEqual((await post('emqx/authn', { username: device.id, password: subscriber.secret, clientid: 'd1' })).json(), { result: 'deny', is_superuser: false });
      const authz = async (action: string, topic: string, key = device) =>
        (await post('emqx/authz', { username: key.id, clientid: 'd1', topic, action, peerhost: '10.0.0.1' })).json().result;
      assert.equal(await authz('publish', `${owner.tenantId}/d1/t`), 'allow');
      assert.equal(await authz('publish', `${owner.tenantId}/d2/t`), 'deny');
      assert.equal(await authz('subscribe', `${owner.tenantId}/#`, subscriber), 'allow');
      assert.equal(await authz('all', `${owner.tenantId}/d1/t`, subscriber), 'deny', 'all needs both');
      assert.equal(await authz('subscribe', '#', subscriber), 'deny');
      assert.equal(await authz('subscribe', `${owner.tenantId}/#`, { ...device, id: 'key_aaaaaaaaaaaaaaaaaaaa' }), 'deny', 'an unknown key');
    });

    it('speaks mosquitto-go-auth: 200 allows, 403 denies, in the status and the body', async () => {
      const user = await post('go-auth/user', { username: device.id, password: device.secret, clientid: 'd1' });
      assert.deepEqual([user.statusCode, user.json()], [200, { ok: true, error: '' }]);
      const wrong = await post('go-auth/user', { username: device.id, password: 'nope', clientid: 'd1' });
      assert.equal(wrong.statusCode, 403);
      assert.equal(wrong.json().ok, false);
      assert.equal((await post('go-auth/superuser', { username: device.id })).statusCode, 403);
      const acl = async (acc: number, topic: string, key = device) => (await post('go-auth/acl', { username: key.id, clientid: 'd1', topic, acc })).statusCode;
      assert.equal(await acl(2, `${owner.tenantId}/d1/t`), 200);
      assert.equal(await acl(4, `${owner.tenantId}/d1/#`), 200);
      assert.equal(await acl(1, `${owner.tenantId}/d1/cmd`), 200);
      assert.equal(await acl(3, `${owner.tenantId}/d1/cmd`), 200);
      assert.equal(await acl(1, `${owner.tenantId}/d9/t`), 403);
      assert.equal(await acl(1, `${owner.tenantId}/d9/t`, subscriber), 200);
      assert.equal(await acl(3, `${owner.tenantId}/d1/t`, subscriber), 403, 'read and write needs the write too');
      assertProblem(await post('go-auth/acl', { username: device.id, clientid: 'd1', topic: 'x', acc: 7 }), 400, 'validation_failed');
    });

    it('speaks VerneMQ: ok or an error, and one refused filter refuses the whole SUBSCRIBE (MQTT 3.1.1 and 5 alike)', async () => {
      const register = async (password: string | null) =>
        (await post('vernemq/auth_on_register', { peer_addr: '10.0.0.1', username: device.id, password, client_id: 'd1', mountpoint: '' })).json();
      assert.deepEqual(await register(device.secret), { result: 'ok' });
      assert.deepEqual(await register('nope'), { result: { error: 'not_allowed' } });
      assert.deepEqual(await register(null), { result: { error: 'not_allowed' } });
      const publish = async (topic: string) =>
        (await post('vernemq/auth_on_publish', { username: device.id, client_id: 'd1', topic, qos: 1, payload: 'eA==', retain: false })).json();
      assert.deepEqual(await publish(`${owner.tenantId}/d1/t`), { result: 'ok' });
      assert.deepEqual(await publish(`${owner.tenantId}/d2/t`), { result: { error: 'not_allowed' } });
      const subscribe = async (topics: string[]) =>
        (await post('vernemq/auth_on_subscribe', { username: device.id, client_id: 'd1', topics: topics.map((topic) => ({ topic, qos: 1 })) })).json();
      assert.deepEqual(await subscribe([`${owner.tenantId}/d1/#`]), { result: 'ok' });
      assert.deepEqual(await subscribe([`${owner.tenantId}/d1/#`, '#']), { result: { error: 'not_allowed' } });
      assert.deepEqual(await subscribe(['#', '$SYS/#']), { result: { error: 'not_allowed' } });
    });
  });
}

describe('MQTT broker endpoints without a broker secret', () => {
  it('do not answer: 404 mqtt_not_configured, and no preset without an mqtt section admits anyone', async () => {
    const t = await createTestApp('pglite');
    try {
      const ask = (headers: Record<string, string>) =>
        t.app.inject({ method: 'POST', url: '/api/v1/mqtt/emqx/authn', headers, payload: { username: 'a', password: 'b', clientid: 'c' } });
      assertProblem(await ask({}), 401, 'broker_unauthenticated');
      assertProblem(await ask({ authorization: `Bearer ${SECRET}` }), 404, 'mqtt_not_configured');
    } finally {
      await t.close();
    }
    const plain = await createTestApp('pglite', { env: { TENANTRY_MQTT_BROKER_SECRET: SECRET } });
    try {
      const owner = await signUp(plain);
      const key = await createKey(plain, owner.accessToken, owner.tenantId, ['tenant.read']);
      const res = await plain.app.inject({
        method: 'POST',
        url: '/api/v1/mqtt/emqx/authn',
        headers: { authorization: `Bearer ${SECRET}` },
        payload: { username: key.id, password: key.secret, clientid: 'c' },
      });
      assert.deepEqual(res.json(), { result: 'deny', is_superuser: false });
    } finally {
      await plain.close();
    }
  });
});

for (const engine of testEngines()) {
  describe(`MQTT decisions on a warm cache [${engine}]`, () => {
    it('answer without the database: once a key has connected, its topic checks read only memory', async () => {
      const t = await createTestApp(engine, { env: { TENANTRY_PRESET: 'mqtt-portal', TENANTRY_MQTT_BROKER_SECRET: SECRET } });
      let closed = false;
      try {
        const owner = await signUp(t);
        await setFeatures(t, owner.accessToken, owner.tenantId, { mgmt_api: true });
        const key = await createKey(t, owner.accessToken, owner.tenantId, ['mqtt_clients.manage']);
        const headers = { authorization: `Bearer ${SECRET}` };
        const authz = async (topic: string) =>
          (await t.app.inject({ method: 'POST', url: '/api/v1/mqtt/emqx/authz', headers, payload: { username: key.id, clientid: 'd1', topic, action: 'publish' } })).json().result;
        const connected = await t.app.inject({ method: 'POST', url: '/api/v1/mqtt/emqx/authn', headers, payload: { username: key.id, password: key.secret, clientid: 'd1' } });
        assert.equal(connected.json().result, 'allow');
        assert.equal(await authz(`${owner.tenantId}/d1/t`), 'allow');
        // The database goes away; a decision that needed it would now be a 500 or a 503.
        await t.database.close();
        closed = true;
        assert.equal(await authz(`${owner.tenantId}/d1/other`), 'allow');
        assert.equal(await authz(`${owner.tenantId}/d2/t`), 'deny');
      } finally {
        if (closed) await t.app.close();
        else await t.close();
      }
    });
  });
}
