import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readTenant } from '../../src/platform/db/context.ts';
import { assertOAuthError, createKey, type CreatedKey, machineToken } from '../helpers/api-keys.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { testEngines } from '../helpers/database.ts';
import { assertProblem, bearer, join, type SignedUp, signUp, uniqueEmail } from '../helpers/users.ts';

/**
 * Seed 000's Mgmt REST API: with the add-on on, an Owner's REST token creates sibling tenants under the
 * same enterprise and manages members programmatically, through the same endpoints people use.
 */
const MGMT = ['tenant.read', 'tenants.create_child', 'members.read', 'members.invite', 'members.manage'];
/** What the Member and Data Manager roles grant: a key may hand out only roles within its own permissions. */
const OPERATIONS = ['mqtt_clients.manage', 'subscriber_tokens.manage', 'influx_tokens.create'];

for (const engine of testEngines()) {
  describe(`mqtt-portal Mgmt REST API with an API key [${engine}]`, () => {
    let t: TestApp;
    let owner: SignedUp;
    let enterprise: string;
    let tenantA: string;
    let key: CreatedKey;

    const api = (method: 'GET' | 'POST' | 'PATCH' | 'DELETE' | 'PUT', url: string, token: string, payload?: object) =>
      t.app.inject({ method, url: `/api/v1${url}`, headers: bearer(token), ...(payload === undefined ? {} : { payload }) });
    const setMgmtApi = async (enabled: boolean) =>
      assert.equal((await api('PUT', `/tenants/${tenantA}/features`, owner.accessToken, { features: { mgmt_api: enabled } })).statusCode, 200);

    before(async () => {
      t = await createTestApp(engine, { env: { TENANTRY_PRESET: 'mqtt-portal', TENANTRY_AUTH_RATE_LIMIT: '1000' } });
      // The owner's enterprise (sign-up made it, with a default MQTT tenant below), and one more MQTT tenant under it.
      owner = await signUp(t);
      assert.ok(owner.enterpriseId);
      enterprise = owner.enterpriseId;
      // The Basic plan allows two child tenants; this enterprise gets more below.
      assert.equal((await api('PUT', `/tenants/${enterprise}/plan`, owner.accessToken, { plan: 'enterprise' })).statusCode, 200);
      const created = await api('POST', '/tenants', owner.accessToken, { name: 'Tenant A', slug: `tenant-a-${process.pid}-${engine}`, parentId: enterprise });
      assert.equal(created.statusCode, 201, created.body);
      tenantA = created.json().id;
    });
    after(() => t.close());

    it('needs the mgmt_api add-on to make a key at all', async () => {
      const refused = await api('POST', `/tenants/${tenantA}/api-keys`, owner.accessToken, { name: 'mgmt', permissions: MGMT });
      assertProblem(refused, 403, 'forbidden');
      assert.match(refused.json().detail, /api_keys\.manage needs the feature mgmt_api/);
      await setMgmtApi(true);
      key = await createKey(t, owner.accessToken, tenantA, [...MGMT, ...OPERATIONS], { name: 'provisioning' });
    });

    it('creates a sibling tenant under the same enterprise, owned by the owners of its own tenant', async () => {
      const res = await api('POST', '/tenants', key.secret, { name: 'Tenant B', slug: `tenant-b-${process.pid}-${engine}`, parentId: enterprise });
      assert.equal(res.statusCode, 201, res.body);
      const sibling = res.json();
      assert.deepEqual([sibling.parentId, sibling.path], [enterprise, [enterprise, sibling.id]]);
      const roster = await api('GET', `/tenants/${sibling.id}/members`, owner.accessToken);
      assert.deepEqual(
        roster.json().members.map((m: { userId: string; roles: string[] }) => [m.userId, m.roles]),
        [[owner.userId, ['owner']]],
      );
      // The new tenant's trail, and the enterprise's, name the key as the actor.
      const actors = await readTenant(t.database.db, sibling.id, (trx) =>
        trx.selectFrom('audit_events').select(['action', 'actor_type', 'actor_id']).where('tenant_id', '=', sibling.id).orderBy('seq').execute(),
      );
      assert.deepEqual(
        actors.map((e) => [e.action, e.actor_type, e.actor_id]),
        [
          ['tenant.created', 'api_key', key.id],
          ['member.added', 'api_key', key.id],
        ],
      );
      // Its key still acts only in its own tenant: the sibling is out of reach.
      assertProblem(await api('GET', `/tenants/${sibling.id}`, key.secret), 404, 'tenant_not_found');
    });

    it('refuses a sibling when the person the key acts for may not create tenants under the parent', async () => {
      // Yuki owns Tenant C (not the enterprise above it) and makes a key there; the key may not reach beyond Yuki.
      const created = await api('POST', '/tenants', owner.accessToken, { name: 'Tenant C', slug: `tenant-c-${process.pid}-${engine}`, parentId: enterprise });
      assert.equal(created.statusCode, 201, created.body);
      const tenantC = created.json().id;
      assert.equal((await api('PUT', `/tenants/${tenantC}/features`, owner.accessToken, { features: { mgmt_api: true } })).statusCode, 200);
      const yuki = await signUp(t);
      await join(t, tenantC, yuki.userId, ['owner']);
      assertProblem(await api('POST', '/tenants', yuki.accessToken, { name: 'Nope', slug: `nope-${process.pid}-${engine}`, parentId: enterprise }), 404, 'tenant_not_found');
      const yukisKey = await createKey(t, yuki.accessToken, tenantC, [...MGMT, 'api_keys.manage']);
      const minted = await createKey(t, yukisKey.secret, tenantC, ['tenant.read', 'tenants.create_child']);
      for (const secret of [yukisKey.secret, minted.secret]) {
        const refused = await api('POST', '/tenants', secret, { name: 'Sibling', slug: `yuki-sibling-${process.pid}-${engine}`, parentId: enterprise });
        assertProblem(refused, 403, 'forbidden');
        assert.match(refused.json().detail, /the person this key acts for may not create tenants under/);
      }
      // A child of the key's own tenant is Yuki's to make.
      assert.equal((await api('POST', '/tenants', yukisKey.secret, { name: 'Yuki child', slug: `yuki-child-${process.pid}-${engine}`, parentId: tenantC })).statusCode, 201);
    });

    it('creates children of its own tenant, but no roots and nothing elsewhere', async () => {
      const child = await api('POST', '/tenants', key.secret, { name: 'A child', slug: `a-child-${process.pid}-${engine}`, parentId: tenantA });
      assert.equal(child.statusCode, 201, child.body);
      assertProblem(await api('POST', '/tenants', key.secret, { name: 'Root', slug: `root-${process.pid}-${engine}` }), 403, 'forbidden');
      const stranger = await signUp(t);
      assertProblem(
        await api('POST', '/tenants', key.secret, { name: 'Elsewhere', slug: `elsewhere-${process.pid}-${engine}`, parentId: stranger.tenantId }),
        404,
        'tenant_not_found',
      );
      assertProblem(await api('POST', '/tenants', key.secret, { name: 'Below', slug: `below-${process.pid}-${engine}`, parentId: child.json().id }), 404, 'tenant_not_found');
    });

    it('invites, re-roles and removes members through the people endpoints', async () => {
      const narrow = await createKey(t, owner.accessToken, tenantA, MGMT);
      const beyond = await api('POST', `/tenants/${tenantA}/invitations`, narrow.secret, { email: uniqueEmail('invitee'), roles: ['member'] });
      assertProblem(beyond, 403, 'forbidden');
      assert.deepEqual(beyond.json().missingPermissions, [...OPERATIONS].sort());

      const invited = await api('POST', `/tenants/${tenantA}/invitations`, key.secret, { email: uniqueEmail('invitee'), roles: ['member'] });
      assert.equal(invited.statusCode, 201, invited.body);
      assert.equal(invited.json().invitedBy, null);

      const colleague = await signUp(t);
      await join(t, tenantA, colleague.userId, ['member']);
      const token = await machineToken(t, key);
      const changed = await api('PATCH', `/tenants/${tenantA}/members/${colleague.userId}`, token, { roles: ['data_manager'] });
      assert.equal(changed.statusCode, 200, changed.body);
      assert.deepEqual(changed.json().member.roles, ['data_manager']);
      // Nothing beyond the key's own permissions: the owner role grants everything.
      assertProblem(await api('PATCH', `/tenants/${tenantA}/members/${colleague.userId}`, token, { roles: ['owner'] }), 403, 'forbidden');
      assert.equal((await api('DELETE', `/tenants/${tenantA}/members/${colleague.userId}`, key.secret)).statusCode, 204);
      const roster = await api('GET', `/tenants/${tenantA}/members`, key.secret);
      assert.deepEqual(
        roster.json().members.map((m: { userId: string }) => m.userId),
        [owner.userId],
      );
    });

    // Issue 11 item 7: this was 401 invalid_api_key; the key is valid, its tenant lacks the add-on, so it is a 403 naming it.
    it('refuses the key and its tokens with 403 feature_disabled naming mgmt_api the moment the add-on is switched off, and takes them back when it is on', async () => {
      const token = await machineToken(t, key);
      await setMgmtApi(false);
      for (const [credential, valid] of [
        [key.secret, `the API key ${key.id} is valid`],
        [token, `the machine token and its API key ${key.id} are valid`],
      ] as const) {
        const res = await api('GET', `/tenants/${tenantA}/members`, credential);
        assertProblem(res, 403, 'feature_disabled');
        assert.deepEqual([res.json().feature, res.json().tenantId], ['mgmt_api', tenantA]);
        assert.equal(res.json().detail, `${valid}, but API keys need the mgmt_api feature, which is off for tenant ${tenantA}`);
        assert.equal(res.headers['www-authenticate'], undefined);
      }
      const exchange = await t.app.inject({ method: 'POST', url: '/api/v1/oauth/token', payload: { grant_type: 'client_credentials', client_secret: key.secret } });
      assert.equal(exchange.statusCode, 403, exchange.body);
      assert.deepEqual([exchange.json().code, exchange.json().error, exchange.json().feature], ['feature_disabled', 'unauthorized_client', 'mgmt_api']);
      // Not a valid key is still 401, add-on or not.
      assertOAuthError(
        await t.app.inject({
          method: 'POST',
          url: '/api/v1/oauth/token',
          payload: { grant_type: 'client_credentials', client_secret: `${key.secret.slice(0, -1)}${key.secret.endsWith('a') ? 'b' : 'a'}` },
        }),
        401,
        'invalid_client',
      );
      await setMgmtApi(true);
      for (const credential of [key.secret, token]) assert.equal((await api('GET', `/tenants/${tenantA}/members`, credential)).statusCode, 200);
    });
  });
}

