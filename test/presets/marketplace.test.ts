import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { testEngines } from '../helpers/database.ts';
import { allowedPermissions, seatRoles } from '../helpers/roles.ts';
import { bearer, signUp } from '../helpers/users.ts';

/**
 * Seed 002's role table (the data marketplace) through the HTTP API: one signed-in member per role in
 * one tenant, each asking POST /check about itself for the whole permission catalogue.
 */
const ROLES = ['owner', 'admin', 'seller_manager', 'buyer_manager', 'operator', 'viewer'] as const;
type Role = (typeof ROLES)[number];

const OWNERSHIP = ['tenant.transfer_ownership', 'tenant.delete'];

for (const engine of testEngines()) {
  describe(`marketplace preset: seed 002's roles [${engine}]`, () => {
    let t: TestApp;
    let tenantId: string;
    let catalogue: string[];
    /** What each role holds in the tenant, per POST /check. */
    const held = new Map<Role, Set<string>>();

    before(async () => {
      t = await createTestApp(engine, { env: { TENANTRY_PRESET: 'marketplace', TENANTRY_AUTH_RATE_LIMIT: '1000' } });
      const owner = await signUp(t);
      tenantId = owner.tenantId;
      catalogue = (await t.app.inject({ url: '/api/v1/permissions', headers: bearer(owner.accessToken) })).json().permissions.map((p: { key: string }) => p.key);
      for (const [role, person] of await seatRoles(t, tenantId, ROLES, { ...owner, role: 'owner' })) {
        held.set(role, await allowedPermissions(t, person.accessToken, tenantId, catalogue));
      }
    });
    after(() => t.close());

    const holds = (role: Role) => held.get(role) ?? new Set<string>();
    const assertRow = (label: string, permissions: readonly string[], holders: readonly Role[]) => {
      for (const role of ROLES) {
        for (const permission of permissions) {
          assert.equal(holds(role).has(permission), holders.includes(role), `${label}: ${role} ${holders.includes(role) ? 'should' : 'should not'} hold ${permission}`);
        }
      }
    };
    const beyondReading = (role: Role) => [...holds(role)].filter((p) => !p.endsWith('.read')).sort();

    it('owner: full control, and the only one who transfers ownership or deletes the tenant', () => {
      assert.deepEqual([...holds('owner')].sort(), [...catalogue].sort());
      assertRow('transfer ownership / delete', OWNERSHIP, ['owner']);
    });

    it('admin: operational control over everything else, without ownership transfer or deletion', () => {
      assert.deepEqual([...holds('admin')].sort(), catalogue.filter((p) => !OWNERSHIP.includes(p)).sort());
      assertRow('run the tenant', ['tenant.update', 'members.invite', 'members.manage', 'roles.manage', 'billing.manage', 'audit.read'], ['owner', 'admin']);
    });

    it('seller_manager: dataset listings, pricing and provider analytics only', () => {
      assertRow('dataset listings and pricing', ['datasets.manage', 'pricing.manage'], ['owner', 'admin', 'seller_manager']);
      assert.equal(holds('seller_manager').has('provider_analytics.read'), true);
      assert.deepEqual(beyondReading('seller_manager'), ['datasets.manage', 'pricing.manage']);
      for (const p of ['entitlements.manage', 'api_keys.manage', 'usage.read', 'monitoring.read']) assert.equal(holds('seller_manager').has(p), false, p);
    });

    it('buyer_manager: buyer entitlements, API keys and usage monitoring', () => {
      assertRow('buyer entitlements and API keys', ['entitlements.manage', 'api_keys.manage'], ['owner', 'admin', 'buyer_manager']);
      assert.equal(holds('buyer_manager').has('usage.read'), true);
      assert.deepEqual(beyondReading('buyer_manager'), ['api_keys.manage', 'entitlements.manage']);
      for (const p of ['datasets.manage', 'pricing.manage', 'provider_analytics.read']) assert.equal(holds('buyer_manager').has(p), false, p);
    });

    it('operator: monitoring and usage, read only', () => {
      assert.equal(holds('operator').has('monitoring.read'), true);
      assert.equal(holds('operator').has('usage.read'), true);
      assert.deepEqual([...holds('operator')].sort(), ['monitoring.read', 'tenant.read', 'usage.read']);
    });

    it('viewer: reads tenant resources and dashboards, manages nothing', () => {
      assert.deepEqual(beyondReading('viewer'), []);
      for (const p of ['tenant.read', 'data.read']) assert.equal(holds('viewer').has(p), true, p);
      assert.equal(
        [...holds('viewer')].some((p) => p.endsWith('.manage')),
        false,
      );
    });
  });
}
