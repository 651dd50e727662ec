import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { withTenant } from '../../src/platform/db/context.ts';
import { purgeDueTenants } from '../../src/tenants/deletion.service.ts';
import { createKey } from '../helpers/api-keys.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { testEngines } from '../helpers/database.ts';
import { seedTenant } from '../helpers/tenants.ts';
import { assertProblem, bearer, GOOD_PASSWORD, join, type SignedUp, signUp, uniqueEmail } from '../helpers/users.ts';

interface Event {
  id: string;
  seq: number;
  action: string;
  actor: { type: string; id: string | null; via?: string };
  target: { type: string | null; id: string | null };
  requestId: string | null;
  ip: string | null;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

for (const engine of testEngines()) {
  describe(`audit trail: listing and chain verification [${engine}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await createTestApp(engine, { env: { TENANTRY_AUTH_RATE_LIMIT: '1000' } });
    });
    after(() => t.close());

    const events = (tenantId: string, token: string, query = '') => t.app.inject({ url: `/api/v1/tenants/${tenantId}/audit-events${query}`, headers: bearer(token) });
    const verify = async (tenantId: string, token: string) => {
      const res = await t.app.inject({ url: `/api/v1/tenants/${tenantId}/audit-events/verify`, headers: bearer(token) });
      assert.equal(res.statusCode, 200, res.body);
      return res.json();
    };

    /** A tenant with a few kinds of events: created, a key made and used to invite, a role. */
    async function busyTenant(): Promise<{ owner: SignedUp; keyId: string }> {
      const owner = await signUp(t);
      const key = await createKey(t, owner.accessToken, owner.tenantId, ['members.invite', 'members.read', 'tenant.read', 'audit.read']);
      for (const who of ['a', 'b']) {
        const res = await t.app.inject({
          method: 'POST',
          url: `/api/v1/tenants/${owner.tenantId}/invitations`,
          headers: bearer(key.secret),
          payload: { email: uniqueEmail(who), roles: ['viewer'] },
        });
        assert.equal(res.statusCode, 201, res.body);
      }
      const role = await t.app.inject({
        method: 'POST',
        url: `/api/v1/tenants/${owner.tenantId}/roles`,
        headers: bearer(owner.accessToken),
        payload: { key: 'auditor', name: 'Auditor', scope: 'tenant', permissions: ['audit.read'] },
      });
      assert.equal(role.statusCode, 201, role.body);
      return { owner, keyId: key.id };
    }

    it('lists newest first with who did what, and filters by action, actor and time', async () => {
      const { owner, keyId } = await busyTenant();
      const res = await events(owner.tenantId, owner.accessToken);
      assert.equal(res.statusCode, 200, res.body);
      const all: Event[] = res.json().events;
      assert.deepEqual(
        all.map((e) => e.action),
        ['role.created', 'invitation.created', 'invitation.created', 'api_key.created', 'member.added', 'tenant.created'],
      );
      assert.deepEqual(
        all.map((e) => e.seq),
        [6, 5, 4, 3, 2, 1],
      );
      assert.equal(res.json().nextCursor, null);
      assert.deepEqual(all[1]?.actor, { type: 'api_key', id: keyId, via: 'direct' });

      const invitations = (await events(owner.tenantId, owner.accessToken, '?action=invitation.*')).json().events;
      assert.deepEqual(
        invitations.map((e: Event) => e.seq),
        [5, 4],
      );
      const exact = (await events(owner.tenantId, owner.accessToken, '?action=invitation')).json().events;
      assert.deepEqual(exact, [], 'an action without .* matches exactly');
      const byKey = (await events(owner.tenantId, owner.accessToken, `?actorType=api_key&actorId=${keyId}`)).json().events;
      assert.deepEqual(
        byKey.map((e: Event) => e.action),
        ['invitation.created', 'invitation.created'],
      );
      const future = new Date(t.clock.now().getTime() + 1000).toISOString();
      assert.deepEqual((await events(owner.tenantId, owner.accessToken, `?since=${encodeURIComponent(future)}`)).json().events, []);
      assert.equal((await events(owner.tenantId, owner.accessToken, `?until=${encodeURIComponent(future)}`)).json().events.length, 6);
    });

    it('pages with an opaque cursor that stays stable while events are appended', async () => {
      const { owner } = await busyTenant();
      const seen: number[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const res = await events(owner.tenantId, owner.accessToken, `?limit=4${cursor === null ? '' : `&cursor=${cursor}`}`);
        assert.equal(res.statusCode, 200, res.body);
        seen.push(...res.json().events.map((e: Event) => e.seq));
        cursor = res.json().nextCursor;
        pages += 1;
        // Appended after the first page: not in the pages that follow.
        if (pages === 1) await createKey(t, owner.accessToken, owner.tenantId, ['tenant.read']);
      } while (cursor !== null);
      assert.deepEqual(seen, [6, 5, 4, 3, 2, 1]);
      assert.equal(pages, 2);
      assertProblem(await events(owner.tenantId, owner.accessToken, '?cursor=bm9wZQ'), 400, 'invalid_cursor');
      assertProblem(await events(owner.tenantId, owner.accessToken, '?limit=0'), 400, 'validation_failed');
      assertProblem(await events(owner.tenantId, owner.accessToken, '?actorType=robot'), 400, 'validation_failed');
    });

    it('needs audit.read in the tenant; other tenants are 404, and a key reads only its own', async () => {
      const { owner } = await busyTenant();
      const member = await signUp(t);
      await join(t, owner.tenantId, member.userId, ['member']);
      const refused = await events(owner.tenantId, member.accessToken);
      assertProblem(refused, 403, 'forbidden');
      assertProblem(await t.app.inject({ url: `/api/v1/tenants/${owner.tenantId}/audit-events/verify`, headers: bearer(member.accessToken) }), 403, 'forbidden');
      const stranger = await signUp(t);
      assertProblem(await events(owner.tenantId, stranger.accessToken), 404, 'tenant_not_found');
      const strangerKey = await createKey(t, stranger.accessToken, stranger.tenantId, ['audit.read']);
      assertProblem(await events(owner.tenantId, strangerKey.secret), 404, 'tenant_not_found');
      const own = await events(stranger.tenantId, strangerKey.secret);
      assert.equal(own.statusCode, 200, own.body);
      assert.ok(own.json().events.every((e: { id: string }) => typeof e.id === 'string'));
      assert.equal(JSON.stringify(own.json()).includes(owner.tenantId), false, 'nothing of the other tenant');
    });

    it('verifies an intact chain', async () => {
      const { owner } = await busyTenant();
      const result = await verify(owner.tenantId, owner.accessToken);
      assert.deepEqual({ ...result, head: result.head?.seq }, { valid: true, checked: 6, head: 6, brokenAt: null });
    });

    it('finds an event changed, removed from the middle, or removed from the end by direct database access', async () => {
      const tamper = async (apply: (tenantId: string) => Promise<unknown>) => {
        const { owner } = await busyTenant();
        assert.equal((await verify(owner.tenantId, owner.accessToken)).valid, true);
        await apply(owner.tenantId);
        return verify(owner.tenantId, owner.accessToken);
      };
      const changed = await tamper((tenantId) =>
        t.database.withOwner((db) => sql`UPDATE audit_events SET after = '{"roles":["owner"]}' WHERE tenant_id = ${tenantId} AND seq = 4`.execute(db)),
      );
      assert.deepEqual([changed.valid, changed.brokenAt], [false, { seq: 4, reason: 'the event was changed after it was written' }]);

      const middle = await tamper((tenantId) => t.database.withOwner((db) => sql`DELETE FROM audit_events WHERE tenant_id = ${tenantId} AND seq = 3`.execute(db)));
      assert.deepEqual([middle.valid, middle.brokenAt], [false, { seq: 3, reason: 'event 3 is missing' }]);

      const tail = await tamper((tenantId) => t.database.withOwner((db) => sql`DELETE FROM audit_events WHERE tenant_id = ${tenantId} AND seq = 6`.execute(db)));
      assert.deepEqual([tail.valid, tail.brokenAt], [false, { seq: 6, reason: 'the chain ends at 5 but its head says 6: events were removed' }]);
    });

    it('cannot be changed by the application role at all', async () => {
      const { owner } = await busyTenant();
      await assert.rejects(
        withTenant(t.database.db, owner.tenantId, (trx) => sql`UPDATE audit_events SET action = 'nothing' WHERE tenant_id = ${owner.tenantId}`.execute(trx)),
        /permission denied/,
      );
      await assert.rejects(
        withTenant(t.database.db, owner.tenantId, (trx) => sql`DELETE FROM audit_events WHERE tenant_id = ${owner.tenantId}`.execute(trx)),
        /permission denied/,
      );
      assert.equal((await verify(owner.tenantId, owner.accessToken)).valid, true);
    });
  });

  describe(`audit events record where they came from [${engine}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await createTestApp(engine, { env: { TENANTRY_AUTH_RATE_LIMIT: '1000' } });
    });
    after(() => t.close());

    const events = async (tenantId: string, token: string, query = '') => {
      const res = await t.app.inject({ url: `/api/v1/tenants/${tenantId}/audit-events${query}`, headers: bearer(token) });
      assert.equal(res.statusCode, 200, res.body);
      return res.json().events as Event[];
    };

    it("stores an HTTP request's id and the client's address, not what a forwarding header claims", async () => {
      // Sign-up (audited through the person's own context) from one address with a request id.
      const email = uniqueEmail('audited');
      const signup = await t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/signup',
        payload: { email, password: GOOD_PASSWORD },
        headers: { 'x-request-id': 'req-signup.0001', 'x-forwarded-for': '198.51.100.99' },
        remoteAddress: '203.0.113.7',
      });
      assert.equal(signup.statusCode, 201, signup.body);
      assert.equal(signup.headers['x-request-id'], 'req-signup.0001');
      const owner = { tenantId: signup.json().tenant.id as string, userId: signup.json().user.id as string, accessToken: signup.json().accessToken as string };

      // A tenant-scoped write (audited through authorize) from another address with another id.
      const role = await t.app.inject({
        method: 'POST',
        url: `/api/v1/tenants/${owner.tenantId}/roles`,
        headers: { ...bearer(owner.accessToken), 'x-request-id': 'req-role:0002' },
        payload: { key: 'auditor', name: 'Auditor', scope: 'tenant', permissions: ['audit.read'] },
        remoteAddress: '192.0.2.44',
      });
      assert.equal(role.statusCode, 201, role.body);

      // No id sent (and one that is not sane): the server makes one up and stores that.
      const plain = await t.app.inject({
        method: 'POST',
        url: `/api/v1/tenants/${owner.tenantId}/roles`,
        headers: { ...bearer(owner.accessToken), 'x-request-id': 'not a sane id' },
        payload: { key: 'reader', name: 'Reader', scope: 'tenant', permissions: ['tenant.read'] },
        remoteAddress: '192.0.2.45',
      });
      assert.equal(plain.statusCode, 201, plain.body);
      const generated = String(plain.headers['x-request-id']);
      assert.match(generated, UUID);

      const trail = await events(owner.tenantId, owner.accessToken);
      const byAction = (action: string, targetId?: string) => {
        const found = trail.filter((e) => e.action === action && (targetId === undefined || e.target.id === targetId));
        assert.equal(found.length, 1, `${action} ${targetId ?? ''}: ${JSON.stringify(trail)}`);
        return found[0] as Event;
      };
      const created = byAction('tenant.created');
      assert.deepEqual([created.requestId, created.ip], ['req-signup.0001', '203.0.113.7']);
      assert.deepEqual([created.actor.type, created.actor.id], ['user', owner.userId]);
      const auditor = byAction('role.created', 'auditor');
      assert.deepEqual([auditor.requestId, auditor.ip], ['req-role:0002', '192.0.2.44']);
      assert.deepEqual([auditor.actor.type, auditor.actor.id], ['user', owner.userId]);
      const reader = byAction('role.created', 'reader');
      assert.deepEqual([reader.requestId, reader.ip], [generated, '192.0.2.45']);

      // The listing shows what the table holds.
      const stored = await withTenant(t.database.db, owner.tenantId, (trx) =>
        trx.selectFrom('audit_events').select(['request_id', 'ip', 'actor_type']).where('tenant_id', '=', owner.tenantId).where('id', '=', auditor.id).executeTakeFirstOrThrow(),
      );
      assert.deepEqual(stored, { request_id: 'req-role:0002', ip: '192.0.2.44', actor_type: 'user' });
    });

    it('records a purge after the grace period as done by the system, with no request behind it', async () => {
      const owner = await signUp(t);
      const child = await seedTenant(t.database, { name: 'Doomed', ownerId: owner.userId, parentId: owner.tenantId });
      const requested = await t.app.inject({
        method: 'DELETE',
        url: `/api/v1/tenants/${child.tenantId}`,
        headers: { ...bearer(owner.accessToken), 'x-request-id': 'req-delete' },
        payload: { confirm: `seed-${child.tenantId}` },
        remoteAddress: '192.0.2.50',
      });
      assert.equal(requested.statusCode, 200, requested.body);
      assert.equal(requested.json().status, 'pending_deletion');
      assert.deepEqual(await purgeDueTenants({ db: t.database.db, clock: t.clock }), [], 'nothing is due within the grace period');

      t.clock.advance(30 * 86_400_000 + 1000);
      const reports = await purgeDueTenants({ db: t.database.db, clock: t.clock });
      assert.deepEqual(
        reports.map((r) => r.tenantId),
        [child.tenantId],
      );

      // A month on, the owner signs in again and reads the parent's trail.
      const login = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: owner.email, password: owner.password, tenantId: owner.tenantId } });
      assert.equal(login.statusCode, 200, login.body);
      const token = login.json().accessToken as string;
      const system = await events(owner.tenantId, token, '?actorType=system');
      assert.equal(system.length, 1, JSON.stringify(system));
      const purged = system[0] as Event;
      assert.deepEqual(
        { action: purged.action, actorType: purged.actor.type, actorId: purged.actor.id, target: purged.target, requestId: purged.requestId, ip: purged.ip },
        { action: 'tenant.purged', actorType: 'system', actorId: null, target: { type: 'tenant', id: child.tenantId }, requestId: null, ip: null },
      );
      const stored = await withTenant(t.database.db, owner.tenantId, (trx) =>
        trx.selectFrom('audit_events').select(['actor_type', 'actor_id']).where('tenant_id', '=', owner.tenantId).where('action', '=', 'tenant.purged').execute(),
      );
      assert.deepEqual(stored, [{ actor_type: 'system', actor_id: null }]);
      // Nothing a person did is filed under the system.
      const people = await events(owner.tenantId, token, '?actorType=user');
      assert.ok(people.length >= 2 && people.every((e) => e.actor.id === owner.userId), JSON.stringify(people));
    });
  });
}
