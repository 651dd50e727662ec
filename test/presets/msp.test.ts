import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createOperator } from '../../src/accounts/operator.service.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { testEngines } from '../helpers/database.ts';
import { signUpInvited } from '../helpers/invited.ts';
import { allowedPermissions, type SeatedPerson } from '../helpers/roles.ts';
import { bearer, GOOD_PASSWORD, signIn, uniqueEmail } from '../helpers/users.ts';

/**
 * Seed 001 (the MSP platform) through the HTTP API: one signed-in member per role in one tenant, each
 * asking POST /check about itself, while the tenant's features are switched as the seed describes. The
 * tenant is onboarded as the seed does it: the operator adds it, invites its administrator, who invites the rest.
 */
const ROLES = ['super_admin', 'admin', 'manager', 'agent', 'customer', 'vendor'] as const;
type Role = (typeof ROLES)[number];

const MODULES = ['helpdesk', 'crm', 'projects', 'rmm', 'kb', 'esign', 'marketing', 'assets', 'vault', 'meetings'] as const;
const EVERY_MODULE: readonly Role[] = ['super_admin', 'admin', 'manager'];
/** Who works in each module while it is on. */
const MODULE_USERS: Record<(typeof MODULES)[number], readonly Role[]> = {
  helpdesk: [...EVERY_MODULE, 'agent', 'customer'],
  crm: EVERY_MODULE,
  projects: [...EVERY_MODULE, 'agent', 'vendor'],
  rmm: [...EVERY_MODULE, 'agent'],
  kb: [...EVERY_MODULE, 'agent', 'customer'],
  esign: EVERY_MODULE,
  marketing: EVERY_MODULE,
  assets: [...EVERY_MODULE, 'agent'],
  vault: EVERY_MODULE,
  meetings: [...EVERY_MODULE, 'agent'],
};
const ADMINISTER = ['members.manage', 'features.manage', 'tenants.create_child'];

for (const engine of testEngines()) {
  describe(`msp preset: seed 001's roles and per-tenant features [${engine}]`, () => {
    let t: TestApp;
    let tenantId: string;
    let people: Map<Role, SeatedPerson>;
    const token = (role: Role) => people.get(role)?.accessToken ?? '';

    before(async () => {
      t = await createTestApp(engine, { env: { TENANTRY_PRESET: 'msp', TENANTRY_AUTH_RATE_LIMIT: '1000' } });
      const email = uniqueEmail('operator');
      await createOperator({ db: t.database.db, clock: t.clock, ownerRole: 'super_admin' }, { email, password: GOOD_PASSWORD, name: 'Olga' });
      const operator = (await signIn(t, email)).accessToken;
      const added = await t.app.inject({ method: 'POST', url: '/api/v1/tenants', headers: bearer(operator), payload: { name: 'Acme Ltd', slug: `acme-${process.pid}-${engine}` } });
      assert.equal(added.statusCode, 201, added.body);
      tenantId = added.json().id;
      const admin = await signUpInvited(t, operator, tenantId, ['super_admin']);
      const invited = new Map<Role, { userId: string; email: string; password: string }>([['super_admin', admin]]);
      for (const role of ROLES.filter((r) => r !== 'super_admin')) invited.set(role, await signUpInvited(t, admin.accessToken, tenantId, [role]));
      // Each signs in on the tenant, holding exactly the invited role there.
      people = new Map<Role, SeatedPerson>();
      for (const [role, { userId, email: address, password }] of invited) {
        const res = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: address, password, tenantId } });
        assert.equal(res.statusCode, 200, res.body);
        assert.deepEqual(res.json().tenants.find((x: { tenantId: string }) => x.tenantId === tenantId)?.roles, [role]);
        people.set(role, { userId, email: address, password, accessToken: res.json().accessToken });
      }
    });
    after(() => t.close());

    const allowed = (role: Role, permissions: readonly string[]) => allowedPermissions(t, token(role), tenantId, permissions);

    async function assertRow(label: string, permissions: readonly string[], holders: readonly Role[]): Promise<void> {
      for (const role of ROLES) {
        const held = await allowed(role, permissions);
        for (const permission of permissions) {
          assert.equal(held.has(permission), holders.includes(role), `${label}: ${role} ${holders.includes(role) ? 'should' : 'should not'} hold ${permission}`);
        }
      }
    }

    async function setFeatures(features: Record<string, boolean>): Promise<void> {
      const res = await t.app.inject({ method: 'PUT', url: `/api/v1/tenants/${tenantId}/features`, headers: bearer(token('super_admin')), payload: { features } });
      assert.equal(res.statusCode, 200, res.body);
    }

    it('SUPER_ADMIN and ADMIN administer the tenant; MANAGER, AGENT, CUSTOMER and VENDOR do not', async () => {
      await assertRow('administer', ADMINISTER, ['super_admin', 'admin']);
      // ADMIN may delete tenants (seed 001: "shown only to ADMIN/SUPER_ADMIN"); ownership stays with SUPER_ADMIN.
      await assertRow('delete', ['tenant.delete'], ['super_admin', 'admin']);
      await assertRow('transfer', ['tenant.transfer_ownership'], ['super_admin']);
    });

    it('ADMIN may turn features on and off; MANAGER may not', async () => {
      const put = (role: Role) => t.app.inject({ method: 'PUT', url: `/api/v1/tenants/${tenantId}/features`, headers: bearer(token(role)), payload: { features: { crm: true } } });
      assert.equal((await put('admin')).statusCode, 200);
      assert.equal((await put('manager')).statusCode, 403);
    });

    it('refuses tenants.create_child to everyone while multi_tenant is off', async () => {
      await setFeatures({ multi_tenant: false });
      await assertRow('create tenants (multi_tenant off)', ['tenants.create_child'], []);
      // The rest of administration is unaffected.
      await assertRow('administer', ['members.manage', 'features.manage'], ['super_admin', 'admin']);
      await setFeatures({ multi_tenant: true });
      await assertRow('create tenants (multi_tenant on)', ['tenants.create_child'], ['super_admin', 'admin']);
    });

    for (const module of MODULES) {
      it(`${module}.use: ${MODULE_USERS[module].join(', ')} while ${module} is on; nobody while it is off`, async () => {
        await assertRow(`${module} on`, [`${module}.use`], MODULE_USERS[module]);
        await setFeatures({ [module]: false });
        await assertRow(`${module} off`, [`${module}.use`], []);
        // Only that module goes dark.
        const other = MODULES.find((m) => m !== module) ?? 'crm';
        await assertRow(`${other} still on`, [`${other}.use`], MODULE_USERS[other]);
        await setFeatures({ [module]: true });
        await assertRow(`${module} on again`, [`${module}.use`], MODULE_USERS[module]);
      });
    }

    it('a tenant with every module off still signs in and reads, but no module answers', async () => {
      await setFeatures(Object.fromEntries(MODULES.map((m) => [m, false])));
      await assertRow(
        'every module off',
        MODULES.map((m) => `${m}.use`),
        [],
      );
      await assertRow('reading the tenant', ['tenant.read'], ROLES);
      const customer = people.get('customer');
      const login = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: customer?.email, password: customer?.password, tenantId } });
      assert.equal(login.statusCode, 200, login.body);
      assert.equal(login.json().activeTenantId, tenantId);
      await setFeatures(Object.fromEntries(MODULES.map((m) => [m, true])));
      await assertRow('helpdesk back', ['helpdesk.use'], MODULE_USERS.helpdesk);
    });
  });
}
