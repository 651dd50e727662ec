import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PGlite } from '@electric-sql/pglite';
import { sql } from 'kysely';
import { hashPassword } from '../../src/accounts/passwords.ts';
import { openDatabase } from '../../src/platform/db/database.ts';
import { createMigrator } from '../../src/platform/db/migrator.ts';
import { withSystem, withTenant } from '../../src/platform/db/context.ts';
import { newId } from '../../src/platform/ids.ts';
import { insertMembership } from '../../src/members/memberships.repository.ts';
import { createTestApp, TEST_PASSWORD_HASHING, type TestApp } from '../helpers/app.ts';
import { testEngines } from '../helpers/database.ts';
import { seedTenant } from '../helpers/tenants.ts';
import { assertProblem, bearer, GOOD_PASSWORD, rootTenantOf, uniqueEmail } from '../helpers/users.ts';

/**
 * Issue 11, through the HTTP API in the company-tree preset (seed 004):
 * - "Choose a tenant" lists every tenant you can access: the Main Company's admin (a `tenant_and_descendants` role) is
 *   shown the distributor and its sub-company at sign-in and in GET /tenants, marked inherited, and still lands on the
 *   Main Company; a technician there (tenant-scoped) and the admin of another tree are shown none of them.
 * - Tenant details say where a tenant stands: its parent, when and why it was suspended, when its deletion was
 *   requested and when it will be purged. A tenant pending deletion is listed only to those who may restore it, marked,
 *   and is never landed on.
 */

interface Person {
  userId: string;
  email: string;
  accessToken: string;
}

interface ListedTenant {
  tenantId: string;
  id?: string;
  roles: string[];
  shadow: boolean;
  parentId: string | null;
  status: string;
  suspendedAt: string | null;
  suspensionReason: string | null;
  deletionRequestedAt: string | null;
  purgeAfter: string | null;
  inherited: boolean;
  inheritedFrom: string | null;
  joinedAt?: string | null;
}

let passwordHash: Promise<string> | undefined;

