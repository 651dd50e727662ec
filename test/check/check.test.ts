import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { withTenant } from '../../src/platform/db/context.ts';
import { openDatabase } from '../../src/platform/db/database.ts';
import { insertMembership } from '../../src/members/memberships.repository.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { createTestDatabase, type TestDatabase, testEngines } from '../helpers/database.ts';
import { eventually } from '../helpers/eventually.ts';
import { seatRoles } from '../helpers/roles.ts';
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
      assert.deepEqual(
        batch.json().results.map((r: { allowed: boolean }) => r.allowed),
        [true, false, true],
      );
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
    /** Two apps ("nodes") on one PostgreSQL database; `first` is node A's own connection pool. */
    async function twoNodes(env: Record<string, string> = {}): Promise<{ first: TestDatabase; nodeA: TestApp; nodeB: TestApp; close: () => Promise<void> }> {
      const first = await createTestDatabase('postgres');
      const second = await openDatabase({ engine: 'postgres', url: first.url!, poolSize: 4 });
      const options = { env: { TENANTRY_AUTH_RATE_LIMIT: '10000', ...env } };
      const nodeA = await createTestApp('postgres', { ...options, database: first }).catch(async (error: unknown) => {
        await second.close();
        await first.close();
        throw error;
      });
      const nodeB = await createTestApp('postgres', { ...options, database: second }).catch(async (error: unknown) => {
        await nodeA.close();
        throw error;
      });
      return {
        first,
        nodeA,
        nodeB,
        close: async () => {
          await nodeB.close();
          await nodeA.close();
        },
      };
    }

    /** Asks node B until it answers `expected`, for at most one second; returns its last answer. */
    const nodeBAnswersWithinOneSecond = (ask: () => Promise<boolean>, expected: boolean) => eventually(ask, (answer) => answer === expected);

    const askOn = (node: TestApp, token: string, tenantId: string, permission: string) => async (): Promise<boolean> => {
      const res = await node.app.inject({ method: 'POST', url: '/api/v1/check', headers: bearer(token), payload: { tenantId, permission } });
      assert.equal(res.statusCode, 200, res.body);
      return res.json().allowed;
    };

    it('stops honouring a revoked role on another node within one second', async () => {
      const { first, nodeA, nodeB, close } = await twoNodes();
      try {
        const owner = await signUp(nodeA);
        const admin = await signUp(nodeA);
        await withTenant(first.db, owner.tenantId, (trx) =>
          insertMembership(trx, { tenantId: owner.tenantId, userId: admin.userId, kind: 'direct', roles: ['admin'], now: new Date() }),
        );
        const askB = askOn(nodeB, admin.accessToken, owner.tenantId, 'members.manage');
        assert.equal(await askB(), true, 'node B has now cached the grant');
        assert.equal(nodeB.app.services.access.size > 0, true);

        // Demote through node A's database connection: node B hears of it only through NOTIFY.
        await withTenant(first.db, owner.tenantId, (trx) => trx.updateTable('membership_roles').set({ role_key: 'member' }).where('user_id', '=', admin.userId).execute());
        assert.equal(await nodeBAnswersWithinOneSecond(askB, false), false, 'node B still honoured the revoked role after one second');
      } finally {
        await close();
      }
    });

    it('follows a feature turned on and off on another node within one second', async () => {
      // mqtt-portal: influx_tokens.create requires the influx add-on, off by default.
      const { nodeA, nodeB, close } = await twoNodes({ TENANTRY_PRESET: 'mqtt-portal' });
      try {
        const owner = await signUp(nodeA);
        const [dataManager] = [...(await seatRoles(nodeA, owner.tenantId, ['data_manager'])).values()];
        const askB = askOn(nodeB, dataManager!.accessToken, owner.tenantId, 'influx_tokens.create');
        const toggle = async (on: boolean) => {
          const res = await nodeA.app.inject({
            method: 'PUT',
            url: `/api/v1/tenants/${owner.tenantId}/features`,
            headers: bearer(owner.accessToken),
            payload: { features: { influx: on } },
          });
          assert.equal(res.statusCode, 200, res.body);
        };
        assert.equal(await askB(), false, 'node B has now cached the refusal (the add-on is off)');
        assert.equal(nodeB.app.services.access.size > 0, true);

        // Both changes go through node A's API: node B hears of them only through NOTIFY.
        await toggle(true);
        assert.equal(await askOn(nodeA, dataManager!.accessToken, owner.tenantId, 'influx_tokens.create')(), true, 'node A sees its own change at once');
        assert.equal(await nodeBAnswersWithinOneSecond(askB, true), true, 'node B still refused after the add-on was turned on a second ago');
        await toggle(false);
        assert.equal(await nodeBAnswersWithinOneSecond(askB, false), false, 'node B still honoured a permission whose feature was turned off a second ago');
      } finally {
        await close();
      }
    });

    it("follows a tenant's suspension and resumption on another node within one second", async () => {
      const { nodeA, nodeB, close } = await twoNodes();
      try {
        const founder = await signUp(nodeA);
        const created = await nodeA.app.inject({
          method: 'POST',
          url: '/api/v1/tenants',
          headers: bearer(founder.accessToken),
          payload: { name: 'Branch', slug: `branch-${process.pid}`, parentId: founder.tenantId },
        });
        assert.equal(created.statusCode, 201, created.body);
        const branch = created.json().id as string;
        const [member] = [...(await seatRoles(nodeA, branch, ['member'])).values()];
        const askB = askOn(nodeB, member!.accessToken, branch, 'tenant.read');
        const setStatus = async (action: 'suspend' | 'resume') => {
          const res = await nodeA.app.inject({ method: 'POST', url: `/api/v1/tenants/${branch}/${action}`, headers: bearer(founder.accessToken), payload: {} });
          assert.equal(res.statusCode, 200, res.body);
          assert.equal(res.json().status, action === 'suspend' ? 'suspended' : 'active');
        };
        assert.equal(await askB(), true, 'node B has now cached the grant');
        assert.equal(nodeB.app.services.access.size > 0, true);

        await setStatus('suspend');
        assert.equal(await nodeBAnswersWithinOneSecond(askB, false), false, 'node B still let a member into a tenant suspended a second ago');
        await setStatus('resume');
        assert.equal(await nodeBAnswersWithinOneSecond(askB, true), true, 'node B still kept a member out of a tenant resumed a second ago');
      } finally {
        await close();
      }
    });
  });
}
