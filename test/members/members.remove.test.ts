import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { readTenant, withTenant } from '../../src/platform/db/context.ts';
import type { MembershipKind } from '../../src/platform/db/schema.ts';
import { insertMembership } from '../../src/members/memberships.repository.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { testEngines } from '../helpers/database.ts';
import { seedTenant } from '../helpers/tenants.ts';
import { assertProblem, bearer, signUp, type SignedUp } from '../helpers/users.ts';

for (const engine of testEngines()) {
  describe(`DELETE /tenants/:tenantId/members/:userId [${engine}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await createTestApp(engine, { env: { TENANTRY_AUTH_RATE_LIMIT: '1000' } });
    });
    after(() => t.close());

    async function join(tenantId: string, roles: string[], kind: MembershipKind = 'direct'): Promise<SignedUp> {
      const user = await signUp(t);
      await withTenant(t.database.db, tenantId, (trx) => insertMembership(trx, { tenantId, userId: user.userId, kind, roles, now: t.clock.now() }));
      return user;
    }

    const remove = (token: string, tenantId: string, userId: string) =>
      t.app.inject({ method: 'DELETE', url: `/api/v1/tenants/${tenantId}/members/${userId}`, headers: bearer(token) });
    const listAs = (token: string, tenantId: string) => t.app.inject({ url: `/api/v1/tenants/${tenantId}/members`, headers: bearer(token) });

    /** Every membership of the tenant with its roles, as sorted text: compare before and after. */
    function snapshot(tenantId: string): Promise<string[]> {
      return readTenant(t.database.db, tenantId, async (trx) => {
        const rows = await trx
          .selectFrom('memberships as m')
          .leftJoin('membership_roles as r', (j) => j.onRef('r.tenant_id', '=', 'm.tenant_id').onRef('r.user_id', '=', 'm.user_id'))
          .select(['m.user_id', 'm.kind', 'r.role_key'])
          .where('m.tenant_id', '=', tenantId)
          .execute();
        return rows.map((r) => `${r.user_id}|${r.kind}|${r.role_key ?? ''}`).sort();
      });
    }
    const isMember = async (tenantId: string, userId: string) => (await snapshot(tenantId)).some((row) => row.startsWith(`${userId}|`));
    const audit = (tenantId: string, action: string) =>
      readTenant(t.database.db, tenantId, (trx) => trx.selectFrom('audit_events').selectAll().where('tenant_id', '=', tenantId).where('action', '=', action).execute());
    const userRow = (userId: string) => t.database.db.selectFrom('users').select(['id', 'default_tenant_id']).where('id', '=', userId).executeTakeFirst();
    const setDefaultTenant = (userId: string, tenantId: string) => t.database.db.updateTable('users').set({ default_tenant_id: tenantId }).where('id', '=', userId).execute();

    it('removes a member: the roles go, the default tenant is cleared, the account stays, and it is audited', async () => {
      const owner = await signUp(t);
      const member = await join(owner.tenantId, ['member', 'viewer']);
      const bystander = await join(owner.tenantId, ['member']);
      await setDefaultTenant(member.userId, owner.tenantId);
      await setDefaultTenant(bystander.userId, owner.tenantId);

      const res = await remove(owner.accessToken, owner.tenantId, member.userId);
      assert.equal(res.statusCode, 204, res.body);
      assert.equal(res.body, '');
      assert.equal(await isMember(owner.tenantId, member.userId), false);
      assert.equal(await isMember(owner.tenantId, bystander.userId), true);
      const roleRows = await readTenant(t.database.db, owner.tenantId, (trx) =>
        trx.selectFrom('membership_roles').select('role_key').where('user_id', '=', member.userId).execute(),
      );
      assert.deepEqual(roleRows, []);
      assert.deepEqual(await userRow(member.userId), { id: member.userId, default_tenant_id: null });
      assert.deepEqual(await userRow(bystander.userId), { id: bystander.userId, default_tenant_id: owner.tenantId });
      // Their own tenant is untouched.
      assert.equal(await isMember(member.tenantId, member.userId), true);

      const events = await audit(owner.tenantId, 'member.removed');
      assert.equal(events.length, 1);
      assert.deepEqual(
        [events[0]?.actor_id, events[0]?.target_id, events[0]?.before, events[0]?.after],
        [owner.userId, member.userId, { roles: ['member', 'viewer'], kind: 'direct' }, null],
      );

      assertProblem(await remove(owner.accessToken, owner.tenantId, member.userId), 404, 'member_not_found');
    });

    it('lets a member leave with no permission at all, audited as member.left; a user with no membership left is kept', async () => {
      const owner = await signUp(t);
      const viewer = await join(owner.tenantId, ['viewer']);
      // Leave their own tenant first (after making someone else owner there), so this is their last membership.
      const heir = await join(viewer.tenantId, ['owner']);
      assert.equal((await remove(viewer.accessToken, viewer.tenantId, viewer.userId)).statusCode, 204);
      assert.equal(await isMember(viewer.tenantId, heir.userId), true);

      const res = await remove(viewer.accessToken, owner.tenantId, viewer.userId);
      assert.equal(res.statusCode, 204, res.body);
      assert.equal(await isMember(owner.tenantId, viewer.userId), false);
      assert.ok(await userRow(viewer.userId));
      const events = await audit(owner.tenantId, 'member.left');
      assert.deepEqual(
        events.map((e) => [e.actor_id, e.target_id]),
        [[viewer.userId, viewer.userId]],
      );
      assert.equal((await audit(owner.tenantId, 'member.removed')).length, 0);
    });

    it('needs members.manage to remove someone else (403), and only a direct membership to leave (404)', async () => {
      const owner = await signUp(t);
      const member = await join(owner.tenantId, ['member']);
      const viewer = await join(owner.tenantId, ['viewer']);
      const operator = await join(owner.tenantId, ['owner'], 'shadow');
      const before = await snapshot(owner.tenantId);
      const res = await remove(member.accessToken, owner.tenantId, viewer.userId);
      assertProblem(res, 403, 'forbidden');
      assert.equal(res.json().permission, 'members.manage');
      // A shadow membership is not a membership one can leave, nor one anybody can remove here.
      assertProblem(await remove(operator.accessToken, owner.tenantId, operator.userId), 404, 'member_not_found');
      assertProblem(await remove(owner.accessToken, owner.tenantId, operator.userId), 404, 'member_not_found');
      // Reaching a child through the parent's owner role is not a membership of the child.
      const { tenantId: child } = await seedTenant(t.database, { name: 'Child', parentId: owner.tenantId });
      assertProblem(await remove(owner.accessToken, child, owner.userId), 404, 'member_not_found');
      assertProblem(await t.app.inject({ method: 'DELETE', url: `/api/v1/tenants/${owner.tenantId}/members/${viewer.userId}` }), 401, 'unauthenticated');
      assert.deepEqual(await snapshot(owner.tenantId), before);
    });

    it('lets an admin not remove an owner (403), but an owner remove an admin or another owner', async () => {
      const owner = await signUp(t);
      const admin = await join(owner.tenantId, ['admin']);
      const coOwner = await join(owner.tenantId, ['owner']);
      const otherAdmin = await join(owner.tenantId, ['admin']);
      const before = await snapshot(owner.tenantId);
      assertProblem(await remove(admin.accessToken, owner.tenantId, coOwner.userId), 403, 'forbidden');
      assertProblem(await remove(admin.accessToken, owner.tenantId, owner.userId), 403, 'forbidden');
      assert.deepEqual(await snapshot(owner.tenantId), before);

      assert.equal((await remove(admin.accessToken, owner.tenantId, otherAdmin.userId)).statusCode, 204);
      assert.equal((await remove(owner.accessToken, owner.tenantId, admin.userId)).statusCode, 204);
      assert.equal((await remove(owner.accessToken, owner.tenantId, coOwner.userId)).statusCode, 204);
      assert.deepEqual(await snapshot(owner.tenantId), [`${owner.userId}|direct|owner`]);
    });

    it('never removes the last owner (409 last_owner), whoever asks; with two owners one can leave', async () => {
      const owner = await signUp(t);
      await join(owner.tenantId, ['admin']);
      const before = await snapshot(owner.tenantId);
      assertProblem(await remove(owner.accessToken, owner.tenantId, owner.userId), 409, 'last_owner');
      assert.deepEqual(await snapshot(owner.tenantId), before);
      assert.equal((await audit(owner.tenantId, 'member.left')).length, 0);

      // The parent's owner holds every permission in the child, and still cannot remove the child's only owner.
      const { tenantId: child, ownerId: childOwner } = await seedTenant(t.database, { name: 'Child', parentId: owner.tenantId });
      const childBefore = await snapshot(child);
      assertProblem(await remove(owner.accessToken, child, childOwner), 409, 'last_owner');
      assert.deepEqual(await snapshot(child), childBefore);

      const second = await join(owner.tenantId, ['owner']);
      assert.equal((await remove(owner.accessToken, owner.tenantId, owner.userId)).statusCode, 204);
      assertProblem(await remove(second.accessToken, owner.tenantId, second.userId), 409, 'last_owner');
      assert.ok((await snapshot(owner.tenantId)).includes(`${second.userId}|direct|owner`));
    });

    it('takes access away on the very next request', async () => {
      const owner = await signUp(t);
      const admin = await join(owner.tenantId, ['admin']);
      const leaver = await join(owner.tenantId, ['member']);
      // Warm the permission cache, so a stale entry would show.
      assert.equal((await listAs(admin.accessToken, owner.tenantId)).statusCode, 200);
      assert.equal((await listAs(leaver.accessToken, owner.tenantId)).statusCode, 200);

      assert.equal((await remove(owner.accessToken, owner.tenantId, admin.userId)).statusCode, 204);
      assertProblem(await listAs(admin.accessToken, owner.tenantId), 404, 'tenant_not_found');
      assertProblem(await remove(admin.accessToken, owner.tenantId, leaver.userId), 404, 'tenant_not_found');

      assert.equal((await remove(leaver.accessToken, owner.tenantId, leaver.userId)).statusCode, 204);
      assertProblem(await listAs(leaver.accessToken, owner.tenantId), 404, 'tenant_not_found');
    });

    it("answers 404 across tenants, whichever side the tenant or the user is on, and leaves the other tenant's memberships alone", async () => {
      const a = await signUp(t);
      const b = await signUp(t);
      const bMember = await join(b.tenantId, ['member']);
      await setDefaultTenant(bMember.userId, b.tenantId);
      const before = await snapshot(b.tenantId);
      for (const userId of [bMember.userId, b.userId]) {
        assertProblem(await remove(a.accessToken, b.tenantId, userId), 404, 'tenant_not_found');
        assertProblem(await remove(a.accessToken, a.tenantId, userId), 404, 'member_not_found');
      }
      // Leaving a tenant one is not in is no way in either.
      assertProblem(await remove(a.accessToken, b.tenantId, a.userId), 404, 'tenant_not_found');
      assert.deepEqual(await snapshot(b.tenantId), before);
      assert.deepEqual(await userRow(bMember.userId), { id: bMember.userId, default_tenant_id: b.tenantId });
      assert.equal((await audit(b.tenantId, 'member.removed')).length + (await audit(b.tenantId, 'member.left')).length, 0);
    });
  });
}