for (const engine of testEngines()) {
  describe(`mqtt-portal API keys when the licence stops covering mgmt_api [${engine}]`, () => {
    let t: TestApp;
    let dir: string;
    let file: string;
    let owner: SignedUp;

    before(async () => {
      dir = await mkdtemp(path.join(tmpdir(), 'tenantry-key-licence-'));
      file = path.join(dir, 'licence.json');
      await writeFile(file, JSON.stringify({ licensee: 'Acme IoT', features: ['mgmt_api'] }));
      t = await createTestApp(engine, { env: { TENANTRY_PRESET: 'mqtt-portal', TENANTRY_LICENCE_FILE: file, TENANTRY_AUTH_RATE_LIMIT: '1000' } });
      owner = await signUp(t);
    });
    after(async () => {
      await t.close();
      await rm(dir, { recursive: true, force: true });
    });

    it('refuses a valid key with 403 feature_disabled naming mgmt_api while the licence leaves it out, though the tenant has it on', async () => {
      const on = await t.app.inject({
        method: 'PUT',
        url: `/api/v1/tenants/${owner.tenantId}/features`,
        headers: bearer(owner.accessToken),
        payload: { features: { mgmt_api: true } },
      });
      assert.equal(on.statusCode, 200, on.body);
      const key = await createKey(t, owner.accessToken, owner.tenantId, ['members.read']);
      const token = await machineToken(t, key);
      const members = (credential: string) => t.app.inject({ url: `/api/v1/tenants/${owner.tenantId}/members`, headers: bearer(credential) });

      await writeFile(file, JSON.stringify({ licensee: 'Acme IoT', features: [] }));
      assert.equal(await t.app.services.licence.refresh(), true);
      for (const credential of [key.secret, token]) {
        const res = await members(credential);
        assertProblem(res, 403, 'feature_disabled');
        assert.equal(res.json().feature, 'mgmt_api');
        assert.match(res.json().detail, /(is|are) valid, but API keys need the mgmt_api feature, which the licence does not cover$/);
      }

      await writeFile(file, JSON.stringify({ licensee: 'Acme IoT', features: '*' }));
      assert.equal(await t.app.services.licence.refresh(), true);
      for (const credential of [key.secret, token]) assert.equal((await members(credential)).statusCode, 200);
    });
  });
}
