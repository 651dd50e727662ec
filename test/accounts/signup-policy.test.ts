import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { readSystem } from '../../src/platform/db/context.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { testEngines } from '../helpers/database.ts';
import { seedTenant } from '../helpers/tenants.ts';
import { assertProblem, bearer, enrol, GOOD_PASSWORD, rootTenantOf, signUp, uniqueEmail } from '../helpers/users.ts';

/**
 * SPEC 4 "Sign-up", per preset: what sign-up creates is the preset's sign-up policy, and signing up through an
 * invitation link creates no tenant in any preset.
 */
const signup = (t: TestApp, payload: object) => t.app.inject({ method: 'POST', url: '/api/v1/auth/signup', payload: { password: GOOD_PASSWORD, ...payload } });
const countOf = async (t: TestApp, table: 'users' | 'tenants') =>
  Number(
    (
      await readSystem(t.database.db, (trx) =>
        trx
          .selectFrom(table)
          .select((eb) => eb.fn.countAll().as('n'))
          .executeTakeFirstOrThrow(),
      )
    ).n,
  );

for (const engine of testEngines()) {
  describe(`sign-up, personal policy [default, ${engine}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await createTestApp(engine, { env: { TENANTRY_AUTH_RATE_LIMIT: '1000' } });
    });
    after(() => t.close());

    it('creates a personal tenant named and slugged as asked, and refuses a taken slug creating nothing', async () => {
      const slug = `acme-${process.pid}-${engine}`;
      const res = await signup(t, { email: uniqueEmail(), name: 'Ann', tenantName: 'Acme', tenantSlug: slug });
      assert.equal(res.statusCode, 201, res.body);
      assert.deepEqual([res.json().tenant.name, res.json().tenant.slug, res.json().activeTenantId], ['Acme', slug, res.json().tenant.id]);
      assert.equal(res.json().enterprise, undefined);
      const [users, tenants] = [await countOf(t, 'users'), await countOf(t, 'tenants')];
      assertProblem(await signup(t, { email: uniqueEmail(), tenantSlug: slug }), 409, 'slug_taken');
      assert.deepEqual([await countOf(t, 'users'), await countOf(t, 'tenants')], [users, tenants]);
    });
  });

  describe(`sign-up, enterprise policy [mqtt-portal, seed 000, ${engine}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await createTestApp(engine, { env: { TENANTRY_PRESET: 'mqtt-portal', TENANTRY_AUTH_RATE_LIMIT: '1000' } });
    });
    after(() => t.close());

    it('provisions the enterprise and its first MQTT tenant below it, owned by the new person, and opens the portal on the tenant', async () => {
      const res = await signup(t, { email: uniqueEmail(), name: 'Erin', organizationName: 'Erin Industries', tenantName: 'Production' });
      assert.equal(res.statusCode, 201, res.body);
      const { tenant, enterprise, activeTenantId } = res.json();
      assert.deepEqual([enterprise.name, tenant.name, activeTenantId], ['Erin Industries', 'Production', tenant.id]);
      const detail = (await t.app.inject({ url: `/api/v1/tenants/${tenant.id}`, headers: bearer(res.json().accessToken) })).json();
      assert.deepEqual([detail.parentId, detail.path], [enterprise.id, [enterprise.id, tenant.id]]);
      const me = (await t.app.inject({ url: '/api/v1/auth/me', headers: bearer(res.json().accessToken) })).json();
      assert.deepEqual(me.authorization[tenant.id].roles, ['owner']);
      assert.deepEqual(me.authorization[enterprise.id].roles, ['owner']);
      // Seed 000: anyone with two or more tenants switches from the header.
      assert.equal(me.showTenantSwitcher, true);
    });

    it('lets an Owner create more tenants under the enterprise (siblings of the default one), and not a Member', async () => {
      const owner = await signUp(t, { name: 'Olive' });
      assert.ok(owner.enterpriseId);
      const sibling = await t.app.inject({
        method: 'POST',
        url: '/api/v1/tenants',
        headers: bearer(owner.accessToken),
        payload: { name: 'Staging', slug: `staging-${process.pid}-${engine}`, parentId: owner.enterpriseId },
      });
      assert.equal(sibling.statusCode, 201, sibling.body);
      assert.equal(sibling.json().parentId, owner.enterpriseId);
      const member = await enrol(t, owner.tenantId, ['member']);
      assertProblem(
        await t.app.inject({
          method: 'POST',
          url: '/api/v1/tenants',
          headers: bearer(member.accessToken),
          payload: { name: 'Mine', slug: `mine-${process.pid}-${engine}`, parentId: owner.enterpriseId },
        }),
        404,
        'tenant_not_found',
      );
    });
  });

  for (const preset of ['msp', 'company-tree'] as const) {
    describe(`sign-up, none policy [${preset}, ${engine}]`, () => {
      let t: TestApp;
      let open: TestApp;
      before(async () => {
        t = await createTestApp(engine, { env: { TENANTRY_PRESET: preset, TENANTRY_AUTH_RATE_LIMIT: '1000' } });
        open = await createTestApp(engine, { env: { TENANTRY_PRESET: preset, TENANTRY_AUTH_RATE_LIMIT: '1000', TENANTRY_OPEN_SIGNUP: 'true' } });
      });
      after(async () => {
        await t.close();
        await open.close();
      });

      it('refuses sign-up without an invitation, creating nothing', async () => {
        const [users, tenants] = [await countOf(t, 'users'), await countOf(t, 'tenants')];
        const res = await signup(t, { email: uniqueEmail() });
        assertProblem(res, 403, 'signup_closed');
        assert.match(res.json().detail, /invitation/);
        assert.deepEqual([await countOf(t, 'users'), await countOf(t, 'tenants')], [users, tenants]);
      });

      it('signs an invited person up into the inviting tenant, with no root tenant of their own', async () => {
        const root = preset === 'company-tree' ? await rootTenantOf(t) : (await seedRoot(t)).tenantId;
        const admin = await enrol(t, root, ['admin']);
        const email = uniqueEmail('invitee');
        const invited = await t.app.inject({
          method: 'POST',
          url: `/api/v1/tenants/${root}/invitations`,
          headers: bearer(admin.accessToken),
          payload: { email, roles: [preset === 'msp' ? 'agent' : 'technician'] },
        });
        assert.equal(invited.statusCode, 201, invited.body);
        const mails = await readSystem(t.database.db, (trx) => trx.selectFrom('outbox').select('payload').execute());
        const token = /tnr_inv_[A-Za-z0-9_-]{43}/.exec(JSON.stringify(mails.map((m) => m.payload).find((p) => JSON.stringify(p).includes(email))))?.[0] ?? '';
        const tenants = await countOf(t, 'tenants');
        const res = await signup(t, { email, invitationToken: token });
        assert.equal(res.statusCode, 201, res.body);
        assert.deepEqual([res.json().tenant.id, res.json().activeTenantId, res.json().user.emailVerified], [root, root, true]);
        assert.equal(await countOf(t, 'tenants'), tenants, 'no tenant created');
      });

      it('with open sign-up turned on by the operator, creates the account and no tenant', async () => {
        const tenants = await countOf(open, 'tenants');
        const res = await signup(open, { email: uniqueEmail() });
        assert.equal(res.statusCode, 201, res.body);
        assert.deepEqual([res.json().tenant, res.json().activeTenantId], [null, null]);
        assert.equal(await countOf(open, 'tenants'), tenants);
      });
    });
  }
}

/** msp has no root at first start: one organisation, as an operator would add it, owned by a seeded person. */
function seedRoot(t: TestApp): Promise<{ tenantId: string }> {
  return seedTenant(t.database, { name: 'Customer', ownerRole: 'super_admin' });
}
