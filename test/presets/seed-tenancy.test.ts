import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createOperator } from '../../src/accounts/operator.service.ts';
import { readSystem, readTenant } from '../../src/platform/db/context.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { testEngines } from '../helpers/database.ts';
import { assertProblem, bearer, enrol, GOOD_PASSWORD, join, rootTenantOf, type SignedUp, signIn, uniqueEmail } from '../helpers/users.ts';

/** Issue 11: the tenancy of seeds 004 (one Main Company at the root) and 001 (operators add customer organisations). */
type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';
const call = (t: TestApp, method: Method, url: string, token: string, payload?: object) =>
  t.app.inject({ method, url: `/api/v1${url}`, headers: bearer(token), ...(payload === undefined ? {} : { payload }) });

async function operatorOf(t: TestApp, ownerRole: string): Promise<SignedUp> {
  const email = uniqueEmail('operator');
  const created = await createOperator({ db: t.database.db, clock: t.clock, ownerRole }, { email, password: GOOD_PASSWORD, name: 'Olga' });
  const { accessToken, refreshToken } = await signIn(t, email);
  return { email, password: GOOD_PASSWORD, userId: created.user.id, tenantId: created.adminTenantId ?? '', accessToken, refreshToken };
}

const roots = (t: TestApp) =>
  readSystem(t.database.db, (trx) =>
    trx
      .selectFrom('tenant_tree as tt')
      .innerJoin('tenants as t', 't.id', 'tt.tenant_id')
      .select(['t.id', 't.name', 't.slug', 't.is_admin_tenancy', 't.platform_owned'])
      .where('tt.parent_id', 'is', null)
      .where('t.status', '!=', 'deleted')
      .execute(),
  );

