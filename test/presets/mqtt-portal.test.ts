import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { testEngines } from '../helpers/database.ts';
import { allowedPermissions, type SeatedPerson, seatRoles } from '../helpers/roles.ts';
import { bearer, signUp } from '../helpers/users.ts';

/**
 * Seed 000's action table, row by row, through the HTTP API: each role is a real member of one tenant,
 * signed in with POST /auth/login, asking POST /check about itself.
 */
const ROLES = ['owner', 'member', 'data_manager'] as const;
type Role = (typeof ROLES)[number];

const TABLE: ReadonlyArray<{ action: string; permissions: string[]; allowed: Role[] }> = [
  { action: 'Change subscription or add-ons', permissions: ['billing.manage', 'features.manage'], allowed: ['owner'] },
  { action: 'Invite people or change roles', permissions: ['members.invite', 'members.manage', 'roles.manage'], allowed: ['owner'] },
  { action: 'Manage MQTT clients and subscriber tokens', permissions: ['mqtt_clients.manage', 'subscriber_tokens.manage'], allowed: ['owner', 'member'] },
];
const INFLUX_ROW = { action: 'Create Influx read tokens (add-on required)', permissions: ['influx_tokens.create'], allowed: ['owner', 'member', 'data_manager'] as Role[] };

for (const engine of testEngines()) {
  describe(`mqtt-portal preset: seed 000's role table [${engine}]`, () => {
    let t: TestApp;
    let tenantId: string;
    let people: Map<Role, SeatedPerson>;
    const token = (role: Role) => people.get(role)?.accessToken ?? '';

    before(async () => {
      t = await createTestApp(engine, { env: { TENANTRY_PRESET: 'mqtt-portal', TENANTRY_AUTH_RATE_LIMIT: '1000' } });
      const owner = await signUp(t);
      tenantId = owner.tenantId;
      people = await seatRoles(t, tenantId, ROLES, { ...owner, role: 'owner' });
    });
    after(() => t.close());

    /** The permissions among `permissions` that `role` holds in the tenant, per POST /check. */
    const allowed = (role: Role, permissions: readonly string[]) => allowedPermissions(t, token(role), tenantId, permissions);

    async function assertRow(row: { action: string; permissions: string[]; allowed: readonly Role[] }): Promise<void> {
      for (const role of ROLES) {
        const held = await allowed(role, row.permissions);
        for (const permission of row.permissions) {
          assert.equal(held.has(permission), row.allowed.includes(role), `"${row.action}": ${role} ${row.allowed.includes(role) ? 'should' : 'should not'} hold ${permission}`);
        }
      }
    }

    for (const row of TABLE) {
      it(`${row.action}: ${row.allowed.join(' and ')}`, () => assertRow(row));
    }

    it('Create Influx read tokens: nobody while the influx add-on is off, all three once the owner turns it on', async () => {
      await assertRow({ ...INFLUX_ROW, allowed: [] });
      const single = await t.app.inject({
        method: 'POST',
        url: '/api/v1/check',
        headers: bearer(token('data_manager')),
        payload: { tenantId, permission: 'influx_tokens.create' },
      });
      assert.deepEqual(single.json(), { allowed: false, reason: 'influx_tokens.create needs the feature influx, which is off for this tenant' });

      const on = await t.app.inject({ method: 'PUT', url: `/api/v1/tenants/${tenantId}/features`, headers: bearer(token('owner')), payload: { features: { influx: true } } });
      assert.equal(on.statusCode, 200, on.body);
      await assertRow(INFLUX_ROW);
      // Turning the add-on on changes nothing else in the table.
      for (const row of TABLE) await assertRow(row);

      const off = await t.app.inject({ method: 'PUT', url: `/api/v1/tenants/${tenantId}/features`, headers: bearer(token('owner')), payload: { features: { influx: false } } });
      assert.equal(off.statusCode, 200, off.body);
      await assertRow({ ...INFLUX_ROW, allowed: [] });
    });

    it('Data Manager holds nothing beyond reading the tenant and Influx tokens', async () => {
      const everything = (await t.app.inject({ url: '/api/v1/permissions', headers: bearer(token('owner')) })).json().permissions.map((p: { key: string }) => p.key);
      assert.deepEqual([...(await allowed('data_manager', everything))].sort(), ['tenant.read']);
      // With both add-ons off the owner lacks what they gate: Influx tokens, and API keys (the Mgmt REST API).
      const gated = ['influx_tokens.create', 'api_keys.manage'];
      assert.deepEqual([...(await allowed('owner', everything))].sort(), everything.filter((p: string) => !gated.includes(p)).sort());
    });
  });
}
