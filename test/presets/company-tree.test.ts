import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { testEngines } from '../helpers/database.ts';
import { signUpInvited } from '../helpers/invited.ts';
import { checkPermissions, type SeatedPerson } from '../helpers/roles.ts';
import { seedTenant } from '../helpers/tenants.ts';
import { bearer, enrol, rootTenantOf } from '../helpers/users.ts';

/**
 * Seed 004 (the B2B IoT company tree) through the HTTP API: the Main Company (there from the first start)
 * with a distributor below it and a dealer below that; Company Admin, Technician and End user signed in at
 * the Main Company (the admin enrolled there, the others invited by the admin); a custom role made from
 * catalogue permissions.
 */
const ROLES = ['admin', 'technician', 'end_user'] as const;
type Role = (typeof ROLES)[number];

for (const engine of testEngines()) {
  describe(`company-tree preset: seed 004's roles down the tree [${engine}]`, () => {
    let t: TestApp;
    let main: string;
    let distributor: string;
    let dealer: string;
    let distributorAdmin: string;
    let people: Map<Role, SeatedPerson>;
    const token = (role: Role) => people.get(role)?.accessToken ?? '';

    before(async () => {
      t = await createTestApp(engine, { env: { TENANTRY_PRESET: 'company-tree', TENANTRY_AUTH_RATE_LIMIT: '1000' } });
      main = await rootTenantOf(t);
      const admin = await enrol(t, main, ['admin'], { name: 'Main admin' });
      people = new Map<Role, SeatedPerson>([['admin', admin]]);
      for (const role of ROLES.filter((r) => r !== 'admin')) people.set(role, await signUpInvited(t, admin.accessToken, main, [role]));
      for (const [role, person] of people) {
        const me = (await t.app.inject({ url: '/api/v1/auth/me', headers: bearer(person.accessToken) })).json();
        assert.deepEqual([me.activeTenantId, me.authorization[main]?.roles], [main, [role]]);
      }
      // Each company below has its own admin; the Main Company's people hold nothing there directly.
      const d = await seedTenant(t.database, { name: 'Distributor', parentId: main, ownerRole: 'admin' });
      distributor = d.tenantId;
      distributorAdmin = d.ownerId;
      dealer = (await seedTenant(t.database, { name: 'Dealer', parentId: distributor, ownerRole: 'admin' })).tenantId;
    });
    after(() => t.close());

    async function assertHolds(role: Role, tenantId: string, expected: Record<string, boolean>): Promise<void> {
      const results = await checkPermissions(t, token(role), tenantId, Object.keys(expected));
      for (const [permission, want] of Object.entries(expected)) {
        assert.equal(results.get(permission)?.allowed, want, `${role} in ${tenantId === main ? 'Main' : tenantId}: ${permission} should be ${want ? 'allowed' : 'refused'}`);
      }
    }

    const ADMINISTRATION = ['tenant.update', 'members.invite', 'members.manage', 'roles.manage', 'tenants.create_child', 'approvals.decide'];

    it('Company Admin at the Main Company administers a company two levels below', async () => {
      const results = await checkPermissions(t, token('admin'), dealer, [...ADMINISTRATION, 'devices.manage']);
      for (const [permission, result] of results) {
        assert.equal(result.allowed, true, permission);
        assert.match(result.reason, new RegExp(`role admin held in ancestor tenant ${main}`));
      }
      // And acts on it through the API.
      const created = await t.app.inject({
        method: 'POST',
        url: `/api/v1/tenants/${dealer}/roles`,
        headers: bearer(token('admin')),
        payload: { key: 'installer', name: 'Installer', scope: 'tenant', permissions: ['tenant.read', 'devices.manage'] },
      });
      assert.equal(created.statusCode, 201, created.body);
    });

    it('the admin of a company below reaches nothing above it', async () => {
      const res = await t.app.inject({
        method: 'POST',
        url: '/api/v1/check',
        headers: bearer(token('admin')),
        payload: { subject: distributorAdmin, tenantId: main, permission: 'tenant.read' },
      });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.json().allowed, false);
      const below = await t.app.inject({
        method: 'POST',
        url: '/api/v1/check',
        headers: bearer(token('admin')),
        payload: { subject: distributorAdmin, tenantId: dealer, permission: 'members.manage' },
      });
      assert.equal(below.json().allowed, true);
    });

    it('Technician manages devices but not members, and only in their own company', async () => {
      await assertHolds('technician', main, {
        'devices.read': true,
        'devices.manage': true,
        'members.read': true,
        'members.invite': false,
        'members.manage': false,
        'roles.manage': false,
        'devices.use': false,
      });
      await assertHolds('technician', distributor, { 'devices.manage': false, 'tenant.read': false });
    });

    it('End user uses devices only', async () => {
      await assertHolds('end_user', main, {
        'devices.use': true,
        'devices.read': true,
        'devices.manage': false,
        'members.read': false,
        'members.invite': false,
        'tenant.update': false,
      });
      await assertHolds('end_user', dealer, { 'devices.use': false });
    });

    it('a custom role made from catalogue permissions works here and below', async () => {
      const created = await t.app.inject({
        method: 'POST',
        url: `/api/v1/tenants/${main}/roles`,
        headers: bearer(token('admin')),
        payload: { key: 'service_auditor', name: 'Service auditor', scope: 'tenant_and_descendants', permissions: ['tenant.read', 'devices.read', 'audit.read'] },
      });
      assert.equal(created.statusCode, 201, created.body);
      const auditor = await signUpInvited(t, token('admin'), main, ['service_auditor']);
      for (const tenantId of [main, distributor, dealer]) {
        const results = await checkPermissions(t, auditor.accessToken, tenantId, ['devices.read', 'audit.read', 'devices.manage', 'members.manage']);
        assert.deepEqual(
          [...results].map(([p, r]) => [p, r.allowed]),
          [
            ['devices.read', true],
            ['audit.read', true],
            ['devices.manage', false],
            ['members.manage', false],
          ],
        );
      }
      // The technician cannot make a role like it: they lack roles.manage.
      const refused = await t.app.inject({
        method: 'POST',
        url: `/api/v1/tenants/${main}/roles`,
        headers: bearer(token('technician')),
        payload: { key: 'helper', name: 'Helper', scope: 'tenant', permissions: ['devices.read'] },
      });
      assert.equal(refused.statusCode, 403, refused.body);
    });
  });
}
