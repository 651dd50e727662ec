import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { hashPassword } from '../../src/accounts/passwords.ts';
import { readSystem, readTenant, withSystem } from '../../src/platform/db/context.ts';
import { newId } from '../../src/platform/ids.ts';
import { loadPreset } from '../../src/presets/presets.ts';
import { createTestApp, TEST_PASSWORD_HASHING, type TestApp } from '../helpers/app.ts';
import { testEngines } from '../helpers/database.ts';
import { seedTenant } from '../helpers/tenants.ts';
import { assertProblem, bearer, GOOD_PASSWORD, join, signIn, uniqueEmail } from '../helpers/users.ts';

/**
 * SPEC 4 "Approvals", seed 004: in the company-tree preset, deleting a tenant, transferring its ownership and
 * removing an admin are held for approval. A distributor's admin asks; the Main Company's admin (or another
 * holder of approvals.decide above, never the initiator, never the person the action is about) approves or
 * declines; the initiator sees the status and is told the decision by mail; deciders find what waits for them in
 * one inbox across the tree and are told by mail. Approval runs the action as the initiator, atomically with
 * marking the request executed. A platform super admin's own actions are not held: nobody is above them.
 */

interface Person {
  userId: string;
  email: string;
  accessToken: string;
  refreshToken: string;
}

let passwordHash: Promise<string> | undefined;
let counter = 0;

/** A verified person with no tenant (company-tree has no self-service sign-up), signed in with no active tenant. */
async function person(t: TestApp, label: string, platformRole: 'super_admin' | null = null): Promise<Person> {
  passwordHash ??= hashPassword(GOOD_PASSWORD, TEST_PASSWORD_HASHING);
  const hash = await passwordHash;
  const id = newId('user');
  const email = uniqueEmail(label.toLowerCase().replace(/[^a-z]/g, ''));
  const now = t.clock.now();
  await withSystem(t.database.db, (trx) =>
    trx
      .insertInto('users')
      .values({ id, email, name: label, password_hash: hash, email_verified_at: now, platform_role: platformRole, created_at: now, updated_at: now })
      .execute(),
  );
  const { accessToken, refreshToken } = await signIn(t, email);
  return { userId: id, email, accessToken, refreshToken };
}

/** The Main Company (the install's root, if it made one at start), with `admin` as its Company Admin. */
async function mainCompany(t: TestApp, admin: Person): Promise<string> {
  const existing = await readSystem(t.database.db, (trx) => trx.selectFrom('tenant_tree').select('tenant_id').where(sql<boolean>`cardinality(path) = 1`).executeTakeFirst());
  if (existing === undefined) return (await seedTenant(t.database, { name: 'Main Company', ownerId: admin.userId, ownerRole: 'admin' })).tenantId;
  await join(t, existing.tenant_id, admin.userId, ['admin']);
  return existing.tenant_id;
}

function harness(get: () => TestApp) {
  const api = (method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, who: Person, payload?: object) =>
    get().app.inject({ method, url: `/api/v1${url}`, headers: bearer(who.accessToken), ...(payload === undefined ? {} : { payload }) });
  const child = async (parentId: string, who: Person, name: string) => {
    const slug = `${name.toLowerCase().replace(/[^a-z]+/g, '-')}-${process.pid}-${++counter}`;
    const res = await api('POST', '/tenants', who, { name, slug, parentId });
    assert.equal(res.statusCode, 201, res.body);
    return { id: res.json().id as string, slug };
  };
  const ids = (res: { json: () => { approvalRequests: Array<{ id: string }> } }) => res.json().approvalRequests.map((r) => r.id);
  /** The mail queued for `email`, oldest first. */
  const mailTo = async (email: string) =>
    (await get().database.db.selectFrom('outbox').select(['id', 'payload']).where('topic', '=', 'mail').orderBy('created_at').orderBy('id').execute())
      .map((row) => (typeof row.payload === 'string' ? JSON.parse(row.payload) : row.payload) as { to: string; subject: string; text: string })
      .filter((mail) => mail.to === email);
  return { api, child, ids, mailTo };
}

