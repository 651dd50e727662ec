import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { withTenant } from '../../src/platform/db/context.ts';
import { openDatabase } from '../../src/platform/db/database.ts';
import { insertMembership } from '../../src/tenants/memberships.repository.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { createTestDatabase, testEngines } from '../helpers/database.ts';
import { seedTenant } from '../helpers/tenants.ts';
import { assertProblem, bearer, signUp, type SignedUp } from '../helpers/users.ts';

for (const engine of testEngines()) {
  describe(`the check API [${engine}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await createTestApp(engine, { env: { TENANTRY_AUTH_RATE_LIMIT: '10000' } });
    });
    after(() => t.close());

    const check = (user: SignedUp, body: object) => t.app.inject({ method: 'POST', url: '/api/v1/check', headers: bearer(user.accessToken), payload: body });
    const grant = (tenantId: string, userId: string, roles: string[]) =>
      withTenant(t.database.db, tenantId, (trx) => insertMembership(trx, { tenantId, userId, kind: 'direct', roles, now: t.clock.now() }));

    it('answers for the caller with the role and tenant that granted it, or why not', async () => {
      const owner = await signUp(t);
      const yes = (await check(owner, { tenantId: owner.tenantId, permission: 'members.invite' })).json();
      assert.deepEqual(yes, { allowed: true, reason: 'granted by role owner in this tenant' });
      const unknown = (await check(owner, { tenantId: owner.tenantId, permission: 'rockets.launch' })).json();
      assert.equal(unknown.allowed, false);
      assert.match(unknown.reason, /not in the permission catalogue/);
      const stranger = await signUp(t);
      const no = (await check(stranger, { tenantId: owner.tenantId, permission: 'tenant.read' })).json();
      assert.equal(no.allowed, false);
      assert.match(no.reason, /no membership/);
    });

    it('explains inherited grants and roles that do not grant', async () => {
      const owner = await signUp(t);
      const child = await seedTenant(t.database, { name: 'Child', parentId: owner.tenantId });
      const viaParent = (await check(owner, { tenantId: child.tenantId, permission: 'members.manage' })).json();
      assert.equal(viaParent.allowed, true);
      assert.match(viaParent.reason, new RegExp(`role owner held in ancestor tenant ${owner.tenantId}`));
      const viewer = await signUp(t);
      await grant(owner.tenantId, viewer.userId, ['viewer']);
      const denied = (await check(viewer, { tenantId: owner.tenantId, permission: 'members.manage' })).json();
      assert.deepEqual(denied, { allowed: false, reason: 'none of the roles held (viewer) grants members.manage' });
      const notInherited = (await check(viewer, { tenantId: child.tenantId, permission: 'tenant.read' })).json();
      assert.equal(notInherited.allowed, false, 'viewer is tenant-scoped: nothing below');
    });

    it('checks other subjects only with members.read there, and answers batches of up to 100', async () => {
      const owner = await signUp(t);
      const member = await signUp(t);
      await grant(owner.tenantId, member.userId, ['member']);
      const batch = await check(owner, {
        checks: [
          { subject: member.userId, tenantId: owner.tenantId, permission: 'members.read' },
          { subject: member.userId, tenantId: owner.tenantId, permission: 'members.manage' },
          { tenantId: owner.tenantId, permission: 'tenant.delete' },
        ],
      });
      assert.equal(batch.statusCode, 200, batch.body);
      assert.deepEqual(batch.json().results.map((r: { allowed: boolean }) => r.allowed), [true, false, true]);
      assert.equal(batch.json().results[0].subject, member.userId);

      const viewer = await signUp(t);
      await grant(owner.tenantId, viewer.userId, ['viewer']);
      const nosy = (await check(viewer, { subject: owner.userId, tenantId: owner.tenantId, permission: 'tenant.delete' })).json();
      assert.deepEqual(nosy, { allowed: false, reason: 'checking another subject here needs members.read in this tenant' });

      const many = Array.from({ length: 101 }, () => ({ tenantId: owner.tenantId, permission: 'tenant.read' }));
      assertProblem(await check(owner, { checks: many }), 400, 'validation_failed');
      assert.equal((await check(owner, { checks: many.slice(0, 100) })).json().results.length, 100);
      assertProblem(await check(owner, { checks: [] }), 400, 'validation_failed');
      assertProblem(await t.app.inject({ method: 'POST', url: '/api/v1/check', payload: { tenantId: owner.tenantId, permission: 'tenant.read' } }), 401, 'unauthenticated');
    });

    it('sees a revoked role at once in this process', async () => {
      const owner = await signUp(t);
      const admin = await signUp(t);
      await grant(owner.tenantId, admin.userId, ['admin']);
      assert.equal((await check(admin, { tenantId: owner.tenantId, permission: 'members.manage' })).json().allowed, true);
      await withTenant(t.database.db, owner.tenantId, (trx) => trx.updateTable('membership_roles').set({ role_key: 'viewer' }).where('user_id', '=', admin.userId).execute());
      assert.equal((await check(admin, { tenantId: owner.tenantId, permission: 'members.manage' })).json().allowed, false);
    });
  });
}

if (testEngines().includes('postgres')) {
  describe('permission cache across server processes [postgres]', () => {
    it('stops honouring a revoked role on another node within one second', async () => {
      const first = await createTestDatabase('postgres');
      const second = await openDatabase({ engine: 'postgres', url: first.url!, poolSize: 4 });
      const nodeA = await createTestApp('postgres', { database: first, env: { TENANTRY_AUTH_RATE_LIMIT: '10000' } });
      const nodeB = await createTestApp('postgres', { database: second, env: { TENANTRY_AUTH_RATE_LIMIT: '10000' } }).catch(async (error: unknown) => {
        await nodeA.close();
        throw error;
      });
      try {
        const owner = await signUp(nodeA);
        const admin = await signUp(nodeA);
        await withTenant(first.db, owner.tenantId, (trx) => insertMembership(trx, { tenantId: owner.tenantId, userId: admin.userId, kind: 'direct', roles: ['admin'], now: new Date() }));
        const askB = async () =>
          (await nodeB.app.inject({ method: 'POST', url: '/api/v1/check', headers: bearer(admin.accessToken), payload: { tenantId: owner.tenantId, permission: 'members.manage' } })).json().allowed;
        assert.equal(await askB(), true, 'node B has now cached the grant');
        assert.equal(nodeB.app.access.size > 0, true);

        // Demote through node A's database connection: node B hears of it only through NOTIFY.
        await withTenant(first.db, owner.tenantId, (trx) => trx.updateTable('membership_roles').set({ role_key: 'member' }).where('user_id', '=', admin.userId).execute());
        const deadline = Date.now() + 1000;
        let allowed = true;
        while (allowed && Date.now() < deadline) {
          allowed = await askB();
          if (allowed) await new Promise((resolve) => setTimeout(resolve, 20));
        }
        assert.equal(allowed, false, 'node B still honoured the revoked role after one second');
      } finally {
        await nodeB.close();
        await nodeA.close();
      }
    });
  });
}