for (const engine of testEngines()) {
  describe(`company tree: one Main Company, named at deployment [company-tree, seed 004, ${engine}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await createTestApp(engine, {
        env: { TENANTRY_PRESET: 'company-tree', TENANTRY_AUTH_RATE_LIMIT: '1000', TENANTRY_ROOT_TENANT_NAME: 'Acme Holding', TENANTRY_ROOT_TENANT_SLUG: `acme-${engine}` },
      });
    });
    after(() => t.close());

    it('has the Main Company from the first start, before any operator, as the only root', async () => {
      const found = await roots(t);
      assert.deepEqual(
        found.map((r) => [r.name, r.slug, r.is_admin_tenancy, r.platform_owned]),
        [['Acme Holding', `acme-${engine}`, true, true]],
      );
      const audit = await readTenant(t.database.db, found[0]?.id ?? '', (trx) => trx.selectFrom('audit_events').select(['action', 'actor_type']).execute());
      assert.deepEqual(
        audit.map((e) => [e.action, e.actor_type]),
        [['tenant.created', 'system']],
      );
    });

    it("tells the portal, before sign-in, the seed's words, its closed sign-up, the single root and the deletion grace", async () => {
      const res = await t.app.inject({ method: 'GET', url: '/api/v1/portal' });
      assert.equal(res.statusCode, 200, res.body);
      const info = res.json();
      assert.deepEqual([info.preset, info.labels.tenant, info.signupOpen, info.singleRoot, info.deletionGraceDays], ['company-tree', 'Company', false, true, 30]);
    });

    it('lets the operator, once bootstrapped, administer the Main Company rather than making another root', async () => {
      const operator = await operatorOf(t, 'admin');
      const main = await rootTenantOf(t);
      assert.equal(operator.tenantId, main);
      assert.equal((await roots(t)).length, 1);
      const members = (await call(t, 'GET', `/tenants/${main}/members`, operator.accessToken)).json().members;
      assert.deepEqual(
        members.map((m: { userId: string; roles: string[] }) => [m.userId, m.roles]),
        [[operator.userId, ['admin']]],
      );
    });

    it('refuses a company admin a second root, or detaching a company to the root level; a platform super admin may', async () => {
      const main = await rootTenantOf(t);
      const admin = await enrol(t, main, ['admin']);
      const refused = await call(t, 'POST', '/tenants', admin.accessToken, { name: 'Rival', slug: `rival-${process.pid}-${engine}` });
      assertProblem(refused, 403, 'single_root');
      const company = await call(t, 'POST', '/tenants', admin.accessToken, { name: 'Distributor', slug: `dist-${process.pid}-${engine}`, parentId: main });
      assert.equal(company.statusCode, 201, company.body);
      assertProblem(await call(t, 'PATCH', `/tenants/${company.json().id}`, admin.accessToken, { parentId: null }), 403, 'single_root');
      assert.equal((await roots(t)).length, 1);

      const operator = await operatorOf(t, 'admin');
      const second = await call(t, 'POST', '/tenants', operator.accessToken, { name: 'Partner', slug: `partner-${process.pid}-${engine}` });
      assert.equal(second.statusCode, 201, second.body);
      assert.equal((await roots(t)).length, 2);
    });
  });

  describe(`msp: operators add customer organisations [msp, seed 001, ${engine}]`, () => {
    let t: TestApp;
    let dir: string;
    let licence: string;
    let operator: SignedUp;
    before(async () => {
      dir = await mkdtemp(path.join(tmpdir(), 'tenantry-msp-'));
      licence = path.join(dir, 'licence.json');
      await writeFile(licence, JSON.stringify({ licensee: 'KW Group', features: '*', tenantLimit: null }));
      t = await createTestApp(engine, { env: { TENANTRY_PRESET: 'msp', TENANTRY_AUTH_RATE_LIMIT: '1000', TENANTRY_LICENCE_FILE: licence } });
      operator = await operatorOf(t, 'super_admin');
    });
    after(async () => {
      await t.close();
      await rm(dir, { recursive: true, force: true });
    });

    it("adds a tenant the operator reaches through a shadow membership, never as a member in the customer's staff list", async () => {
      const res = await call(t, 'POST', '/tenants', operator.accessToken, { name: 'Acme Ltd', slug: `acme-${process.pid}-${engine}` });
      assert.equal(res.statusCode, 201, res.body);
      const acme = res.json().id;
      assert.deepEqual((await call(t, 'GET', `/tenants/${acme}/members`, operator.accessToken)).json().members, []);
      const me = (await call(t, 'GET', '/auth/me', operator.accessToken)).json();
      assert.deepEqual([me.authorization[acme]?.roles, me.authorization[acme]?.shadow], [['super_admin'], true]);
      // The customer's admin, invited later, sees only their own staff.
      const email = uniqueEmail('customer-admin');
      assert.equal((await call(t, 'POST', `/tenants/${acme}/invitations`, operator.accessToken, { email, roles: ['admin'] })).statusCode, 201);
      const customerAdmin = await enrol(t, acme, ['admin']);
      assert.deepEqual(
        (await call(t, 'GET', `/tenants/${acme}/members`, customerAdmin.accessToken)).json().members.map((m: { userId: string }) => m.userId),
        [customerAdmin.userId],
      );
    });

    it('lets an ADMIN of the admin tenancy delete a tenant, as the seed shows the Delete button to ADMIN and SUPER_ADMIN', async () => {
      const admin = await enrol(t, operator.tenantId, ['admin']);
      const res = await call(t, 'POST', '/tenants', operator.accessToken, { name: 'Beta Co', slug: `beta-${process.pid}-${engine}` });
      assert.equal(res.statusCode, 201, res.body);
      // Staff at the tenant's creation get their shadow access; the admin joined before it.
      const deleted = await call(t, 'DELETE', `/tenants/${res.json().id}`, admin.accessToken, { confirm: res.json().slug });
      assert.equal(deleted.statusCode, 200, deleted.body);
      assert.equal(deleted.json().status, 'deleted');
    });

    it('shows the tenant switcher to operators with two or more tenants, and not to a customer in two organisations', async () => {
      const login = (email: string) => t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email, password: GOOD_PASSWORD } });
      const me = async (token: string) => (await call(t, 'GET', '/auth/me', token)).json();
      assert.equal((await login(operator.email)).json().showTenantSwitcher, true);
      assert.equal((await me(operator.accessToken)).showTenantSwitcher, true);
      const [one, two] = [
        await call(t, 'POST', '/tenants', operator.accessToken, { name: 'One', slug: `one-${process.pid}-${engine}` }),
        await call(t, 'POST', '/tenants', operator.accessToken, { name: 'Two', slug: `two-${process.pid}-${engine}` }),
      ];
      const customer = await enrol(t, one.json().id, ['admin']);
      assert.equal((await login(customer.email)).json().showTenantSwitcher, false, 'one organisation');
      await join(t, two.json().id, customer.userId, ['customer']);
      const signedIn = (await login(customer.email)).json();
      assert.deepEqual([signedIn.tenants.length, signedIn.showTenantSwitcher], [2, false], 'a customer is not shown the switcher');
      assert.equal((await me(signedIn.accessToken)).showTenantSwitcher, false);
    });

    it('refuses to create tenants while the licence does not cover multi_tenant', async () => {
      await writeFile(licence, JSON.stringify({ licensee: 'KW Group', features: ['helpdesk', 'crm'], tenantLimit: null }));
      assert.equal(await t.app.services.licence.refresh(), true);
      try {
        const refused = await call(t, 'POST', '/tenants', operator.accessToken, { name: 'Gamma', slug: `gamma-${process.pid}-${engine}` });
        assertProblem(refused, 409, 'feature_not_licensed');
        assert.match(refused.json().detail, /multi_tenant/);
      } finally {
        await writeFile(licence, JSON.stringify({ licensee: 'KW Group', features: '*', tenantLimit: null }));
        await t.app.services.licence.refresh();
      }
    });
  });
}