for (const engine of testEngines()) {
  describe(`approvals for sensitive actions [${engine}]`, () => {
    let t: TestApp;
    const { api, child, mailTo } = harness(() => t);
    let mainAdmin: Person;
    let distAdmin: Person;
    let otherAdmin: Person;
    let tech: Person;
    let stranger: Person;
    let main: string;
    let distributor: string;
    let slug: string;

    const joinHere = (userId: string, roles: string[]) => join(t, distributor, userId, roles);
    const members = async () =>
      (await api('GET', `/tenants/${distributor}/members`, mainAdmin))
        .json()
        .members.map((m: { userId: string }) => m.userId)
        .sort();
    const decide = (verb: 'approve' | 'decline' | 'cancel', id: string, who: Person, payload?: object) =>
      api('POST', `/tenants/${distributor}/approval-requests/${id}/${verb}`, who, payload);

    before(async () => {
      t = await createTestApp(engine, { env: { TENANTRY_PRESET: 'company-tree', TENANTRY_AUTH_RATE_LIMIT: '1000' } });
      mainAdmin = await person(t, 'Main admin');
      main = await mainCompany(t, mainAdmin);
      ({ id: distributor, slug } = await child(main, mainAdmin, 'Distributor'));
      [distAdmin, otherAdmin, tech, stranger] = [await person(t, 'Dist admin'), await person(t, 'Other admin'), await person(t, 'Tech'), await person(t, 'Stranger')];
      await joinHere(distAdmin.userId, ['admin']);
      await joinHere(otherAdmin.userId, ['admin']);
      await joinHere(tech.userId, ['technician']);
    });
    after(() => t.close());

    it('holds the removal of an admin (202) and lets a technician go at once', async () => {
      const held = await api('DELETE', `/tenants/${distributor}/members/${otherAdmin.userId}`, distAdmin);
      assert.equal(held.statusCode, 202, held.body);
      const request = held.json().approvalRequest;
      assert.deepEqual([request.action, request.status, request.params, request.requestedBy], ['member.remove_admin', 'pending', { userId: otherAdmin.userId }, distAdmin.userId]);
      assert.ok((await members()).includes(otherAdmin.userId), 'nothing happens before approval');

      // The initiator sees their own request; a decider above sees it too; a technician sees none of it.
      assert.deepEqual(
        (await api('GET', `/tenants/${distributor}/approval-requests`, distAdmin)).json().approvalRequests.map((r: { id: string }) => r.id),
        [request.id],
      );
      assert.deepEqual(
        (await api('GET', `/tenants/${distributor}/approval-requests?status=pending`, mainAdmin)).json().approvalRequests.map((r: { id: string }) => r.id),
        [request.id],
      );
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
      const other = await person(t, 'Leaving tech');
      await joinHere(other.userId, ['technician']);
      assert.equal((await api('DELETE', `/tenants/${distributor}/members/${other.userId}`, distAdmin)).statusCode, 204);
    });

    it('holds taking the admin rights away by a role change, as removing the admin would be', async () => {
      const admin = await person(t, 'Re-roled admin');
      await joinHere(admin.userId, ['admin']);
      const held = await api('PATCH', `/tenants/${distributor}/members/${admin.userId}`, distAdmin, { roles: ['technician'] });
      assert.equal(held.statusCode, 202, held.body);
      assert.deepEqual([held.json().approvalRequest.action, held.json().approvalRequest.params], ['member.remove_admin', { userId: admin.userId, roles: ['technician'] }]);
      const rolesOf = async (userId: string) =>
        (await api('GET', `/tenants/${distributor}/members`, mainAdmin)).json().members.find((m: { userId: string }) => m.userId === userId)?.roles;
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

    it('records a refused action as failed, with nothing of it left behind, and tells the initiator why', async () => {
      const held = await api('POST', `/tenants/${distributor}/transfer-ownership`, distAdmin, { userId: tech.userId, confirm: slug });
      assert.equal(held.statusCode, 202, held.body);
      // The recipient leaves before the decision; the transfer, run on approval, finds no such member.
      assert.equal((await api('DELETE', `/tenants/${distributor}/members/${tech.userId}`, tech)).statusCode, 204);
      const approved = await decide('approve', held.json().approvalRequest.id, mainAdmin);
      assert.equal(approved.statusCode, 200, approved.body);
      assert.equal(approved.json().status, 'failed');
      assert.equal(approved.json().outcome.code, 'member_not_found');
      // The executed mark written in the action's transaction went with it.
      const stored = await readTenant(t.database.db, distributor, (trx) =>
        trx.selectFrom('approval_requests').select('status').where('id', '=', held.json().approvalRequest.id).executeTakeFirstOrThrow(),
      );
      assert.equal(stored.status, 'failed');
      const subjects = (await mailTo(distAdmin.email)).map((m) => m.subject);
      assert.ok(subjects.includes('Your request was approved, but it could not be carried out: transfer the ownership of Distributor to Tech'), subjects.join('\n'));
      await joinHere(tech.userId, ['technician']);
    });

    it('lets only the initiator cancel, and expires requests after a week', async () => {
      const held = await api('POST', `/tenants/${distributor}/transfer-ownership`, distAdmin, { userId: tech.userId, confirm: slug });
      const id = held.json().approvalRequest.id;
      assertProblem(await decide('cancel', id, mainAdmin), 403, 'approval_not_initiator');
      assert.equal((await decide('cancel', id, distAdmin)).json().status, 'cancelled');

      const later = await api('POST', `/tenants/${distributor}/transfer-ownership`, distAdmin, { userId: tech.userId, confirm: slug });
      t.clock.advance(7 * 24 * 60 * 60_000 + 1000);
      for (const who of [mainAdmin, distAdmin]) {
        const res = await t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refreshToken: who.refreshToken } });
        assert.equal(res.statusCode, 200, res.body);
        [who.accessToken, who.refreshToken] = [res.json().accessToken, res.json().refreshToken];
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
      assert.deepEqual(
        seen,
        all.approvalRequests.map((r: { id: string }) => r.id),
      );
      const statuses = (status: string) =>
        api('GET', `/tenants/${distributor}/approval-requests?status=${status}`, mainAdmin).then((r) => r.json().approvalRequests.map((x: { status: string }) => x.status));
      assert.deepEqual([...new Set(await statuses('expired'))], ['expired']);
      assert.deepEqual([...new Set(await statuses('executed'))], ['executed']);
      assertProblem(await api('GET', `/tenants/${distributor}/approval-requests?cursor=bm9wZQ`, mainAdmin), 400, 'invalid_cursor');
    });

    if (engine === 'postgres') {
      it('executes an action once when two deciders approve it at the same moment', async () => {
        const second = await person(t, 'Second main admin');
        await join(t, main, second.userId, ['admin']);
        for (let round = 0; round < 5; round++) {
          const target = await person(t, `Target ${round}`);
          await joinHere(target.userId, ['admin']);
          const held = await api('DELETE', `/tenants/${distributor}/members/${target.userId}`, distAdmin);
          assert.equal(held.statusCode, 202, held.body);
          const id = held.json().approvalRequest.id;
          const answers = await Promise.all([decide('approve', id, mainAdmin), decide('approve', id, second)]);
          const codes = answers.map((a) => (a.statusCode === 200 ? a.json().status : a.json().code)).sort();
          assert.deepEqual(codes, ['approval_request_not_pending', 'executed'], answers.map((a) => a.body).join('\n'));
          const removals = await readTenant(t.database.db, distributor, (trx) =>
            trx
              .selectFrom('audit_events')
              .select('seq')
              .where('tenant_id', '=', distributor)
              .where('action', '=', 'member.removed')
              .where('target_id', '=', target.userId)
              .execute(),
          );
          assert.equal(removals.length, 1);
        }
      });
    }

    it('deletes the tenant once the deletion is approved', async () => {
      const below = await child(distributor, distAdmin, 'Dealer');
      // Never from inside it or a tenant below it, approval or not; and the tenants below only with it.
      for (const tenantId of [distributor, below.id]) {
        const inside = (await t.app.inject({ method: 'POST', url: '/api/v1/auth/active-tenant', headers: bearer(distAdmin.accessToken), payload: { tenantId } })).json();
        assertProblem(
          await api('DELETE', `/tenants/${distributor}`, { ...distAdmin, accessToken: inside.accessToken }, { confirm: slug, includeDescendants: true }),
          409,
          'active_tenant',
        );
      }
      assertProblem(await api('DELETE', `/tenants/${distributor}`, distAdmin, { confirm: slug }), 409, 'tenant_has_children');
      const held = await api('DELETE', `/tenants/${distributor}`, distAdmin, { confirm: slug, includeDescendants: true });
      assert.equal(held.statusCode, 202, held.body);
      assert.equal((await api('GET', `/tenants/${distributor}`, mainAdmin)).json().status, 'active');
      const approved = await decide('approve', held.json().approvalRequest.id, mainAdmin);
      assert.equal(approved.json().status, 'executed', approved.body);
      assert.equal((await api('GET', `/tenants/${distributor}`, mainAdmin)).json().status, 'pending_deletion');
      assert.equal((await api('GET', `/tenants/${below.id}`, mainAdmin)).json().status, 'pending_deletion');
    });
  });

  /**
   * Seed 004: "their execution is confirmed by the Super Admin or Company Admin, who receives a request for this",
   * and "the lower-level administrator who initiated this request will be able to see the request's status".
   * The tree: Main Company → Distributor → Dealer, and a Sibling distributor beside the first.
   */
  describe(`the decider's inbox, mail, and who may decide [company-tree, ${engine}]`, () => {
    let t: TestApp;
    const { api, child, ids, mailTo } = harness(() => t);
    let mainAdmin: Person;
    let mainAdmin2: Person;
    let distAdmin: Person;
    let distPeer: Person;
    let tech: Person;
    let dealerAdmin: Person;
    let dealerTech: Person;
    let siblingAdmin: Person;
    let stranger: Person;
    let operator: Person;
    let main: string;
    let dist: { id: string; slug: string };
    let dealer: { id: string; slug: string };
    let sibling: { id: string; slug: string };
    /** Pending: the Distributor's admin asks to remove their peer; the Dealer's admin asks to hand the Dealer to its technician. */
    let removal: string;
    let transfer: string;

    const inbox = (who: Person, query = '?status=pending') => api('GET', `/approval-requests${query}`, who);
    const decideIn = (tenantId: string, verb: 'approve' | 'decline', id: string, who: Person) => api('POST', `/tenants/${tenantId}/approval-requests/${id}/${verb}`, who, {});

    before(async () => {
      t = await createTestApp(engine, { env: { TENANTRY_PRESET: 'company-tree', TENANTRY_AUTH_RATE_LIMIT: '1000' } });
      mainAdmin = await person(t, 'Mona Main');
      main = await mainCompany(t, mainAdmin);
      mainAdmin2 = await person(t, 'Max Main');
      await join(t, main, mainAdmin2.userId, ['admin']);
      dist = await child(main, mainAdmin, 'Distributor');
      sibling = await child(main, mainAdmin, 'Sibling');
      dealer = await child(dist.id, mainAdmin, 'Dealer');
      [distAdmin, distPeer, tech, dealerAdmin, dealerTech, siblingAdmin, stranger] = [
        await person(t, 'Dana Dist'),
        await person(t, 'Pete Peer'),
        await person(t, 'Tom Tech'),
        await person(t, 'Dirk Dealer'),
        await person(t, 'Tina Dealertech'),
        await person(t, 'Sid Sibling'),
        await person(t, 'Stan Stranger'),
      ];
      operator = await person(t, 'Olga Operator', 'super_admin');
      await join(t, dist.id, distAdmin.userId, ['admin']);
      await join(t, dist.id, distPeer.userId, ['admin']);
      await join(t, dist.id, tech.userId, ['technician']);
      await join(t, dealer.id, dealerAdmin.userId, ['admin']);
      await join(t, dealer.id, dealerTech.userId, ['technician']);
      await join(t, sibling.id, siblingAdmin.userId, ['admin']);

      const held = await api('DELETE', `/tenants/${dist.id}/members/${distPeer.userId}`, distAdmin);
      assert.equal(held.statusCode, 202, held.body);
      removal = held.json().approvalRequest.id;
      const asked = await api('POST', `/tenants/${dealer.id}/transfer-ownership`, dealerAdmin, { userId: dealerTech.userId, confirm: dealer.slug });
      assert.equal(asked.statusCode, 202, asked.body);
      transfer = asked.json().approvalRequest.id;
    });
    after(() => t.close());

    it('company-tree decides approvals only from above (preset policy)', () => {
      assert.equal((loadPreset('company-tree').policies as { approvalDeciders?: string }).approvalDeciders, 'above');
    });

    it("shows the Main Company's admin every pending request below it, in the inbox and in the Main Company's listing", async () => {
      const mine = await inbox(mainAdmin);
      assert.equal(mine.statusCode, 200, mine.body);
      assert.deepEqual(new Set(ids(mine)), new Set([removal, transfer]));
      const byTenant = Object.fromEntries(mine.json().approvalRequests.map((r: { id: string; tenantId: string }) => [r.id, r.tenantId]));
      assert.deepEqual(byTenant, { [removal]: dist.id, [transfer]: dealer.id });
      assert.deepEqual(new Set(ids(await api('GET', `/tenants/${main}/approval-requests?status=pending`, mainAdmin))), new Set([removal, transfer]));
      // The Distributor's listing shows its own requests and its Dealer's to its admin.
      assert.deepEqual(new Set(ids(await api('GET', `/tenants/${dist.id}/approval-requests?status=pending`, distAdmin))), new Set([removal, transfer]));
      // A super admin decides everywhere.
      assert.deepEqual(new Set(ids(await inbox(operator))), new Set([removal, transfer]));
    });

    it("puts in each inbox only what that person may decide: the Distributor's admins decide for the Dealer, not for their own company", async () => {
      assert.deepEqual(ids(await inbox(distAdmin)), [transfer], 'their own request is not theirs to decide');
      assert.deepEqual(ids(await inbox(distPeer)), [transfer], "nor is the request to remove them, nor their own company's");
      assert.deepEqual(ids(await inbox(dealerAdmin)), []);
    });

    it("shows a technician, a sibling company's admin and a stranger nothing, and lets none of them decide", async () => {
      for (const who of [tech, dealerTech, siblingAdmin, stranger]) assert.deepEqual(ids(await inbox(who, '')), [], who.email);
      assert.deepEqual(ids(await api('GET', `/tenants/${dist.id}/approval-requests`, tech)), []);
      assert.deepEqual(ids(await api('GET', `/tenants/${sibling.id}/approval-requests`, siblingAdmin)), []);
      for (const [tenantId, id] of [
        [dist.id, removal],
        [dealer.id, transfer],
      ] as const) {
        assertProblem(await api('GET', `/tenants/${tenantId}/approval-requests`, siblingAdmin), 404, 'tenant_not_found');
        assertProblem(await decideIn(tenantId, 'approve', id, siblingAdmin), 404, 'tenant_not_found');
        assertProblem(await decideIn(tenantId, 'approve', id, stranger), 404, 'tenant_not_found');
      }
      assertProblem(await decideIn(dist.id, 'approve', removal, tech), 403, 'forbidden');
      // Nothing was decided.
      const stored = await readTenant(t.database.db, dist.id, (trx) => trx.selectFrom('approval_requests').select('status').where('id', '=', removal).executeTakeFirstOrThrow());
      assert.equal(stored.status, 'pending');
    });

    it('pages through the inbox with a cursor, newest first', async () => {
      const more: string[] = [];
      for (let i = 0; i < 3; i++) {
        t.clock.advance(i === 1 ? 0 : 1000); // two at the same instant: the id breaks the tie
        const res = await api('POST', `/tenants/${dealer.id}/transfer-ownership`, dealerAdmin, { userId: dealerTech.userId, confirm: dealer.slug });
        assert.equal(res.statusCode, 202, res.body);
        more.push(res.json().approvalRequest.id);
      }
      const all = (await inbox(mainAdmin, '?status=pending&limit=200')).json();
      assert.equal(all.nextCursor, null);
      assert.deepEqual(new Set(all.approvalRequests.map((r: { id: string }) => r.id)), new Set([removal, transfer, ...more]));
      assert.equal(all.approvalRequests[0].id, more[2], 'the newest first');
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const res = await inbox(mainAdmin, `?status=pending&limit=2${cursor === null ? '' : `&cursor=${cursor}`}`);
        assert.equal(res.statusCode, 200, res.body);
        assert.ok(res.json().approvalRequests.length <= 2);
        seen.push(...ids(res));
        cursor = res.json().nextCursor;
        pages++;
      } while (cursor !== null);
      assert.equal(pages, 3);
      assert.deepEqual(
        seen,
        all.approvalRequests.map((r: { id: string }) => r.id),
      );
      // The same through the Main Company's listing.
      const listed: string[] = [];
      cursor = null;
      do {
        const res = await api('GET', `/tenants/${main}/approval-requests?status=pending&limit=1${cursor === null ? '' : `&cursor=${cursor}`}`, mainAdmin);
        listed.push(...ids(res));
        cursor = res.json().nextCursor;
      } while (cursor !== null);
      assert.deepEqual(listed, seen);
      assertProblem(await inbox(mainAdmin, '?cursor=bm9wZQ'), 400, 'invalid_cursor');
      // Tidy: withdraw them again.
      for (const id of more) assert.equal((await api('POST', `/tenants/${dealer.id}/approval-requests/${id}/cancel`, dealerAdmin, {})).json().status, 'cancelled');
    });

    it('mails the deciders above when a request waits for them, and never the initiator, the person it is about, or a peer', async () => {
      const waiting = (mail: Array<{ subject: string }>) => mail.filter((m) => m.subject.startsWith('Approval needed')).map((m) => m.subject);
      const toMona = waiting(await mailTo(mainAdmin.email));
      assert.ok(toMona.includes('Approval needed: Dana Dist asks to remove Pete Peer, an administrator, from Distributor'), toMona.join('\n'));
      assert.ok(toMona.includes('Approval needed: Dirk Dealer asks to transfer the ownership of Dealer to Tina Dealertech'), toMona.join('\n'));
      assert.deepEqual(waiting(await mailTo(mainAdmin2.email)).sort(), [...toMona].sort());
      // The Distributor's admins hear of the Dealer's requests only: their own company's are decided above them.
      assert.ok(waiting(await mailTo(distAdmin.email)).every((s) => s.includes('Dealer')) && waiting(await mailTo(distAdmin.email)).length > 0);
      assert.ok(waiting(await mailTo(distPeer.email)).every((s) => s.includes('Dealer')));
      for (const who of [dealerAdmin, dealerTech, tech, siblingAdmin, stranger, operator]) assert.deepEqual(waiting(await mailTo(who.email)), [], who.email);
      const [first] = await mailTo(mainAdmin.email);
      assert.match(first?.text ?? '', /http:\/\/tenantry\.test\/approvals\?tenant=/);
    });

    it('refuses a Company Admin deciding her own removal, even from above (approval_by_target)', async () => {
      // Mona made the Distributor, so she administers it herself too; its admin asks to remove her from it.
      const held = await api('DELETE', `/tenants/${dist.id}/members/${mainAdmin.userId}`, distAdmin);
      assert.equal(held.statusCode, 202, held.body);
      const id = held.json().approvalRequest.id;
      assertProblem(await decideIn(dist.id, 'approve', id, mainAdmin), 403, 'approval_by_target');
      assertProblem(await decideIn(dist.id, 'decline', id, mainAdmin), 403, 'approval_by_target');
      assert.ok(!ids(await inbox(mainAdmin)).includes(id), 'it is not in her inbox');
      assert.ok(ids(await inbox(mainAdmin2)).includes(id));
      assert.ok(!(await mailTo(mainAdmin.email)).some((m) => m.subject.includes('remove Mona Main')), 'she is not asked to decide it');
      // The other Company Admin above may.
      const approved = await decideIn(dist.id, 'approve', id, mainAdmin2);
      assert.equal(approved.json().status, 'executed', approved.body);
      const told = (await mailTo(distAdmin.email)).find((m) => m.subject === 'Your request was approved and carried out: remove Mona Main, an administrator, from Distributor');
      assert.match(told?.text ?? '', /Max Main approved your request to remove Mona Main/);
      assert.deepEqual(
        (await mailTo(mainAdmin.email)).filter((m) => m.subject.startsWith('Your request')),
        [],
        'only the initiator hears the decision',
      );
    });

    it('lets no peer admin of the same company decide: only someone above it (approval_not_from_above)', async () => {
      assertProblem(await decideIn(dist.id, 'approve', removal, distPeer), 403, 'approval_by_target');
      const again = await api('POST', `/tenants/${dist.id}/transfer-ownership`, distAdmin, { userId: tech.userId, confirm: dist.slug });
      assert.equal(again.statusCode, 202, again.body);
      const id = again.json().approvalRequest.id;
      assertProblem(await decideIn(dist.id, 'approve', id, distPeer), 403, 'approval_not_from_above');
      assertProblem(await decideIn(dist.id, 'decline', id, distPeer), 403, 'approval_not_from_above');
      // The peer still sees the request in the company's listing, but it is not in their inbox.
      assert.ok(ids(await api('GET', `/tenants/${dist.id}/approval-requests`, distPeer)).includes(id));
      assert.ok(!ids(await inbox(distPeer)).includes(id));
      // The Dealer's admins are below, never above.
      assertProblem(await decideIn(dist.id, 'approve', id, dealerAdmin), 404, 'tenant_not_found');
      const declined = await decideIn(dist.id, 'decline', id, mainAdmin);
      assert.equal(declined.json().status, 'declined', declined.body);
      assert.ok((await mailTo(distAdmin.email)).some((m) => m.subject === 'Your request was declined: transfer the ownership of Distributor to Tom Tech'));
    });

    it("does not hold a super admin's own deletion, and audits that no approval was required", async () => {
      const branch = await child(main, mainAdmin, 'Branch');
      const requestsBefore = await readTenant(t.database.db, branch.id, (trx) => trx.selectFrom('approval_requests').select('id').execute());
      const deleted = await api('DELETE', `/tenants/${branch.id}`, operator, { confirm: branch.slug });
      assert.equal(deleted.statusCode, 200, deleted.body);
      assert.equal(deleted.json().status, 'pending_deletion');
      const trail = await readTenant(t.database.db, branch.id, async (trx) => ({
        requests: await trx.selectFrom('approval_requests').select('id').execute(),
        events: await trx.selectFrom('audit_events').select(['action', 'actor_id', 'after', 'request_id']).where('tenant_id', '=', branch.id).orderBy('seq').execute(),
      }));
      assert.deepEqual(trail.requests, requestsBefore, 'no approval request was recorded');
      const notRequired = trail.events.filter((e) => e.action === 'approval.not_required');
      assert.equal(notRequired.length, 1);
      assert.deepEqual([notRequired[0]?.actor_id, notRequired[0]?.after], [operator.userId, { action: 'tenant.delete', reason: 'platform_super_admin' }]);
      // The deletion's own events follow under the same request.
      assert.ok(trail.events.some((e) => e.action !== 'approval.not_required' && e.request_id === notRequired[0]?.request_id && e.actor_id === operator.userId));
      // A company admin's deletion of a company below is still held.
      const other = await child(main, mainAdmin, 'Held branch');
      assert.equal((await api('DELETE', `/tenants/${other.id}`, mainAdmin, { confirm: other.slug })).statusCode, 202);
    });

    it("records a super admin's removal of an admin as not held, and nothing for a removal the policy never holds", async () => {
      const [admin, helper] = [await person(t, 'Ada Removed'), await person(t, 'Hal Helper')];
      await join(t, sibling.id, admin.userId, ['admin']);
      await join(t, sibling.id, helper.userId, ['technician']);
      assert.equal((await api('DELETE', `/tenants/${sibling.id}/members/${admin.userId}`, operator)).statusCode, 204);
      assert.equal((await api('DELETE', `/tenants/${sibling.id}/members/${helper.userId}`, operator)).statusCode, 204);
      const events = await readTenant(t.database.db, sibling.id, (trx) =>
        trx
          .selectFrom('audit_events')
          .select(['action', 'target_id', 'after'])
          .where('tenant_id', '=', sibling.id)
          .where('action', 'in', ['approval.not_required', 'member.removed'])
          .orderBy('seq')
          .execute(),
      );
      assert.deepEqual(
        events.map((e) => [e.action, e.action === 'member.removed' ? e.target_id : (e.after as { action: string }).action]),
        [
          ['approval.not_required', 'member.remove_admin'],
          ['member.removed', admin.userId],
          ['member.removed', helper.userId],
        ],
      );
    });
  });
}