for (const engine of testEngines()) {
  describe(`company-tree: choosing a tenant and where each stands [${engine}]`, () => {
    let t: TestApp;
    let main: string;
    let distributor: string;
    let dealer: string;
    let sibling: string;
    let otherRoot: string;
    let mainAdmin: Person;
    let mainTech: Person;
    let distAdmin: Person;
    let distTech: Person;
    let dealerAdmin: Person;
    let dealerTech: Person;
    let siblingAdmin: Person;
    let otherAdmin: Person;
    let operator: Person;

    /** A verified person with a password and no tenant yet (company-tree has no self-service sign-up). */
    async function person(label: string, platformRole: 'super_admin' | null = null): Promise<Person> {
      passwordHash ??= hashPassword(GOOD_PASSWORD, TEST_PASSWORD_HASHING);
      const hash = await passwordHash;
      const id = newId('user');
      const email = uniqueEmail(label);
      const now = t.clock.now();
      await withSystem(t.database.db, (trx) =>
        trx
          .insertInto('users')
          .values({ id, email, name: label, password_hash: hash, email_verified_at: now, platform_role: platformRole, created_at: now, updated_at: now })
          .execute(),
      );
      return { userId: id, email, accessToken: '' };
    }

    const join = (tenantId: string, who: Person, roles: string[]) =>
      withTenant(t.database.db, tenantId, (trx) => insertMembership(trx, { tenantId, userId: who.userId, kind: 'direct', roles, now: t.clock.now() }));
    const login = (who: Person, tenantId?: string) =>
      t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: who.email, password: GOOD_PASSWORD, ...(tenantId === undefined ? {} : { tenantId }) } });
    const signIn = async (who: Person) => {
      const res = await login(who);
      assert.equal(res.statusCode, 200, res.body);
      who.accessToken = res.json().accessToken;
      return res.json() as { activeTenantId: string | null; needsTenantChoice: boolean; tenants: ListedTenant[]; accessToken: string };
    };
    const api = (method: 'GET' | 'POST' | 'DELETE', url: string, who: Person, payload?: object) =>
      t.app.inject({ method, url: `/api/v1${url}`, headers: bearer(who.accessToken), ...(payload === undefined ? {} : { payload }) });
    const myTenants = async (who: Person): Promise<ListedTenant[]> => {
      const res = await api('GET', '/tenants', who);
      assert.equal(res.statusCode, 200, res.body);
      return res.json().tenants.map((x: ListedTenant & { id: string }) => ({ ...x, tenantId: x.id }));
    };
    const ids = (list: ListedTenant[]) => list.map((x) => x.tenantId);
    const entry = (list: ListedTenant[], tenantId: string) => list.find((x) => x.tenantId === tenantId);
    const claims = (token: string) => JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as { authorization?: Record<string, unknown> };

    before(async () => {
      t = await createTestApp(engine, { env: { TENANTRY_PRESET: 'company-tree', TENANTRY_AUTH_RATE_LIMIT: '1000' } });
      main = await rootTenantOf(t);
      [mainAdmin, mainTech, distAdmin, distTech, dealerAdmin, dealerTech, siblingAdmin, otherAdmin] = (await Promise.all(
        ['mainadmin', 'maintech', 'distadmin', 'disttech', 'dealeradmin', 'dealertech', 'siblingadmin', 'otheradmin'].map((label) => person(label)),
      )) as [Person, Person, Person, Person, Person, Person, Person, Person];
      operator = await person('operator', 'super_admin');
      await join(main, mainAdmin, ['admin']);
      await join(main, mainTech, ['technician']);
      // Each company below has its own admin; the Main Company's people hold nothing there directly.
      distributor = (await seedTenant(t.database, { name: 'Distributor', parentId: main, ownerId: distAdmin.userId, ownerRole: 'admin' })).tenantId;
      await join(distributor, distTech, ['technician']);
      dealer = (await seedTenant(t.database, { name: 'Sub-company', parentId: distributor, ownerId: dealerAdmin.userId, ownerRole: 'admin' })).tenantId;
      await join(dealer, dealerTech, ['technician']);
      sibling = (await seedTenant(t.database, { name: 'Sibling', parentId: main, ownerId: siblingAdmin.userId, ownerRole: 'admin' })).tenantId;
      // The Sub-company's admin is also an end user at the Sibling: a second tenant to land on.
      await join(sibling, dealerAdmin, ['end_user']);
      otherRoot = (await seedTenant(t.database, { name: 'Another tree', ownerId: otherAdmin.userId, ownerRole: 'admin' })).tenantId;
      for (const who of [mainAdmin, mainTech, distAdmin, distTech, dealerAdmin, dealerTech, siblingAdmin, otherAdmin, operator]) await signIn(who);
    });
    after(() => t.close());

    it("seed 004: the Main Company's admin is shown every company below at sign-in, marked inherited, and lands on the Main Company", async () => {
      const signedIn = await signIn(mainAdmin);
      assert.equal(signedIn.activeTenantId, main, 'their only membership is the landing tenant');
      assert.equal(signedIn.needsTenantChoice, false);
      assert.equal(signedIn.tenants[0]?.tenantId, main, 'memberships first');
      assert.deepEqual(ids(signedIn.tenants).slice(1).sort(), [distributor, dealer, sibling].sort());
      const own = entry(signedIn.tenants, main);
      assert.deepEqual([own?.roles, own?.inherited, own?.inheritedFrom, own?.parentId, own?.status], [['admin'], false, null, null, 'active']);
      for (const [id, parent] of [
        [distributor, main],
        [dealer, distributor],
        [sibling, main],
      ] as const) {
        const below = entry(signedIn.tenants, id);
        assert.deepEqual(
          [below?.inherited, below?.inheritedFrom, below?.roles, below?.parentId, below?.shadow, below?.status],
          [true, main, ['admin'], parent, false, 'active'],
          id,
        );
      }
      // The distributor comes before its sub-company (tree order).
      assert.ok(ids(signedIn.tenants).indexOf(distributor) < ids(signedIn.tenants).indexOf(dealer));

      const listed = await myTenants(mainAdmin);
      assert.deepEqual(ids(listed), ids(signedIn.tenants), 'GET /tenants is the sign-in list');
      assert.equal(entry(listed, dealer)?.joinedAt, null, 'no membership there');
      assert.equal(typeof entry(listed, main)?.joinedAt, 'string');

      const me = (await api('GET', '/auth/me', mainAdmin)).json();
      assert.deepEqual(me.authorization[distributor], { tenantId: distributor, name: 'Distributor', roles: ['admin'], inherited: true, inheritedFrom: main });
      assert.deepEqual(me.authorization[main].roles, ['admin']);
      // The token's claim stays memberships only.
      assert.deepEqual(Object.keys(claims(signedIn.accessToken).authorization ?? {}), [main]);

      // Switching to an inherited company works as before.
      const switched = await api('POST', '/auth/active-tenant', mainAdmin, { tenantId: dealer });
      assert.equal(switched.statusCode, 200, switched.body);
    });

    it('lists the companies below to the holder of a custom role that applies to descendants, and none for a tenant-scoped one', async () => {
      const roles = [
        { key: 'service_auditor', name: 'Service auditor', scope: 'tenant_and_descendants', permissions: ['tenant.read', 'devices.read'] },
        { key: 'front_desk', name: 'Front desk', scope: 'tenant', permissions: ['tenant.read', 'members.read'] },
      ];
      for (const role of roles) assert.equal((await api('POST', `/tenants/${main}/roles`, mainAdmin, role)).statusCode, 201);
      const auditor = await person('auditor');
      const desk = await person('desk');
      await join(main, auditor, ['service_auditor']);
      await join(main, desk, ['front_desk']);
      const audited = await signIn(auditor);
      assert.deepEqual(ids(audited.tenants).sort(), [main, distributor, dealer, sibling].sort());
      assert.equal(audited.activeTenantId, main);
      assert.deepEqual([entry(audited.tenants, dealer)?.roles, entry(audited.tenants, dealer)?.inheritedFrom], [['service_auditor'], main]);
      assert.deepEqual(ids((await signIn(desk)).tenants), [main]);
    });

    it("lists a company's sub-companies to its own admin as inherited from it, and nothing above", async () => {
      const signedIn = await signIn(distAdmin);
      assert.deepEqual(ids(signedIn.tenants), [distributor, dealer]);
      assert.equal(signedIn.activeTenantId, distributor);
      assert.deepEqual([entry(signedIn.tenants, dealer)?.inheritedFrom, entry(signedIn.tenants, dealer)?.roles], [distributor, ['admin']]);
    });

    it('shows a technician at the Main Company (a tenant-scoped role) none of the companies below', async () => {
      const signedIn = await signIn(mainTech);
      assert.deepEqual(ids(signedIn.tenants), [main]);
      assert.equal(signedIn.activeTenantId, main);
      assert.deepEqual(ids(await myTenants(mainTech)), [main]);
      assert.deepEqual(Object.keys((await api('GET', '/auth/me', mainTech)).json().authorization), [main]);
    });

    it("shows the admin of another tree, or of a sibling company, none of the Main Company's tree", async () => {
      assert.deepEqual(ids((await signIn(otherAdmin)).tenants), [otherRoot]);
      assert.deepEqual(ids(await myTenants(otherAdmin)), [otherRoot]);
      assert.deepEqual(ids((await signIn(siblingAdmin)).tenants), [sibling]);
      assert.deepEqual(ids(await myTenants(siblingAdmin)), [sibling]);
      // And an admin of the Main Company is never shown the other tree.
      assert.equal(entry(await myTenants(mainAdmin), otherRoot), undefined);
    });

    it('says when a company was suspended and why (by someone above), and clears it on resume', async () => {
      const before = await api('GET', `/tenants/${distributor}`, mainAdmin);
      assert.equal(before.statusCode, 200, before.body);
      assert.deepEqual(
        [before.json().parentId, before.json().suspendedAt, before.json().suspensionReason, before.json().deletionRequestedAt, before.json().purgeAfter],
        [main, null, null, null, null],
      );

      t.clock.advance(60_000);
      const suspendedAt = t.clock.now().toISOString();
      const suspended = await api('POST', `/tenants/${distributor}/suspend`, mainAdmin, { reason: 'Unpaid invoices' });
      assert.equal(suspended.statusCode, 200, suspended.body);
      assert.deepEqual([suspended.json().status, suspended.json().suspendedAt, suspended.json().suspensionReason], ['suspended', suspendedAt, 'Unpaid invoices']);
      t.clock.advance(60_000);
      const details = (await api('GET', `/tenants/${distributor}`, mainAdmin)).json();
      assert.deepEqual([details.status, details.suspendedAt, details.suspensionReason], ['suspended', suspendedAt, 'Unpaid invoices']);
      const child = (await api('GET', `/tenants/${main}/children`, mainAdmin)).json().tenants.find((n: { id: string }) => n.id === distributor);
      assert.deepEqual([child.status, child.suspendedAt, child.suspensionReason, child.parentId], ['suspended', suspendedAt, 'Unpaid invoices', main]);
      const node = (await api('GET', `/tenants/${main}/tree`, mainAdmin)).json().tenants.find((n: { id: string }) => n.id === distributor);
      assert.deepEqual([node.suspendedAt, node.suspensionReason], [suspendedAt, 'Unpaid invoices']);

      // Those above still enter it, so it stays in their list; its owner sees it too, and why; its technician no longer.
      const above = entry((await signIn(mainAdmin)).tenants, distributor);
      assert.deepEqual([above?.inherited, above?.status, above?.suspendedAt, above?.suspensionReason], [true, 'suspended', suspendedAt, 'Unpaid invoices']);
      const owner = await signIn(distAdmin);
      assert.deepEqual([entry(owner.tenants, distributor)?.status, entry(owner.tenants, distributor)?.suspensionReason], ['suspended', 'Unpaid invoices']);
      assert.equal(owner.activeTenantId, distributor);
      assert.equal(entry((await signIn(distTech)).tenants, distributor), undefined);
      assert.equal((await api('GET', '/auth/me', distAdmin)).json().authorization[distributor].status, 'suspended');

      const resumed = await api('POST', `/tenants/${distributor}/resume`, mainAdmin, {});
      assert.equal(resumed.statusCode, 200, resumed.body);
      assert.deepEqual([resumed.json().status, resumed.json().suspendedAt, resumed.json().suspensionReason], ['active', null, null]);
      const again = (await api('GET', `/tenants/${distributor}`, mainAdmin)).json();
      assert.deepEqual([again.suspendedAt, again.suspensionReason], [null, null]);
      assert.deepEqual(ids((await signIn(distTech)).tenants), [distributor]);
    });

    it('lists a company pending deletion, marked, only to those who may restore it, and never lands on it', async () => {
      const slug = (await api('GET', `/tenants/${dealer}`, dealerAdmin)).json().slug as string;
      t.clock.advance(60_000);
      const requestedAt = t.clock.now();
      // The operator's own deletion is not held for approval (nobody is above them).
      const deleted = await api('DELETE', `/tenants/${dealer}`, operator, { confirm: slug });
      assert.equal(deleted.statusCode, 200, deleted.body);
      const purgeAfter = new Date(requestedAt.getTime() + 30 * 86_400_000).toISOString();
      assert.equal(deleted.json().purgeAfter, purgeAfter);

      const details = (await api('GET', `/tenants/${dealer}`, dealerAdmin)).json();
      assert.deepEqual(
        [details.status, details.deletionRequestedAt, details.purgeAfter, details.parentId],
        ['pending_deletion', requestedAt.toISOString(), purgeAfter, distributor],
      );

      // Its owner may restore it: listed, marked; they land on their other tenant, whatever their default says.
      await withSystem(t.database.db, (trx) => trx.updateTable('users').set({ default_tenant_id: dealer }).where('id', '=', dealerAdmin.userId).execute());
      const owner = await signIn(dealerAdmin);
      assert.deepEqual(ids(owner.tenants).sort(), [dealer, sibling].sort());
      const marked = entry(owner.tenants, dealer);
      assert.deepEqual([marked?.status, marked?.purgeAfter, marked?.deletionRequestedAt, marked?.inherited], ['pending_deletion', purgeAfter, requestedAt.toISOString(), false]);
      assert.equal(owner.activeTenantId, sibling, 'never the tenant pending deletion');
      assert.equal(entry(await myTenants(dealerAdmin), dealer)?.status, 'pending_deletion');
      const me = (await api('GET', '/auth/me', dealerAdmin)).json();
      assert.deepEqual([me.authorization[dealer].status, me.authorization[dealer].purgeAfter], ['pending_deletion', purgeAfter]);
      assertProblem(await login(dealerAdmin, dealer), 409, 'tenant_status_conflict');

      // Those above may restore it too (inherited); a plain member and a tenant-scoped role above may not.
      assert.deepEqual([entry((await signIn(mainAdmin)).tenants, dealer)?.status, entry(await myTenants(mainAdmin), dealer)?.inherited], ['pending_deletion', true]);
      assert.equal(entry((await signIn(distAdmin)).tenants, dealer)?.status, 'pending_deletion');
      const member = await signIn(dealerTech);
      assert.deepEqual([ids(member.tenants), member.activeTenantId, member.needsTenantChoice], [[], null, true]);
      assert.deepEqual(await myTenants(dealerTech), []);
      assert.equal(entry((await signIn(mainTech)).tenants, dealer), undefined);

      // With nothing else to land on, the owner is asked to choose (and may restore it from the list).
      await withTenant(t.database.db, sibling, (trx) => trx.deleteFrom('memberships').where('tenant_id', '=', sibling).where('user_id', '=', dealerAdmin.userId).execute());
      const alone = await signIn(dealerAdmin);
      assert.deepEqual([ids(alone.tenants), alone.activeTenantId, alone.needsTenantChoice], [[dealer], null, true]);
      const restored = await api('POST', `/tenants/${dealer}/restore`, dealerAdmin);
      assert.equal(restored.statusCode, 200, restored.body);
      const back = (await api('GET', `/tenants/${dealer}`, dealerAdmin)).json();
      assert.deepEqual([back.status, back.deletionRequestedAt, back.purgeAfter], ['active', null, null]);
      assert.equal((await signIn(dealerAdmin)).activeTenantId, dealer);
    });

    it('keeps a suspension through a deletion: only those above, who may restore it, are shown it', async () => {
      t.clock.advance(60_000);
      const suspendedAt = t.clock.now().toISOString();
      assert.equal((await api('POST', `/tenants/${dealer}/suspend`, mainAdmin, { reason: 'Audit' })).statusCode, 200);
      const slug = (await api('GET', `/tenants/${dealer}`, mainAdmin)).json().slug as string;
      assert.equal((await api('DELETE', `/tenants/${dealer}`, operator, { confirm: slug })).statusCode, 200);
      const details = (await api('GET', `/tenants/${dealer}`, mainAdmin)).json();
      assert.deepEqual([details.status, details.suspendedAt, details.suspensionReason, details.deletionRequestedAt !== null], ['pending_deletion', suspendedAt, 'Audit', true]);

      // Its owner cannot restore it (that would lift a suspension from above), so it is not offered to them.
      const owner = await signIn(dealerAdmin);
      assert.deepEqual([ids(owner.tenants), owner.activeTenantId], [[], null]);
      const above = entry((await signIn(mainAdmin)).tenants, dealer);
      assert.deepEqual([above?.status, above?.suspensionReason, above?.inheritedFrom], ['pending_deletion', 'Audit', main]);

      // Restored, it comes back suspended, still saying when and why.
      assert.equal((await api('POST', `/tenants/${dealer}/restore`, mainAdmin)).statusCode, 200);
      const back = (await api('GET', `/tenants/${dealer}`, mainAdmin)).json();
      assert.deepEqual([back.status, back.suspendedAt, back.suspensionReason, back.deletionRequestedAt], ['suspended', suspendedAt, 'Audit', null]);
    });
  });
}

