import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PGlite } from '@electric-sql/pglite';
import { sql } from 'kysely';
import { createOperator } from '../../src/accounts/operator.service.ts';
import { makeAdminTenancy } from '../../src/admin/admin.service.ts';
import { readTenant, withTenant } from '../../src/platform/db/context.ts';
import { newTenantId } from '../../src/platform/ids.ts';
import { INVALIDATE_CHANNEL } from '../../src/permissions/access-resolver.ts';
import { openDatabase } from '../../src/platform/db/database.ts';
import { createMigrator } from '../../src/platform/db/migrator.ts';
import { applyPresetSettings, writePlatformSettings } from '../../src/presets/apply.ts';
import { loadPreset } from '../../src/presets/presets.ts';
import { insertMembership } from '../../src/members/memberships.repository.ts';
import { grantOperatorShadows } from '../../src/tenants/operator-access.ts';
import { insertTenant } from '../../src/tenants/tenants.repository.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { testEngines } from '../helpers/database.ts';
import { seedTenant } from '../helpers/tenants.ts';
import { bearer, enrol, GOOD_PASSWORD, signIn, uniqueEmail } from '../helpers/users.ts';

/**
 * Issue 10, item 4, in the database (migration 0013): whatever path changes someone's membership or roles in the
 * admin tenancy — raw SQL included — their shadow memberships follow at commit, the permission caches of every
 * process hear of it, and a tenant being created at that moment cannot keep a shadow membership for them.
 */
const SYSTEM = { actorType: 'system' as const, actorId: null, requestId: null, ip: null };
const MSP_STAFF = 'super_admin,admin,manager,agent';

