import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { readTenant, withTenant } from '../../src/platform/db/context.ts';
import { insertMembership } from '../../src/tenants/memberships.repository.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { testEngines } from '../helpers/database.ts';
import { assertProblem, bearer, GOOD_PASSWORD, signUp, type SignedUp } from '../helpers/users.ts';

/**
 * SPEC 4 "Approvals", seed 004: in the company-tree preset, deleting a tenant, transferring its ownership and
 * removing an admin are held for approval. A distributor's admin asks; the Main Company's admin (or another
 * holder of approvals.decide here or above, never the initiator) approves or declines; the initiator sees the
 * status. Approval runs the action as the initiator, atomically with marking the request executed.
 */
for (const engine of testEngines()) {
  describe(`approvals for sensitive actions [${engine}]`, () => {
    let t: TestApp;
    let mainAdmin: SignedUp;
    let distAdmin: SignedUp;
    let otherAdmin: SignedUp;
    let tech: SignedUp;
    let stranger: SignedUp;
    let distributor: string;
    let slug: string;

    const api = (method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, who: SignedUp, payload?: object) =>
      t.app.inject({ method, url: `/api/v1${url}`, headers: bearer(who.accessToken), ...(payload === undefined ? {} : { payload }) });
    const join = (userId: string, roles: string[]) =>
      withTenant(t.database.db, distributor, (trx) => insertMembership(trx, { tenantId: distributor, userId, kind: 'direct', roles, now: t.clock.now() }));
    const members = async () => (await api('GET', `/tenants/${distributor}/members`, mainAdmin)).json().members.map((m: { userId: string }) => m.userId).sort();
    const decide = (verb: 'approve' | 'decline' | 'cancel', id: string, who: SignedUp, payload?: object) => api('POST', `/tenants/${distributor}/approval-requests/${id}/${verb}`, who, payload);

    before(async () => {
      t = await createTestApp(engine, { env: { TENANTRY_PRESET: 'company-tree', TENANTRY_AUTH_RATE_LIMIT: '1000' } });
      mainAdmin = await signUp(t, { name: 'Main admin' });
      slug = `distributor-${process.pid}-${engine}`;
      const created = await api('POST', '/tenants', mainAdmin, { name: 'Distributor', slug, parentId: mainAdmin.tenantId });
      assert.equal(created.statusCode, 201, created.body);
      distributor = created.json().id;
      [distAdmin, otherAdmin, tech, stranger] = [await signUp(t), await signUp(t), await signUp(t), await signUp(t)];
      await join(distAdmin.userId, ['admin']);
      await join(otherAdmin.userId, ['admin']);
      await join(tech.userId, ['technician']);
    });
    after(() => t.close());

    it('holds the removal of an admin (202) and lets a technician go at once', async () => {
      const held = await api('DELETE', `/tenants/${distributor}/members/${otherAdmin.userId}`, distAdmin);
      assert.equal(held.statusCode, 202, held.body);
      const request = held.json().approvalRequest;
      assert.deepEqual([request.action, request.status, request.params, request.requestedBy], ['member.remove_admin', 'pending', { userId: otherAdmin.userId }, distAdmin.userId]);
      assert.ok((await members()).includes(otherAdmin.userId), 'nothing happens before approval');

      // The initiator sees their own request; a decider above sees it too; a technician sees none of it.
      assert.deepEqual((await api('GET', `/tenants/${distributor}/approval-requests`, distAdmin)).json().approvalRequests.map((r: { id: string }) => r.id), [request.id]);
      assert.deepEqual((await api('GET', `/tenants/${distributor}/approval-requests?status=pending`, mainAdmin)).json().approvalRequests.map((r: { id: string }) => r.id), [request.id]);
      assert.deepEqual((await api('GET', `/tenants/${distributor}/approval-requests`, tech)).json().approvalRequests, []);
      assertProblem(await api('GET', `/tenants/${distributor}/approval-requests/${request.id}`, tech), 404, 'approval_request_not_found');

      // Not the initiator, not someone without approvals.decide, not someone from another tenant.
      assertProblem(await decide('approve', request.id, distAdmin), 403, 'approval_by_initiator');
      assertProblem(await decide('approve', request.id, tech), 403, 'forbidden');
      assertProblem(await decide('approve', request.id, stranger), 404, 'tenant_not_found');
      assertProblem(await api('GET', `/tenants/${distributor}/approval-requests`, stranger), 404, 'tenant_not_found');

      const approved = await decide('approve', request.id, mainAdmin, { note: 'agreed with the distributor' });
      assert.equal(approved.statusCode, 200, approved.body);
      assert.deepEqual([approved.json().status, approved.json().decidedBy, approved.json().note], ['executed', mainAdmin.userId, 'agreed with the distributor']);
      assert.ok(!(await members()).includes(otherAdmin.userId));
      assertProblem(await decide('approve', request.id, mainAdmin), 409, 'approval_request_not_pending');
      // The initiator sees the outcome; the trail names the initiator as the one who removed, under the decision.
      assert.equal((await api('GET', `/tenants/${distributor}/approval-requests/${request.id}`, distAdmin)).json().status, 'executed');
      const trail = await readTenant(t.database.db, distributor, (trx) =>
        trx.selectFrom('audit_events').select(['action', 'actor_id', 'target_id']).where('tenant_id', '=', distributor).where('seq', '>', '0').orderBy('seq').execute(),
      );
      const tail = trail.filter((e) => e.action.startsWith('approval.') || e.action === 'member.removed').map((e) => [e.action, e.actor_id]);
      assert.deepEqual(tail, [
        ['approval.requested', distAdmin.userId],
        ['approval.executed', mainAdmin.userId],
        ['member.removed', distAdmin.userId],
      ]);

      // Someone who is not an admin goes without approval.
      const other = await signUp(t);
      await join(other.userId, ['technician']);
      assert.equal((await api('DELETE', `/tenants/${distributor}/members/${other.userId}`, distAdmin)).statusCode, 204);
    });

    it('holds taking the admin rights away by a role change, as removing the admin would be', async () => {
      const admin = await signUp(t);
      await join(admin.userId, ['admin']);
      const held = await api('PATCH', `/tenants/${distributor}/members/${admin.userId}`, distAdmin, { roles: ['technician'] });
      assert.equal(held.statusCode, 202, held.body);
      assert.deepEqual([held.json().approvalRequest.action, held.json().approvalRequest.params], ['member.remove_admin', { userId: admin.userId, roles: ['technician'] }]);
      const rolesOf = async (userId: string) => (await api('GET', `/tenants/${distributor}/members`, mainAdmin)).json().members.find((m: { userId: string }) => m.userId === userId)?.roles;
      assert.deepEqual(await rolesOf(admin.userId), ['admin']);
      assert.equal((await decide('approve', held.json().approvalRequest.id, mainAdmin)).json().status, 'executed');
      assert.deepEqual(await rolesOf(admin.userId), ['technician']);
      // Changes that leave the rights where they are go through at once.
      assert.equal((await api('PATCH', `/tenants/${distributor}/members/${admin.userId}`, distAdmin, { roles: ['end_user'] })).statusCode, 200);
      assert.equal((await api('PATCH', `/tenants/${distributor}/members/${admin.userId}`, distAdmin, { roles: ['admin'] })).statusCode, 200);
      assert.equal((await api('PATCH', `/tenants/${distributor}/members/${admin.userId}`, distAdmin, { roles: ['admin', 'technician'] })).statusCode, 200);
    });

    it('answers a wrong slug at once, and a declined transfer changes nothing', async () => {
      assertProblem(await api('POST', `/tenants/${distributor}/transfer-ownership`, distAdmin, { userId: tech.userId, confirm: 'nope' }), 422, 'confirmation_mismatch');
      const held = await api('POST', `/tenants/${distributor}/transfer-ownership`, distAdmin, { userId: tech.userId, confirm: slug });
      assert.equal(held.statusCode, 202, held.body);
      const declined = await decide('decline', held.json().approvalRequest.id, mainAdmin, { note: 'not now' });
      assert.deepEqual([declined.json().status, declined.json().note], ['declined', 'not now']);
      const roles = (await api('GET', `/tenants/${distributor}/members`, mainAdmin)).json().members.find((m: { userId: string }) => m.userId === tech.userId).roles;
      assert.deepEqual(roles, ['technician']);
      assertProblem(await decide('approve', held.json().approvalRequest.id, mainAdmin), 409, 'approval_request_not_pending');
    });

    it('records a refused action as failed, with nothing of it left behind', async () => {
      const held = await api('POST', `/tenants/${distributor}/transfer-ownership`, distAdmin, { userId: tech.userId, confirm: slug });
      assert.equal(held.statusCode, 202, held.body);
      // The recipient leaves before the decision; the transfer, run on approval, finds no such member.
      assert.equal((await api('DELETE', `/tenants/${distributor}/members/${tech.userId}`, tech)).statusCode, 204);
      const approved = await decide('approve', held.json().approvalRequest.id, mainAdmin);
      assert.equal(approved.statusCode, 200, approved.body);
      assert.equal(approved.json().status, 'failed');
      assert.equal(approved.json().outcome.code, 'member_not_found');
      // The executed mark written in the action's transaction went with it.
      const stored = await readTenant(t.database.db, distributor, (trx) => trx.selectFrom('approval_requests').select('status').where('id', '=', held.json().approvalRequest.id).executeTakeFirstOrThrow());
      assert.equal(stored.status, 'failed');
      await join(tech.userId, ['technician']);
    });

    it('lets only the initiator cancel, and expires requests after a week', async () => {
      const held = await api('POST', `/tenants/${distributor}/transfer-ownership`, distAdmin, { userId: tech.userId, confirm: slug });
      const id = held.json().approvalRequest.id;
      assertProblem(await decide('cancel', id, mainAdmin), 403, 'approval_not_initiator');
      assert.equal((await decide('cancel', id, distAdmin)).json().status, 'cancelled');

      const later = await api('POST', `/tenants/${distributor}/transfer-ownership`, distAdmin, { userId: tech.userId, confirm: slug });
      t.clock.advance(7 * 24 * 60 * 60_000 + 1000);
      for (const who of [mainAdmin, distAdmin]) {
        const res = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: who.email, password: GOOD_PASSWORD, tenantId: who.tenantId } });
        who.accessToken = res.json().accessToken;
      }
      assert.equal((await api('GET', `/tenants/${distributor}/approval-requests/${later.json().approvalRequest.id}`, distAdmin)).json().status, 'expired');
      assertProblem(await decide('approve', later.json().approvalRequest.id, mainAdmin), 409, 'approval_request_not_pending');
    });

    it('pages through the requests, newest first, by status', async () => {
      const all = (await api('GET', `/tenants/${distributor}/approval-requests?limit=200`, mainAdmin)).json();
      assert.equal(all.nextCursor, null);
      assert.ok(all.approvalRequests.length >= 5, `expected several requests, got ${all.approvalRequests.length}`);
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const res = await api('GET', `/tenants/${distributor}/approval-requests?limit=2${cursor === null ? '' : `&cursor=${cursor}`}`, mainAdmin);
        assert.equal(res.statusCode, 200, res.body);
        seen.push(...res.json().approvalRequests.map((r: { id: string }) => r.id));
        cursor = res.json().nextCursor;
      } while (cursor !== null);
      assert.deepEqual(seen, all.approvalRequests.map((r: { id: string }) => r.id));
      const statuses = (status: string) => api('GET', `/tenants/${distributor}/approval-requests?status=${status}`, mainAdmin).then((r) => r.json().approvalRequests.map((x: { status: string }) => x.status));
      assert.deepEqual([...new Set(await statuses('expired'))], ['expired']);
      assert.deepEqual([...new Set(await statuses('executed'))], ['executed']);
      assertProblem(await api('GET', `/tenants/${distributor}/approval-requests?cursor=bm9wZQ`, mainAdmin), 400, 'invalid_cursor');
    });

    if (engine === 'postgres') {
      it('executes an action once when two deciders approve it at the same moment', async () => {
        const second = await signUp(t);
        await withTenant(t.database.db, mainAdmin.tenantId, (trx) => insertMembership(trx, { tenantId: mainAdmin.tenantId, userId: second.userId, kind: 'direct', roles: ['admin'], now: t.clock.now() }));
        for (let round = 0; round < 5; round++) {
          const target = await signUp(t);
          await join(target.userId, ['admin']);
          const held = await api('DELETE', `/tenants/${distributor}/members/${target.userId}`, distAdmin);
          assert.equal(held.statusCode, 202, held.body);
          const id = held.json().approvalRequest.id;
          const answers = await Promise.all([decide('approve', id, mainAdmin), decide('approve', id, second)]);
          const codes = answers.map((a) => (a.statusCode === 200 ? a.json().status : a.json().code)).sort();
          assert.deepEqual(codes, ['approval_request_not_pending', 'executed'], answers.map((a) => a.body).join('\n'));
          const removals = await readTenant(t.database.db, distributor, (trx) =>
            trx.selectFrom('audit_events').select('seq').where('tenant_id', '=', distributor).where('action', '=', 'member.removed').where('target_id', '=', target.userId).execute(),
          );
          assert.equal(removals.length, 1);
        }
      });
    }

    it('deletes the tenant once the deletion is approved', async () => {
      const below = await api('POST', '/tenants', distAdmin, { name: 'Dealer', slug: `dealer-${process.pid}-${engine}`, parentId: distributor });
      assert.equal(below.statusCode, 201, below.body);
      // Never from inside it or a tenant below it, approval or not; and the tenants below only with it.
      for (const tenantId of [distributor, below.json().id]) {
        const inside = (await t.app.inject({ method: 'POST', url: '/api/v1/auth/active-tenant', headers: bearer(distAdmin.accessToken), payload: { tenantId } })).json();
        assertProblem(await api('DELETE', `/tenants/${distributor}`, { ...distAdmin, accessToken: inside.accessToken }, { confirm: slug, includeDescendants: true }), 409, 'active_tenant');
      }
      assertProblem(await api('DELETE', `/tenants/${distributor}`, distAdmin, { confirm: slug }), 409, 'tenant_has_children');
      const held = await api('DELETE', `/tenants/${distributor}`, distAdmin, { confirm: slug, includeDescendants: true });
      assert.equal(held.statusCode, 202, held.body);
      assert.equal((await api('GET', `/tenants/${distributor}`, mainAdmin)).json().status, 'active');
      const approved = await decide('approve', held.json().approvalRequest.id, mainAdmin);
      assert.equal(approved.json().status, 'executed', approved.body);
      assert.equal((await api('GET', `/tenants/${distributor}`, mainAdmin)).json().status, 'pending_deletion');
      assert.equal((await api('GET', `/tenants/${below.json().id}`, mainAdmin)).json().status, 'pending_deletion');
    });
  });
}