describe('upgrading: suspensions before migration 0015 take their time and reason from the audit trail [pglite]', () => {
  it('fills suspended_at and suspension_reason from the latest tenant.suspended event of tenants suspended now', async () => {
    const instance = await PGlite.create();
    const database = await openDatabase({ engine: 'pglite', instance });
    try {
      await database.withOwner(async (owner) => {
        const { error } = await createMigrator(owner).migrateTo('0013_operator_staff');
        if (error !== undefined) throw error;
      });
      await database.withOwner((root) =>
        root.transaction().execute(async (owner) => {
          await sql`SELECT set_config('tenantry.system', 'on', true)`.execute(owner);
          await sql`INSERT INTO platform_settings VALUES ('owner_role', 'owner') ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`.execute(owner);
          // Suspended now (twice: the latest counts); suspended, then deleted; suspended once, since resumed.
          await sql`
          INSERT INTO tenants (id, slug, name, status, status_before_deletion) VALUES
            ('taaaaaaaaaaaaaaa', 'now', 'Now', 'suspended', NULL),
            ('tbbbbbbbbbbbbbbb', 'deleting', 'Deleting', 'pending_deletion', 'suspended'),
            ('tccccccccccccccc', 'resumed', 'Resumed', 'active', NULL)
        `.execute(owner);
          await sql`INSERT INTO tenant_tree (tenant_id, parent_id) VALUES ('taaaaaaaaaaaaaaa', NULL), ('tbbbbbbbbbbbbbbb', NULL), ('tccccccccccccccc', NULL)`.execute(owner);
          await sql`INSERT INTO users (id, email, updated_at) VALUES ('usr_owneraaaaaaaaaaaaaaa', 'owner@x.test', now())`.execute(owner);
          for (const tenant of ['taaaaaaaaaaaaaaa', 'tbbbbbbbbbbbbbbb', 'tccccccccccccccc']) {
            await sql`INSERT INTO memberships (tenant_id, user_id, kind) VALUES (${tenant}, 'usr_owneraaaaaaaaaaaaaaa', 'direct')`.execute(owner);
            await sql`INSERT INTO membership_roles (tenant_id, user_id, role_key) VALUES (${tenant}, 'usr_owneraaaaaaaaaaaaaaa', 'owner')`.execute(owner);
          }
          const events: Array<[string, number, string, string, string | null]> = [
            ['taaaaaaaaaaaaaaa', 1, 'tenant.suspended', '2026-01-01T00:00:00Z', 'first'],
            ['taaaaaaaaaaaaaaa', 2, 'tenant.resumed', '2026-01-02T00:00:00Z', null],
            ['taaaaaaaaaaaaaaa', 3, 'tenant.suspended', '2026-01-03T00:00:00Z', 'second'],
            ['tbbbbbbbbbbbbbbb', 1, 'tenant.suspended', '2026-01-04T00:00:00Z', null],
            ['tccccccccccccccc', 1, 'tenant.suspended', '2026-01-05T00:00:00Z', 'old'],
          ];
          for (const [tenant, seq, action, at, reason] of events) {
            const after = JSON.stringify(reason === null ? { status: 'suspended' } : { status: 'suspended', reason });
            await sql`
            INSERT INTO audit_events (tenant_id, seq, id, occurred_at, actor_type, action, after, prev_hash, hash)
            VALUES (${tenant}, ${seq}, ${`evt_${tenant}_${seq}`}, ${at}, 'system', ${action}, ${after}::jsonb, '', '')
          `.execute(owner);
          }
        }),
      );
      await database.migrate();
      const rows = await database.withOwner((root) =>
        root.transaction().execute(async (owner) => {
          await sql`SELECT set_config('tenantry.system', 'on', true)`.execute(owner);
          return (
            await sql<{ id: string; at: Date | null; reason: string | null }>`SELECT id, suspended_at AS at, suspension_reason AS reason FROM tenants ORDER BY id`.execute(owner)
          ).rows;
        }),
      );
      assert.deepEqual(
        rows.map((r) => [r.id, r.at?.toISOString() ?? null, r.reason]),
        [
          ['taaaaaaaaaaaaaaa', '2026-01-03T00:00:00.000Z', 'second'],
          ['tbbbbbbbbbbbbbbb', '2026-01-04T00:00:00.000Z', null],
          ['tccccccccccccccc', null, null],
        ],
      );
    } finally {
      await database.close();
    }
  });
});
