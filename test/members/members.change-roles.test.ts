import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { readTenant, withTenant } from '../../src/platform/db/context.ts';
import type { MembershipKind } from '../../src/platform/db/schema.ts';
import { insertMembership } from '../../src/members/memberships.repository.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { testEngines } from '../helpers/database.ts';
import { seedTenant } from '../helpers/tenants.ts';
import { assertProblem, bearer, signUp, type SignedUp } from '../helpers/users.ts';

/** Shared by the suites below: people, memberships and what the database holds, through one test app. */
function fixtures(get: () => TestApp) {
  return {
    async join(tenantId: string, roles: string[], kind: MembershipKind = 'direct'): Promise<SignedUp> {
      const t = get();
      const user = await signUp(t);
      await withTenant(t.database.db, tenantId, (trx) => insertMembership(trx, { tenantId, userId: user.userId, kind, roles, now: t.clock.now() }));
      return user;
    },
    patch(token: string, tenantId: string, userId: string, payload: unknown) {
      return get().app.inject({ method: 'PATCH', url: `/api/v1/tenants/${tenantId}/members/${userId}`, headers: bearer(token), payload: payload as object });
    },
    /** Every membership of the tenant with its roles, as sorted text: compare before and after. */
    snapshot(tenantId: string): Promise<string[]> {
      return readTenant(get().database.db, tenantId, async (trx) => {
        const rows = await trx
          .selectFrom('memberships as m')
          .leftJoin('membership_roles as r', (j) => j.onRef('r.tenant_id', '=', 'm.tenant_id').onRef('r.user_id', '=', 'm.user_id'))
          .select(['m.user_id', 'm.kind', 'r.role_key'])
          .where('m.tenant_id', '=', tenantId)
          .execute();
        return rows.map((r) => `${r.user_id}|${r.kind}|${r.role_key ?? ''}`).sort();
      });
    },
    audit(tenantId: string, action: string) {
      return readTenant(get().database.db, tenantId, (trx) =>
        trx.selectFrom('audit_events').selectAll().where('tenant_id', '=', tenantId).where('action', '=', action).orderBy('seq').execute(),
      );
    },
    async defineRole(tenantId: string, key: string, permissions: string[]): Promise<void> {
      const t = get();
      const now = t.clock.now();
      await withTenant(t.database.db, tenantId, (trx) =>
        trx.insertInto('roles').values({ tenant_id: tenantId, key, name: key, description: null, scope: 'tenant', permissions, created_at: now, updated_at: now }).execute(),
      );
    },
  };
}

