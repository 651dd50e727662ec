import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createOperator } from '../../src/accounts/operator.service.ts';
import { readTenant, withSystem } from '../../src/platform/db/context.ts';
import { purgeDueTenants } from '../../src/tenants/deletion.service.ts';
import { newId } from '../../src/platform/ids.ts';
import { insertMembership } from '../../src/members/memberships.repository.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { testEngines } from '../helpers/database.ts';
import { seedTenant } from '../helpers/tenants.ts';
import { assertProblem, bearer, enrol, GOOD_PASSWORD, join, type SignedUp, signUp, uniqueEmail } from '../helpers/users.ts';

for (const engine of testEngines()) {
  describe(`tenant deletion with a grace period (default preset) [${engine}]`, () => {
    let t: TestApp;
    let top: SignedUp;
    before(async () => {
      t = await createTestApp(engine, { env: { TENANTRY_AUTH_RATE_LIMIT: '1000' } });
      top = await signUp(t, { name: 'Top' });
    });
    after(() => t.close());

    const del = (tenantId: string, token: string, payload: object) => t.app.inject({ method: 'DELETE', url: `/api/v1/tenants/${tenantId}`, headers: bearer(token), payload });
    const status = (tenantId: string) =>
      withSystem(t.database.db, async (trx) => (await trx.selectFrom('tenants').select('status').where('id', '=', tenantId).executeTakeFirstOrThrow()).status);
    const userExists = (userId: string) =>
      withSystem(t.database.db, async (trx) => (await trx.selectFrom('users').select('id').where('id', '=', userId).executeTakeFirst()) !== undefined);

    /** A company under Top's tenant (owned by someone who belongs nowhere else) with one company below it. */
    async function company(): Promise<{ a: { tenantId: string; ownerId: string }; b: { tenantId: string; ownerId: string }; member: SignedUp }> {
      const a = await seedTenant(t.database, { name: 'A', parentId: top.tenantId });
      const b = await seedTenant(t.database, { name: 'B', parentId: a.tenantId });
      const member = await signUp(t);
      await join(t, a.tenantId, member.userId, ['member']);
      await withSystem(t.database.db, (trx) => trx.updateTable('users').set({ default_tenant_id: a.tenantId }).where('id', '=', member.userId).execute());
      return { a, b, member };
    }

    it('refuses a wrong slug, the active tenant, a subtree not asked for, and people who may not delete', async () => {
      const { a, member } = await company();
      assertProblem(await del(a.tenantId, top.accessToken, { confirm: 'nope' }), 422, 'confirmation_mismatch');
      const own = (await t.app.inject({ url: `/api/v1/tenants/${top.tenantId}`, headers: bearer(top.accessToken) })).json().slug;
      assertProblem(await del(top.tenantId, top.accessToken, { confirm: own }), 409, 'active_tenant');
      const children = await del(a.tenantId, top.accessToken, { confirm: `seed-${a.tenantId}` });
      assertProblem(children, 409, 'tenant_has_children');
      assertProblem(await del(a.tenantId, member.accessToken, { confirm: `seed-${a.tenantId}`, includeDescendants: true }), 403, 'forbidden');
      const stranger = await signUp(t);
      assertProblem(await del(a.tenantId, stranger.accessToken, { confirm: `seed-${a.tenantId}`, includeDescendants: true }), 404, 'tenant_not_found');
      assert.equal(await status(a.tenantId), 'active');
    });

    it('puts the subtree in pending deletion for the grace period, restorable in one go', async () => {
      const { a, b, member } = await company();
      const res = await del(a.tenantId, top.accessToken, { confirm: `seed-${a.tenantId}`, includeDescendants: true });
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(res.json(), {
        status: 'pending_deletion',
        tenants: [b.tenantId, a.tenantId],
        purgeAfter: new Date(t.clock.now().getTime() + 30 * 86_400_000).toISOString(),
      });
      assert.deepEqual([await status(a.tenantId), await status(b.tenantId)], ['pending_deletion', 'pending_deletion']);
      assertProblem(await t.app.inject({ url: `/api/v1/tenants/${a.tenantId}`, headers: bearer(member.accessToken) }), 404, 'tenant_not_found');
      assert.equal((await t.app.inject({ url: `/api/v1/tenants/${a.tenantId}`, headers: bearer(top.accessToken) })).statusCode, 200);
      assertProblem(await del(a.tenantId, top.accessToken, { confirm: `seed-${a.tenantId}`, includeDescendants: true }), 409, 'tenant_status_conflict');

      const restored = await t.app.inject({ method: 'POST', url: `/api/v1/tenants/${a.tenantId}/restore`, headers: bearer(top.accessToken) });
      assert.equal(restored.statusCode, 200, restored.body);
      assert.deepEqual(restored.json().tenants.sort(), [a.tenantId, b.tenantId].sort());
      assert.deepEqual([await status(a.tenantId), await status(b.tenantId)], ['active', 'active']);
      assert.equal((await t.app.inject({ url: `/api/v1/tenants/${a.tenantId}`, headers: bearer(member.accessToken) })).statusCode, 200);
      assertProblem(await t.app.inject({ method: 'POST', url: `/api/v1/tenants/${a.tenantId}/restore`, headers: bearer(top.accessToken) }), 409, 'tenant_status_conflict');
    });

    it('purges once the grace has run out: every row gone, people re-pointed or deleted, the count reported', async () => {
      const { a, b, member } = await company();
      assert.equal((await del(a.tenantId, top.accessToken, { confirm: `seed-${a.tenantId}`, includeDescendants: true })).statusCode, 200);
      assert.deepEqual(await purgeDueTenants({ db: t.database.db, clock: t.clock }), [], 'nothing is due during the grace period');
      t.clock.advance(30 * 86_400_000 + 1000);
      // A month on: Top signs in again.
      const login = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: top.email, password: top.password } });
      top = { ...top, accessToken: login.json().accessToken };
      const reports = await purgeDueTenants({ db: t.database.db, clock: t.clock });
      assert.deepEqual(
        reports.map((r) => r.tenantId),
        [b.tenantId, a.tenantId],
      );
      const forA = reports[1];
      assert.deepEqual([forA?.removed.memberships, forA?.removed.membership_roles, forA?.usersRepointed, forA?.usersDeleted], [2, 2, 1, 1]);
      assert.ok((forA?.removed.audit_events ?? 0) >= 2, JSON.stringify(forA));
      assert.equal(reports[0]?.usersDeleted, 1);

      assert.deepEqual([await status(a.tenantId), await status(b.tenantId)], ['deleted', 'deleted']);
      assert.equal(await userExists(a.ownerId), false, 'their only tenant is gone, and so are they');
      assert.equal(await userExists(member.userId), true, 'they still have their own tenant');
      const repointed = await withSystem(t.database.db, (trx) => trx.selectFrom('users').select('default_tenant_id').where('id', '=', member.userId).executeTakeFirstOrThrow());
      assert.equal(repointed.default_tenant_id, member.tenantId);
      const left = await readTenant(t.database.db, a.tenantId, async (trx) => ({
        memberships: await trx.selectFrom('memberships').select('user_id').where('tenant_id', '=', a.tenantId).execute(),
        audit: await trx.selectFrom('audit_events').select('seq').where('tenant_id', '=', a.tenantId).execute(),
      }));
      assert.deepEqual(left, { memberships: [], audit: [] });
      assertProblem(await t.app.inject({ url: `/api/v1/tenants/${a.tenantId}`, headers: bearer(top.accessToken) }), 404, 'tenant_not_found');
      // The parent's trail keeps the record of the purge.
      const trail = await readTenant(t.database.db, top.tenantId, (trx) =>
        trx.selectFrom('audit_events').select(['action', 'actor_type', 'target_id']).where('tenant_id', '=', top.tenantId).where('action', '=', 'tenant.purged').execute(),
      );
      assert.deepEqual(trail, [{ action: 'tenant.purged', actor_type: 'system', target_id: a.tenantId }]);
      const tree = await t.app.inject({ url: `/api/v1/tenants/${top.tenantId}/tree`, headers: bearer(top.accessToken) });
      const ids = tree.json().tenants.map((x: { id: string }) => x.id);
      assert.equal(ids.includes(a.tenantId) || ids.includes(b.tenantId), false, 'purged tenants leave the tree');
    });

    it('lets only those above delete a suspended tenant, and never the admin tenancy', async () => {
      const { a, b } = await company();
      const owner = await signUp(t);
      await join(t, b.tenantId, owner.userId, ['owner']);
      assert.equal((await t.app.inject({ method: 'POST', url: `/api/v1/tenants/${b.tenantId}/suspend`, headers: bearer(top.accessToken), payload: {} })).statusCode, 200);
      assertProblem(await del(b.tenantId, owner.accessToken, { confirm: `seed-${b.tenantId}` }), 403, 'forbidden');
      await withSystem(t.database.db, (trx) => trx.updateTable('tenants').set({ is_admin_tenancy: true }).where('id', '=', a.tenantId).execute());
      assertProblem(await del(a.tenantId, top.accessToken, { confirm: `seed-${a.tenantId}`, includeDescendants: true }), 409, 'admin_tenancy');
      await withSystem(t.database.db, (trx) => trx.updateTable('tenants').set({ is_admin_tenancy: false }).where('id', '=', a.tenantId).execute());
      assert.equal((await del(b.tenantId, top.accessToken, { confirm: `seed-${b.tenantId}` })).statusCode, 200);
    });
  });

  describe(`tenant deletion without grace (msp preset) [${engine}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await createTestApp(engine, { env: { TENANTRY_PRESET: 'msp', TENANTRY_AUTH_RATE_LIMIT: '1000' } });
    });
    after(() => t.close());

    it('deletes at once and reports how many rows were wiped and people re-pointed or deleted', async () => {
      // The MSP: its operator, and an ADMIN on its staff (the admin tenancy), who adds the customer's tenant and so
      // reaches it, as the operator does, through a shadow membership; an agent belongs to the customer alone.
      const email = uniqueEmail('operator');
      const { user: operator, adminTenantId } = await createOperator({ db: t.database.db, clock: t.clock, ownerRole: 'super_admin' }, { email, password: GOOD_PASSWORD });
      const admin = await enrol(t, adminTenantId ?? '', ['admin']);
      const added = await t.app.inject({
        method: 'POST',
        url: '/api/v1/tenants',
        headers: bearer(admin.accessToken),
        payload: { name: 'Acme Ltd', slug: `acme-${process.pid}-${engine}` },
      });
      assert.equal(added.statusCode, 201, added.body);
      const customer = { tenantId: added.json().id as string, slug: added.json().slug as string };
      const agent = newId('user');
      await withSystem(t.database.db, async (trx) => {
        await trx
          .insertInto('users')
          .values({
            id: agent,
            email: `${agent}@acme.test`,
            name: null,
            password_hash: null,
            email_verified_at: null,
            platform_role: null,
            created_at: t.clock.now(),
            updated_at: t.clock.now(),
          })
          .execute();
        await insertMembership(trx, { tenantId: customer.tenantId, userId: agent, kind: 'direct', roles: ['agent'], now: t.clock.now() });
      });
      // ADMIN may delete tenants in this preset (seed 001: "shown only to ADMIN/SUPER_ADMIN").
      const res = await t.app.inject({ method: 'DELETE', url: `/api/v1/tenants/${customer.tenantId}`, headers: bearer(admin.accessToken), payload: { confirm: customer.slug } });
      assert.equal(res.statusCode, 200, res.body);
      const body = res.json();
      assert.deepEqual([body.status, body.tenants], ['deleted', [customer.tenantId]]);
      // The agent's membership and the two staff shadow memberships.
      assert.deepEqual([body.purged[0].removed.memberships, body.purged[0].usersRepointed, body.purged[0].usersDeleted], [3, 0, 1]);
      const users = await withSystem(t.database.db, (trx) => trx.selectFrom('users').select('id').where('id', 'in', [agent, admin.userId, operator.id]).execute());
      assert.deepEqual(users.map((u) => u.id).sort(), [admin.userId, operator.id].sort(), 'the agent belonged nowhere else; the staff keep the admin tenancy');
      const row = await withSystem(t.database.db, (trx) =>
        trx.selectFrom('tenants').select(['status', 'name', 'slug']).where('id', '=', customer.tenantId).executeTakeFirstOrThrow(),
      );
      // The slug stays with the tombstone, never to be reused (migration 0021).
      assert.deepEqual(row, { status: 'deleted', name: '(deleted)', slug: customer.slug });
      assertProblem(await t.app.inject({ method: 'POST', url: `/api/v1/tenants/${customer.tenantId}/restore`, headers: bearer(admin.accessToken) }), 404, 'tenant_not_found');
    });
  });
}
