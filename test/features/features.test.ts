import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { readTenant, withTenant } from '../../src/platform/db/context.ts';
import { insertMembership } from '../../src/members/memberships.repository.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { testEngines } from '../helpers/database.ts';
import { assertProblem, bearer, signUp, type SignedUp } from '../helpers/users.ts';

const OFF_BY_DEFAULT = [
  { key: 'influx', name: 'InfluxDB integration', description: 'Add-on: InfluxDB read tokens for MQTT history', enabled: false, default: false, licensed: true },
  {
    key: 'mgmt_api',
    name: 'Mgmt REST API',
    description: 'Add-on: manage sibling tenants and members programmatically with a portal REST token',
    enabled: false,
    default: false,
    licensed: true,
  },
];

for (const engine of testEngines()) {
  describe(`per-tenant features (mqtt-portal preset) [${engine}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await createTestApp(engine, { env: { TENANTRY_PRESET: 'mqtt-portal', TENANTRY_AUTH_RATE_LIMIT: '1000' } });
    });
    after(() => t.close());

    const features = (tenantId: string) => `/api/v1/tenants/${tenantId}/features`;
    const put = (tenantId: string, token: string, body: object) => t.app.inject({ method: 'PUT', url: features(tenantId), headers: bearer(token), payload: body });
    const get = (tenantId: string, token: string) => t.app.inject({ url: features(tenantId), headers: bearer(token) });
    async function addMember(tenantId: string, roles: string[]): Promise<SignedUp> {
      const user = await signUp(t);
      await withTenant(t.database.db, tenantId, (trx) => insertMembership(trx, { tenantId, userId: user.userId, kind: 'direct', roles, now: t.clock.now() }));
      return user;
    }
    const canCreateInfluxToken = async (user: SignedUp, tenantId: string) => {
      const res = await t.app.inject({ method: 'POST', url: '/api/v1/check', headers: bearer(user.accessToken), payload: { tenantId, permission: 'influx_tokens.create' } });
      assert.equal(res.statusCode, 200, res.body);
      return res.json() as { allowed: boolean; reason: string };
    };
    const stored = (tenantId: string) =>
      readTenant(t.database.db, tenantId, async (trx) => ({
        overrides: await trx.selectFrom('tenant_features').select(['feature', 'enabled']).where('tenant_id', '=', tenantId).orderBy('feature').execute(),
        audit: await trx.selectFrom('audit_events').select(['seq', 'action', 'before', 'after']).where('tenant_id', '=', tenantId).orderBy('seq').execute(),
      }));

    it('lists the preset features with their defaults; tenant.read suffices', async () => {
      const owner = await signUp(t);
      const res = await get(owner.tenantId, owner.accessToken);
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(res.json(), { features: OFF_BY_DEFAULT });
      const dataManager = await addMember(owner.tenantId, ['data_manager']);
      assert.equal((await get(owner.tenantId, dataManager.accessToken)).statusCode, 200);
    });

    it('lists the application permissions with the feature they need', async () => {
      const owner = await signUp(t);
      const { permissions } = (await t.app.inject({ url: '/api/v1/permissions', headers: bearer(owner.accessToken) })).json();
      assert.deepEqual(
        permissions.filter((p: { source: string }) => p.source === 'application'),
        [
          { key: 'mqtt_clients.manage', description: 'Manage MQTT clients, pause and resume them', source: 'application', requiresFeature: null },
          { key: 'subscriber_tokens.manage', description: 'Manage read-only subscriber and MQTT/REST tokens', source: 'application', requiresFeature: null },
          { key: 'influx_tokens.create', description: 'Create InfluxDB read tokens', source: 'application', requiresFeature: 'influx' },
        ],
      );
    });

    it('switches influx_tokens.create on and off for the very next request', async () => {
      const owner = await signUp(t);
      const member = await addMember(owner.tenantId, ['member']);
      const off = await canCreateInfluxToken(member, owner.tenantId);
      assert.deepEqual(off, { allowed: false, reason: 'influx_tokens.create needs the feature influx, which is off for this tenant' });

      const on = await put(owner.tenantId, owner.accessToken, { features: { influx: true } });
      assert.equal(on.statusCode, 200, on.body);
      assert.deepEqual(
        on.json().features.map((f: { key: string; enabled: boolean }) => [f.key, f.enabled]),
        [
          ['influx', true],
          ['mgmt_api', false],
        ],
      );
      assert.equal((await canCreateInfluxToken(member, owner.tenantId)).allowed, true);
      assert.deepEqual((await get(owner.tenantId, member.accessToken)).json().features[0].enabled, true);

      assert.equal((await put(owner.tenantId, owner.accessToken, { features: { influx: false } })).statusCode, 200);
      assert.equal((await canCreateInfluxToken(member, owner.tenantId)).allowed, false);
      assert.equal((await canCreateInfluxToken(owner, owner.tenantId)).allowed, false);

      const { overrides, audit } = await stored(owner.tenantId);
      // Back at the default, so no override is kept.
      assert.deepEqual(overrides, []);
      const events = audit.filter((e) => e.action === 'features.updated');
      assert.deepEqual(
        events.map((e) => [e.before, e.after]),
        [
          [
            { features: { influx: false, mgmt_api: false }, overrides: {} },
            { features: { influx: true, mgmt_api: false }, overrides: { influx: true } },
          ],
          [
            { features: { influx: true, mgmt_api: false }, overrides: { influx: true } },
            { features: { influx: false, mgmt_api: false }, overrides: {} },
          ],
        ],
      );
    });

    it('keeps a non-default choice as an override and writes nothing for a no-op', async () => {
      const owner = await signUp(t);
      await put(owner.tenantId, owner.accessToken, { features: { mgmt_api: true } });
      assert.deepEqual((await stored(owner.tenantId)).overrides, [{ feature: 'mgmt_api', enabled: true }]);
      const before = await stored(owner.tenantId);
      const again = await put(owner.tenantId, owner.accessToken, { features: { mgmt_api: true, influx: false } });
      assert.equal(again.statusCode, 200, again.body);
      assert.deepEqual(await stored(owner.tenantId), before);
      const empty = await put(owner.tenantId, owner.accessToken, { features: {} });
      assert.equal(empty.statusCode, 200, empty.body);
      assert.deepEqual(await stored(owner.tenantId), before);
    });

    it('refuses unknown features (422) and malformed bodies (400) without changing anything', async () => {
      const owner = await signUp(t);
      const before = await stored(owner.tenantId);
      const unknown = await put(owner.tenantId, owner.accessToken, { features: { influx: true, crm: true } });
      assertProblem(unknown, 422, 'unknown_feature');
      assert.deepEqual(unknown.json().unknownFeatures, ['crm']);
      assertProblem(await put(owner.tenantId, owner.accessToken, { features: { influx: 'yes' } }), 400, 'validation_failed');
      assertProblem(await put(owner.tenantId, owner.accessToken, { influx: true }), 400, 'validation_failed');
      assert.deepEqual(await stored(owner.tenantId), before);
    });

    it('needs features.manage: Member and Data Manager get 403', async () => {
      const owner = await signUp(t);
      for (const role of ['member', 'data_manager']) {
        const user = await addMember(owner.tenantId, [role]);
        assertProblem(await put(owner.tenantId, user.accessToken, { features: { influx: true } }), 403, 'forbidden');
      }
      assert.deepEqual((await stored(owner.tenantId)).overrides, []);
    });

    it('hides but never deletes: a custom role granting a feature-bound permission survives turning it off', async () => {
      const owner = await signUp(t);
      await put(owner.tenantId, owner.accessToken, { features: { influx: true } });
      const created = await t.app.inject({
        method: 'POST',
        url: `/api/v1/tenants/${owner.tenantId}/roles`,
        headers: bearer(owner.accessToken),
        payload: { key: 'influx_reader', name: 'Influx reader', scope: 'tenant', permissions: ['tenant.read', 'influx_tokens.create'] },
      });
      assert.equal(created.statusCode, 201, created.body);
      const reader = await addMember(owner.tenantId, ['influx_reader']);
      assert.equal((await canCreateInfluxToken(reader, owner.tenantId)).allowed, true);
      await put(owner.tenantId, owner.accessToken, { features: { influx: false } });
      assert.equal((await canCreateInfluxToken(reader, owner.tenantId)).allowed, false);
      const roles = (await t.app.inject({ url: `/api/v1/tenants/${owner.tenantId}/roles`, headers: bearer(owner.accessToken) })).json().roles;
      assert.deepEqual(roles.find((r: { key: string }) => r.key === 'influx_reader').permissions, ['influx_tokens.create', 'tenant.read']);
      await put(owner.tenantId, owner.accessToken, { features: { influx: true } });
      assert.equal((await canCreateInfluxToken(reader, owner.tenantId)).allowed, true);
    });

    it('answers 404 to a member of another tenant and changes nothing there', async () => {
      const a = await signUp(t);
      const b = await signUp(t);
      await put(b.tenantId, b.accessToken, { features: { mgmt_api: true } });
      const before = await stored(b.tenantId);
      assertProblem(await get(b.tenantId, a.accessToken), 404, 'tenant_not_found');
      assertProblem(await put(b.tenantId, a.accessToken, { features: { influx: true, mgmt_api: false } }), 404, 'tenant_not_found');
      assertProblem(await put(b.tenantId, a.accessToken, { features: { nonsense: true } }), 404, 'tenant_not_found');
      assert.deepEqual(await stored(b.tenantId), before);
      // The intruder's own tenant is untouched too.
      assert.deepEqual((await stored(a.tenantId)).overrides, []);
    });
  });
}