for (const engine of testEngines()) {
  describe(`PATCH /tenants/:tenantId/members/:userId [${engine}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await createTestApp(engine, { env: { TENANTRY_AUTH_RATE_LIMIT: '1000' } });
    });
    after(() => t.close());
    const { join, patch, snapshot, audit, defineRole } = fixtures(() => t);

    it("replaces a member's roles, audited with before and after; the same set again changes nothing", async () => {
      const owner = await signUp(t);
      const member = await join(owner.tenantId, ['member']);
      const res = await patch(owner.accessToken, owner.tenantId, member.userId, { roles: ['viewer', 'admin'] });
      assert.equal(res.statusCode, 200, res.body);
      const body = res.json().member;
      assert.deepEqual([body.userId, body.email, body.roles, body.kind], [member.userId, member.email, ['admin', 'viewer'], 'direct']);
      assert.ok((await snapshot(owner.tenantId)).includes(`${member.userId}|direct|admin`));
      assert.ok(!(await snapshot(owner.tenantId)).includes(`${member.userId}|direct|member`));

      const events = await audit(owner.tenantId, 'member.roles_changed');
      assert.equal(events.length, 1);
      assert.deepEqual([events[0]?.actor_id, events[0]?.target_type, events[0]?.target_id], [owner.userId, 'user', member.userId]);
      assert.deepEqual(events[0]?.before, { roles: ['member'] });
      assert.deepEqual(events[0]?.after, { roles: ['admin', 'viewer'] });

      const again = await patch(owner.accessToken, owner.tenantId, member.userId, { roles: ['admin', 'viewer'] });
      assert.equal(again.statusCode, 200, again.body);
      assert.equal((await audit(owner.tenantId, 'member.roles_changed')).length, 1);
    });

    it('validates the body with 400 and changes nothing', async () => {
      const owner = await signUp(t);
      const member = await join(owner.tenantId, ['member']);
      const before = await snapshot(owner.tenantId);
      for (const payload of [{ roles: [] }, {}, { roles: ['admin', 'admin'] }, { roles: ['Admin'] }, { roles: ['admin'], kind: 'shadow' }, { roles: 'admin' }]) {
        assertProblem(await patch(owner.accessToken, owner.tenantId, member.userId, payload), 400, 'validation_failed');
      }
      assert.deepEqual(await snapshot(owner.tenantId), before);
    });

    it('answers 422 unknown_role for a role that does not resolve in this tenant; custom roles of it and its ancestors resolve', async () => {
      const owner = await signUp(t);
      const { tenantId: child } = await seedTenant(t.database, { name: 'Child', ownerId: owner.userId, parentId: owner.tenantId });
      const elsewhere = await signUp(t);
      await defineRole(owner.tenantId, 'auditor', ['tenant.read', 'audit.read']);
      await defineRole(child, 'helper', ['tenant.read']);
      await defineRole(elsewhere.tenantId, 'stranger', ['tenant.read']);
      const member = await join(child, ['viewer']);
      const before = await snapshot(child);

      for (const roles of [['nonexistent'], ['viewer', 'stranger']]) {
        const res = await patch(owner.accessToken, child, member.userId, { roles });
        assertProblem(res, 422, 'unknown_role');
        assert.deepEqual(
          res.json().roles,
          roles.filter((r) => r !== 'viewer'),
        );
      }
      // A role of the child is not a role of its parent.
      const parentMember = await join(owner.tenantId, ['viewer']);
      assertProblem(await patch(owner.accessToken, owner.tenantId, parentMember.userId, { roles: ['helper'] }), 422, 'unknown_role');
      assert.deepEqual(await snapshot(child), before);

      const ok = await patch(owner.accessToken, child, member.userId, { roles: ['auditor', 'helper'] });
      assert.equal(ok.statusCode, 200, ok.body);
      assert.deepEqual(ok.json().member.roles, ['auditor', 'helper']);
    });

    it('answers 404 member_not_found for a non-member, a shadow member and a user of another tenant', async () => {
      const owner = await signUp(t);
      const other = await signUp(t);
      const operator = await join(owner.tenantId, ['owner'], 'shadow');
      const before = { own: await snapshot(owner.tenantId), other: await snapshot(other.tenantId) };
      for (const userId of [operator.userId, other.userId, 'usr_doesnotexist', owner.userId.toUpperCase()]) {
        assertProblem(await patch(owner.accessToken, owner.tenantId, userId, { roles: ['viewer'] }), 404, 'member_not_found');
      }
      assert.deepEqual({ own: await snapshot(owner.tenantId), other: await snapshot(other.tenantId) }, before);
    });

    it('needs members.manage (403) and a token (401)', async () => {
      const owner = await signUp(t);
      const member = await join(owner.tenantId, ['member']);
      const viewer = await join(owner.tenantId, ['viewer']);
      const before = await snapshot(owner.tenantId);
      const res = await patch(member.accessToken, owner.tenantId, viewer.userId, { roles: ['member'] });
      assertProblem(res, 403, 'forbidden');
      assert.equal(res.json().permission, 'members.manage');
      assertProblem(await patch(member.accessToken, owner.tenantId, member.userId, { roles: ['owner'] }), 403, 'forbidden');
      assertProblem(
        await t.app.inject({ method: 'PATCH', url: `/api/v1/tenants/${owner.tenantId}/members/${viewer.userId}`, payload: { roles: ['member'] } }),
        401,
        'unauthenticated',
      );
      assert.deepEqual(await snapshot(owner.tenantId), before);
    });

    it('lets an admin neither grant owner nor demote an owner; an owner can do both', async () => {
      const owner = await signUp(t);
      const admin = await join(owner.tenantId, ['admin']);
      const member = await join(owner.tenantId, ['member']);
      const coOwner = await join(owner.tenantId, ['owner']);
      await defineRole(owner.tenantId, 'destroyer', ['tenant.read', 'tenant.delete']);
      const before = await snapshot(owner.tenantId);

      const grant = await patch(admin.accessToken, owner.tenantId, member.userId, { roles: ['owner'] });
      assertProblem(grant, 403, 'forbidden');
      assert.deepEqual(grant.json().missingPermissions.sort(), ['tenant.delete', 'tenant.transfer_ownership']);
      assertProblem(await patch(admin.accessToken, owner.tenantId, member.userId, { roles: ['destroyer'] }), 403, 'forbidden');
      const demote = await patch(admin.accessToken, owner.tenantId, coOwner.userId, { roles: ['member'] });
      assertProblem(demote, 403, 'forbidden');
      assert.match(demote.json().detail, /this member holds permissions you do not hold/);
      // Self-promotion is a grant like any other.
      assertProblem(await patch(admin.accessToken, owner.tenantId, admin.userId, { roles: ['owner'] }), 403, 'forbidden');
      assert.deepEqual(await snapshot(owner.tenantId), before);

      // An admin may hand out what an admin holds.
      const peer = await patch(admin.accessToken, owner.tenantId, member.userId, { roles: ['admin'] });
      assert.equal(peer.statusCode, 200, peer.body);

      assert.equal((await patch(owner.accessToken, owner.tenantId, member.userId, { roles: ['owner'] })).statusCode, 200);
      assert.equal((await patch(owner.accessToken, owner.tenantId, coOwner.userId, { roles: ['member'] })).statusCode, 200);
      const after = await snapshot(owner.tenantId);
      assert.ok(after.includes(`${member.userId}|direct|owner`));
      assert.ok(after.includes(`${coOwner.userId}|direct|member`));
    });

    it('refuses to demote the last owner with 409 last_owner and leaves the rows as they were', async () => {
      const owner = await signUp(t);
      const admin = await join(owner.tenantId, ['admin']);
      await join(owner.tenantId, ['owner'], 'shadow');
      const before = await snapshot(owner.tenantId);
      // The shadow membership holds the owner role, but never counts as the owner (SPEC 8).
      assertProblem(await patch(owner.accessToken, owner.tenantId, owner.userId, { roles: ['admin'] }), 409, 'last_owner');
      assert.deepEqual(await snapshot(owner.tenantId), before);
      assert.equal((await audit(owner.tenantId, 'member.roles_changed')).length, 0);

      // The owner of the parent reaches the child through its owner role and meets the same wall there.
      const { tenantId: child, ownerId: childOwner } = await seedTenant(t.database, { name: 'Child', parentId: owner.tenantId });
      const childBefore = await snapshot(child);
      assertProblem(await patch(owner.accessToken, child, childOwner, { roles: ['member'] }), 409, 'last_owner');
      assert.deepEqual(await snapshot(child), childBefore);

      // With a second owner, one may step down.
      assert.equal((await patch(owner.accessToken, owner.tenantId, admin.userId, { roles: ['owner'] })).statusCode, 200);
      const down = await patch(owner.accessToken, owner.tenantId, owner.userId, { roles: ['admin'] });
      assert.equal(down.statusCode, 200, down.body);
    });

    it('takes a permission away on the very next request', async () => {
      const owner = await signUp(t);
      const admin = await join(owner.tenantId, ['admin']);
      const member = await join(owner.tenantId, ['member']);
      const listAs = (token: string) => t.app.inject({ url: `/api/v1/tenants/${owner.tenantId}/members`, headers: bearer(token) });
      // Warm the permission cache, so a stale entry would show.
      assert.equal((await listAs(admin.accessToken)).statusCode, 200);
      assert.equal((await patch(admin.accessToken, owner.tenantId, member.userId, { roles: ['viewer', 'member'] })).statusCode, 200);

      assert.equal((await patch(owner.accessToken, owner.tenantId, admin.userId, { roles: ['viewer'] })).statusCode, 200);
      assertProblem(await listAs(admin.accessToken), 403, 'forbidden');
      assertProblem(await patch(admin.accessToken, owner.tenantId, member.userId, { roles: ['member'] }), 403, 'forbidden');
    });

    it("answers 404 across tenants, whichever side the tenant or the user is on, and leaves the other tenant's memberships alone", async () => {
      const a = await signUp(t);
      const b = await signUp(t);
      const bMember = await join(b.tenantId, ['member']);
      const aMember = await join(a.tenantId, ['member']);
      const before = await snapshot(b.tenantId);
      for (const userId of [bMember.userId, b.userId]) {
        assertProblem(await patch(a.accessToken, b.tenantId, userId, { roles: ['viewer'] }), 404, 'tenant_not_found');
        assertProblem(await patch(a.accessToken, a.tenantId, userId, { roles: ['viewer'] }), 404, 'member_not_found');
      }
      // B's owner cannot reach A's member through B's path either.
      assertProblem(await patch(b.accessToken, b.tenantId, aMember.userId, { roles: ['viewer'] }), 404, 'member_not_found');
      assert.deepEqual(await snapshot(b.tenantId), before);
      assert.equal((await audit(b.tenantId, 'member.roles_changed')).length, 0);
    });
  });

  describe(`PATCH members under a preset with an add-on off [${engine}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await createTestApp(engine, { env: { TENANTRY_AUTH_RATE_LIMIT: '1000', TENANTRY_PRESET: 'mqtt-portal' } });
    });
    after(() => t.close());
    const { join, patch } = fixtures(() => t);

    it('lets an owner grant roles whose permissions the off add-on withholds from everyone alike', async () => {
      // mqtt-portal: the owner and data_manager roles carry influx_tokens.create, which needs the influx add-on (off by default).
      // In the enterprise sign-up made (the root): an owner there holds nothing from above.
      const owner = await signUp(t);
      const tenantId = owner.enterpriseId ?? '';
      const member = await join(tenantId, ['member']);
      const data = await patch(owner.accessToken, tenantId, member.userId, { roles: ['data_manager'] });
      assert.equal(data.statusCode, 200, data.body);
      const promoted = await patch(owner.accessToken, tenantId, member.userId, { roles: ['owner'] });
      assert.equal(promoted.statusCode, 200, promoted.body);
      // And one owner can demote the other.
      const demoted = await patch(member.accessToken, tenantId, owner.userId, { roles: ['member'] });
      assert.equal(demoted.statusCode, 200, demoted.body);
      // A member (no members.manage) still cannot.
      assertProblem(await patch(owner.accessToken, tenantId, member.userId, { roles: ['member'] }), 403, 'forbidden');
    });
  });
}