for (const engine of testEngines()) {
  describe(`shadow access follows the admin tenancy in the database [${engine}]`, () => {
    let t: TestApp;
    let adminTenancy: string;
    let operatorToken: string;

    before(async () => {
      t = await createTestApp(engine, { env: { TENANTRY_PRESET: 'msp', TENANTRY_AUTH_RATE_LIMIT: '1000' } });
      const email = uniqueEmail('operator');
      const created = await createOperator({ db: t.database.db, clock: t.clock, ownerRole: 'super_admin' }, { email, password: GOOD_PASSWORD });
      adminTenancy = created.adminTenantId ?? '';
      operatorToken = (await signIn(t, email)).accessToken;
    });
    after(() => t.close());

    /** A customer's tenant, as the operator adds it (POST /tenants): every staffer gets a shadow membership. */
    let counter = 0;
    async function customerTenant(): Promise<string> {
      counter += 1;
      const res = await t.app.inject({
        method: 'POST',
        url: '/api/v1/tenants',
        headers: bearer(operatorToken),
        payload: { name: `Customer ${counter}`, slug: `sync-${process.pid}-${engine}-${counter}` },
      });
      assert.equal(res.statusCode, 201, res.body);
      return res.json().id;
    }

    /** A new person on the admin tenancy's staff with `roles`, and a tenant created afterwards (where they are shadowed). */
    async function staffer(roles: string[]): Promise<{ userId: string; tenantId: string }> {
      const { userId } = await enrol(t, adminTenancy, roles);
      return { userId, tenantId: await customerTenant() };
    }

    const shadowRoles = (tenantId: string, userId: string) =>
      readTenant(t.database.db, tenantId, async (trx) => {
        const membership = await trx.selectFrom('memberships').select('kind').where('tenant_id', '=', tenantId).where('user_id', '=', userId).executeTakeFirst();
        if (membership === undefined) return null;
        assert.equal(membership.kind, 'shadow');
        return (await trx.selectFrom('membership_roles').select('role_key').where('tenant_id', '=', tenantId).where('user_id', '=', userId).orderBy('role_key').execute()).map(
          (r) => r.role_key,
        );
      });

    const inAdminTenancy = (fn: Parameters<typeof withTenant>[2]) => withTenant(t.database.db, adminTenancy, fn);

    it('follows role changes made by plain SQL at commit, judging a role set replaced by delete-then-insert as it ends', async () => {
      const { userId, tenantId } = await staffer(['agent']);
      assert.deepEqual(await shadowRoles(tenantId, userId), ['agent']);

      await inAdminTenancy((trx) => trx.updateTable('membership_roles').set({ role_key: 'manager' }).where('tenant_id', '=', adminTenancy).where('user_id', '=', userId).execute());
      assert.deepEqual(await shadowRoles(tenantId, userId), ['manager']);

      // For a moment in this transaction Sam holds no role at all: that moment must not end his shadow access.
      await inAdminTenancy(async (trx) => {
        await trx.deleteFrom('membership_roles').where('tenant_id', '=', adminTenancy).where('user_id', '=', userId).execute();
        await trx
          .insertInto('membership_roles')
          .values([
            { tenant_id: adminTenancy, user_id: userId, role_key: 'admin' },
            { tenant_id: adminTenancy, user_id: userId, role_key: 'customer' },
          ])
          .execute();
      });
      assert.deepEqual(await shadowRoles(tenantId, userId), ['admin', 'customer']);

      await inAdminTenancy((trx) =>
        trx.deleteFrom('membership_roles').where('tenant_id', '=', adminTenancy).where('user_id', '=', userId).where('role_key', '=', 'admin').execute(),
      );
      assert.equal(await shadowRoles(tenantId, userId), null, 'CUSTOMER alone is not staff');
    });

    it('ends every shadow membership of someone deleted from the admin tenancy by plain SQL, and notifies every process for each tenant', async () => {
      const { userId, tenantId } = await staffer(['admin']);
      const other = await customerTenant();
      const heard: string[] = [];
      const stop = await t.database.listen(
        INVALIDATE_CHANNEL,
        (scope) => heard.push(scope),
        () => undefined,
      );
      try {
        await inAdminTenancy((trx) => trx.deleteFrom('memberships').where('tenant_id', '=', adminTenancy).where('user_id', '=', userId).execute());
        assert.equal(await shadowRoles(tenantId, userId), null);
        assert.equal(await shadowRoles(other, userId), null);
        const deadline = Date.now() + 2000;
        while (!(heard.includes(tenantId) && heard.includes(other)) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
        assert.ok(heard.includes(tenantId) && heard.includes(other), `NOTIFY for both tenants, heard ${heard.join(' ')}`);
      } finally {
        await stop();
      }
    });

    it("re-syncs everyone when the preset's staff roles change", async () => {
      const { userId, tenantId } = await staffer(['agent']);
      try {
        await writePlatformSettings(t.database, { staff_roles: 'super_admin,admin' });
        assert.equal(await shadowRoles(tenantId, userId), null);
      } finally {
        await writePlatformSettings(t.database, { staff_roles: MSP_STAFF });
      }
    });

    it('lets what a former admin tenancy granted narrow, never widen, while its holders stay staff there', async () => {
      const { userId, tenantId } = await staffer(['agent']);
      const deps = { db: t.database.db, clock: t.clock };
      await makeAdminTenancy(deps, (await seedTenant(t.database, { name: 'Elsewhere', ownerRole: 'super_admin' })).tenantId, SYSTEM);
      try {
        await inAdminTenancy((trx) => trx.insertInto('membership_roles').values({ tenant_id: adminTenancy, user_id: userId, role_key: 'admin' }).execute());
        assert.deepEqual(await shadowRoles(tenantId, userId), ['agent'], 'no longer the admin tenancy: a promotion there widens nothing');
        await inAdminTenancy((trx) =>
          trx.deleteFrom('membership_roles').where('tenant_id', '=', adminTenancy).where('user_id', '=', userId).where('role_key', '=', 'agent').execute(),
        );
        assert.equal(await shadowRoles(tenantId, userId), null, 'nothing left of what it granted');
      } finally {
        await makeAdminTenancy(deps, adminTenancy, SYSTEM);
      }
    });

    it('leaves a shadow membership that became direct (an accepted invitation) alone', async () => {
      const { userId, tenantId } = await staffer(['agent']);
      await withTenant(t.database.db, tenantId, (trx) =>
        trx.updateTable('memberships').set({ kind: 'direct' }).where('tenant_id', '=', tenantId).where('user_id', '=', userId).execute(),
      );
      await inAdminTenancy((trx) => trx.deleteFrom('memberships').where('tenant_id', '=', adminTenancy).where('user_id', '=', userId).execute());
      const row = await readTenant(t.database.db, tenantId, (trx) =>
        trx.selectFrom('memberships').select(['kind', 'shadow_of']).where('tenant_id', '=', tenantId).where('user_id', '=', userId).executeTakeFirst(),
      );
      assert.deepEqual(row, { kind: 'direct', shadow_of: null });
    });

    if (engine === 'postgres') {
      it('a tenant created while its staffer is being removed keeps no shadow membership for them', async () => {
        const { userId } = await staffer(['agent']);
        const owner = (await seedTenant(t.database, { name: 'Owner elsewhere', ownerRole: 'super_admin' })).ownerId;
        const id = newTenantId();
        let granted!: () => void;
        const grantedNow = new Promise<void>((resolve) => (granted = resolve));
        let release!: () => void;
        const released = new Promise<void>((resolve) => (release = resolve));
        // The creation reads the staff (holding the shared lock) and waits before committing.
        const creating = withTenant(t.database.db, id, async (trx) => {
          await insertTenant(trx, { id, slug: `race-${id}`, name: 'Race', parentId: null, now: t.clock.now() });
          await insertMembership(trx, { tenantId: id, userId: owner, kind: 'direct', roles: ['super_admin'], now: t.clock.now() });
          assert.ok((await grantOperatorShadows(trx, id, [owner], SYSTEM, t.clock.now())).includes(userId));
          granted();
          await released;
        });
        await grantedNow;
        // The removal commits meanwhile: its commit-time sync waits for the creation, then sees its shadow membership.
        const removing = inAdminTenancy((trx) => trx.deleteFrom('memberships').where('tenant_id', '=', adminTenancy).where('user_id', '=', userId).execute());
        await new Promise((resolve) => setTimeout(resolve, 100));
        release();
        await creating;
        await removing;
        assert.equal(await shadowRoles(id, userId), null);
      });
    }
  });
}

describe('upgrading an install that followed the old "primary tenant" rule (migration 0013) [pglite]', () => {
  it('keeps staff shadow memberships, ends those of people who were staff only by fallback, at the first start', async () => {
    const instance = await PGlite.create();
    const database = await openDatabase({ engine: 'pglite', instance });
    try {
      await database.withOwner(async (owner) => {
        const { error } = await createMigrator(owner).migrateTo('0012_restore_status');
        if (error !== undefined) throw error;
      });
      const at = '2026-01-01T00:00:00Z';
      // The install as 0006 left it: an operator, a staffer (admin), a vendor whose primary tenant fell back to the
      // admin tenancy, and a customer tenant created afterwards, with a shadow membership for each of them.
      await database.withOwner((root) =>
        root.transaction().execute(async (owner) => {
          await sql`SELECT set_config('tenantry.system', 'on', true)`.execute(owner);
          await sql`INSERT INTO platform_settings VALUES ('owner_role', 'super_admin') ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`.execute(owner);
          await sql`INSERT INTO tenants (id, slug, name, is_admin_tenancy) VALUES ('taaaaaaaaaaaaaaa', 'admin', 'Admin', true), ('tbbbbbbbbbbbbbbb', 'acme', 'Acme', false)`.execute(
            owner,
          );
          await sql`INSERT INTO tenant_tree (tenant_id, parent_id) VALUES ('taaaaaaaaaaaaaaa', NULL), ('tbbbbbbbbbbbbbbb', NULL)`.execute(owner);
          await sql`
          INSERT INTO users (id, email, default_tenant_id, platform_role, updated_at) VALUES
            ('usr_operatoraaaaaaaaaaaa', 'op@x.test', 'taaaaaaaaaaaaaaa', 'super_admin', ${at}),
            ('usr_staffaaaaaaaaaaaaaaa', 'staff@x.test', NULL, NULL, ${at}),
            ('usr_vendoraaaaaaaaaaaaaa', 'vendor@x.test', NULL, NULL, ${at}),
            ('usr_customeraaaaaaaaaaaa', 'customer@x.test', NULL, NULL, ${at})
        `.execute(owner);
          await sql`
          INSERT INTO memberships (tenant_id, user_id, kind) VALUES
            ('taaaaaaaaaaaaaaa', 'usr_operatoraaaaaaaaaaaa', 'direct'), ('taaaaaaaaaaaaaaa', 'usr_staffaaaaaaaaaaaaaaa', 'direct'),
            ('taaaaaaaaaaaaaaa', 'usr_vendoraaaaaaaaaaaaaa', 'direct'), ('tbbbbbbbbbbbbbbb', 'usr_customeraaaaaaaaaaaa', 'direct'),
            ('tbbbbbbbbbbbbbbb', 'usr_operatoraaaaaaaaaaaa', 'shadow'), ('tbbbbbbbbbbbbbbb', 'usr_staffaaaaaaaaaaaaaaa', 'shadow'),
            ('tbbbbbbbbbbbbbbb', 'usr_vendoraaaaaaaaaaaaaa', 'shadow')
        `.execute(owner);
          await sql`
          INSERT INTO membership_roles (tenant_id, user_id, role_key) VALUES
            ('taaaaaaaaaaaaaaa', 'usr_operatoraaaaaaaaaaaa', 'super_admin'), ('taaaaaaaaaaaaaaa', 'usr_staffaaaaaaaaaaaaaaa', 'admin'),
            ('taaaaaaaaaaaaaaa', 'usr_vendoraaaaaaaaaaaaaa', 'vendor'), ('tbbbbbbbbbbbbbbb', 'usr_customeraaaaaaaaaaaa', 'super_admin'),
            ('tbbbbbbbbbbbbbbb', 'usr_operatoraaaaaaaaaaaa', 'super_admin'), ('tbbbbbbbbbbbbbbb', 'usr_staffaaaaaaaaaaaaaaa', 'admin'),
            ('tbbbbbbbbbbbbbbb', 'usr_vendoraaaaaaaaaaaaaa', 'vendor')
        `.execute(owner);
        }),
      );
      await database.migrate();
      const shadows = () =>
        readTenant(database.db, 'tbbbbbbbbbbbbbbb', async (trx) =>
          (
            await trx
              .selectFrom('memberships')
              .select(['user_id', 'shadow_of'])
              .where('tenant_id', '=', 'tbbbbbbbbbbbbbbb')
              .where('kind', '=', 'shadow')
              .orderBy('user_id')
              .execute()
          ).map((r) => `${r.user_id} ${r.shadow_of}`),
        );
      // Migrated: each shadow membership knows its admin tenancy; nothing is re-synced before the preset is known.
      assert.deepEqual(
        await shadows(),
        ['usr_operatoraaaaaaaaaaaa', 'usr_staffaaaaaaaaaaaaaaa', 'usr_vendoraaaaaaaaaaaaaa'].map((u) => `${u} taaaaaaaaaaaaaaa`),
      );
      // The first start writes the preset's staff roles, which re-syncs everyone.
      await applyPresetSettings(database, loadPreset('msp'));
      assert.deepEqual(
        await shadows(),
        ['usr_operatoraaaaaaaaaaaa', 'usr_staffaaaaaaaaaaaaaaa'].map((u) => `${u} taaaaaaaaaaaaaaa`),
      );
      const operator = await database.withOwner(
        async (owner) =>
          (await sql<{ explicit: string | null }>`SELECT explicit_default_tenant_id AS explicit FROM users WHERE id = 'usr_operatoraaaaaaaaaaaa'`.execute(owner)).rows[0],
      );
      assert.deepEqual(operator, { explicit: 'taaaaaaaaaaaaaaa' });
    } finally {
      await database.close();
    }
  });
});
