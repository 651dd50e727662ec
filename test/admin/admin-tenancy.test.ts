import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createOperator } from '../../src/accounts/operator.service.ts';
import { readTenant, withSystem } from '../../src/platform/db/context.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { testEngines } from '../helpers/database.ts';
import { assertProblem, bearer, GOOD_PASSWORD, join, type SignedUp, signUp, uniqueEmail } from '../helpers/users.ts';

/**
 * Seed 001's admin tenancy through the HTTP API: operators get shadow memberships in every tenant created
 * afterwards, see every tenant on the admin page, and move the admin tenancy. Staff are the admin tenancy's
 * members holding a staff role (default preset: owner, admin) or designated by an administrator through their
 * default tenant — never by fallback (issue 10; test/admin/operator-staff.test.ts has the rest).
 */
for (const engine of testEngines()) {
  describe(`admin tenancy and shadow memberships [${engine}]`, () => {
    let t: TestApp;
    let operator: { userId: string; accessToken: string };
    let adminTenancy: string;
    let sam: SignedUp;
    let mia: SignedUp;

    const api = (method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, token: string, payload?: object) =>
      t.app.inject({ method, url: `/api/v1${url}`, headers: bearer(token), ...(payload === undefined ? {} : { payload }) });
    const login = async (email: string) => (await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email, password: GOOD_PASSWORD } })).json();
    const shadowsOf = (tenantId: string) =>
      readTenant(t.database.db, tenantId, async (trx) =>
        (await trx.selectFrom('memberships').select('user_id').where('tenant_id', '=', tenantId).where('kind', '=', 'shadow').orderBy('user_id').execute()).map((r) => r.user_id),
      );

    before(async () => {
      t = await createTestApp(engine, { env: { TENANTRY_AUTH_RATE_LIMIT: '1000' } });
      const email = uniqueEmail('operator');
      const created = await createOperator({ db: t.database.db, clock: t.clock, ownerRole: 'owner' }, { email, password: GOOD_PASSWORD, name: 'Olga' });
      adminTenancy = created.adminTenantId ?? '';
      const signedIn = await login(email);
      operator = { userId: created.user.id, accessToken: signedIn.accessToken };
      assert.equal(signedIn.activeTenantId, adminTenancy);
      // Sam signs up (his own workspace is his primary tenant) and joins the admin tenancy as an admin: a staff role.
      sam = await signUp(t, { name: 'Sam' });
      t.clock.advance(1000);
      await join(t, adminTenancy, sam.userId, ['admin']);
      // Mia joins it as a member, which is not.
      mia = await signUp(t, { name: 'Mia' });
      await join(t, adminTenancy, mia.userId, ['member']);
    });
    after(() => t.close());

    it('gives every new tenant a shadow membership for each member of the admin tenancy holding a staff role', async () => {
      const customer = await signUp(t, { name: 'Customer' });
      // Sam is staff (admin) although his primary tenant is his own workspace; Mia (member) is not.
      assert.deepEqual(await shadowsOf(customer.tenantId), [operator.userId, sam.userId].sort());
      const roster = await api('GET', `/tenants/${customer.tenantId}/members`, customer.accessToken);
      assert.deepEqual(
        roster.json().members.map((m: { userId: string }) => m.userId),
        [customer.userId],
        'shadow members never appear in the member list',
      );

      // The operator reaches it at once, marked as shadow, and can switch in.
      const me = (await api('GET', '/auth/me', operator.accessToken)).json();
      assert.deepEqual([me.authorization[customer.tenantId]?.roles, me.authorization[customer.tenantId]?.shadow], [['owner'], true]);
      assert.equal((await api('GET', `/tenants/${customer.tenantId}`, operator.accessToken)).statusCode, 200);
      const switched = await api('POST', '/auth/active-tenant', operator.accessToken, { tenantId: customer.tenantId });
      assert.equal(switched.statusCode, 200, switched.body);
      const audit = await readTenant(t.database.db, customer.tenantId, (trx) =>
        trx
          .selectFrom('audit_events')
          .select(['action', 'target_id', 'after'])
          .where('tenant_id', '=', customer.tenantId)
          .where('action', '=', 'member.added')
          .orderBy('seq')
          .execute(),
      );
      const staffGrants = [
        [operator.userId, { roles: ['owner'], kind: 'shadow' }],
        [sam.userId, { roles: ['admin'], kind: 'shadow' }],
      ].sort(([a], [b]) => String(a).localeCompare(String(b)));
      assert.deepEqual(
        audit.map((e) => [e.target_id, e.after]),
        [[customer.userId, { roles: ['owner'], kind: 'direct' }], ...staffGrants],
      );
    });

    it('counts a member without a staff role as staff once an administrator makes the admin tenancy their default tenant', async () => {
      const set = await api('PUT', `/admin/users/${mia.userId}/default-tenant`, operator.accessToken, { tenantId: adminTenancy });
      assert.equal(set.statusCode, 200, set.body);
      assert.deepEqual(set.json(), { userId: mia.userId, defaultTenantId: adminTenancy });
      const customer = await signUp(t);
      assert.deepEqual(await shadowsOf(customer.tenantId), [operator.userId, sam.userId, mia.userId].sort());
      // A root created through POST /tenants by a staffer too: a customer's organisation (seed 001), with no direct
      // member at all; every staffer, its creator included, reaches it through a shadow membership.
      const created = await api('POST', '/tenants', sam.accessToken, { name: 'Sam Co', slug: `sam-co-${process.pid}-${engine}` });
      assert.equal(created.statusCode, 201, created.body);
      assert.deepEqual(await shadowsOf(created.json().id), [operator.userId, sam.userId, mia.userId].sort());
      const direct = await readTenant(t.database.db, created.json().id, (trx) =>
        trx.selectFrom('memberships').select('user_id').where('tenant_id', '=', created.json().id).where('kind', '=', 'direct').execute(),
      );
      assert.deepEqual(direct, []);
      const owned = await readTenant(t.database.db, created.json().id, (trx) =>
        trx.selectFrom('tenants').select('platform_owned').where('id', '=', created.json().id).executeTakeFirstOrThrow(),
      );
      assert.equal(owned.platform_owned, true, 'owned by the platform');
      assert.deepEqual((await api('GET', `/tenants/${created.json().id}/members`, sam.accessToken)).json().members, [], 'and nobody in its member list');
      // Mia lands on the admin tenancy now.
      assert.equal((await login(mia.email)).activeTenantId, adminTenancy);
    });

    it('refuses a default tenant the person does not belong to, or that the caller does not manage', async () => {
      const stranger = await signUp(t);
      assertProblem(await api('PUT', `/admin/users/${stranger.userId}/default-tenant`, operator.accessToken, { tenantId: adminTenancy }), 404, 'member_not_found');
      assertProblem(await api('PUT', `/admin/users/${sam.userId}/default-tenant`, stranger.accessToken, { tenantId: adminTenancy }), 404, 'tenant_not_found');
      assertProblem(await api('PUT', `/admin/users/${sam.userId}/default-tenant`, operator.accessToken, { tenantId: 'nope' }), 400, 'validation_failed');
    });

    it('lists every tenant for operators, with the markers and the count in use, in pages', async () => {
      const res = await api('GET', '/admin/tenants', operator.accessToken);
      assert.equal(res.statusCode, 200, res.body);
      const body = res.json();
      const total = await withSystem(t.database.db, async (trx) => (await trx.selectFrom('tenants').select('id').where('status', '!=', 'deleted').execute()).length);
      assert.equal(body.inUse, total);
      assert.equal(body.limit, null);
      assert.equal(body.tenants.length, total);
      const admin = body.tenants.find((x: { id: string }) => x.id === adminTenancy);
      assert.deepEqual([admin.isAdminTenancy, admin.youAreHere], [true, true]);
      assert.equal(body.tenants.filter((x: { isAdminTenancy: boolean }) => x.isAdminTenancy).length, 1);

      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const page: { tenants: Array<{ id: string }>; nextCursor: string | null } = (
          await api('GET', `/admin/tenants?limit=2${cursor === null ? '' : `&cursor=${cursor}`}`, operator.accessToken)
        ).json();
        seen.push(...page.tenants.map((x) => x.id));
        cursor = page.nextCursor;
      } while (cursor !== null);
      assert.deepEqual(
        seen,
        body.tenants.map((x: { id: string }) => x.id),
      );

      // Sam holds members.manage in the admin tenancy: an operator too. A customer is not.
      assert.equal((await api('GET', '/admin/tenants', sam.accessToken)).statusCode, 200);
      const customer = await signUp(t);
      assertProblem(await api('GET', '/admin/tenants', customer.accessToken), 403, 'not_an_operator');
      assertProblem(await api('GET', '/admin/tenants?cursor=garbage', operator.accessToken), 400, 'invalid_cursor');
    });

    it('moves the admin tenancy (super_admin only); only tenants created afterwards follow the new staff', async () => {
      const acme = await signUp(t, { name: 'Acme' });
      const before = await signUp(t);
      assertProblem(await api('POST', `/admin/tenants/${acme.tenantId}/make-admin-tenancy`, sam.accessToken), 403, 'super_admin_required');
      assertProblem(await api('POST', '/admin/tenants/taaaaaaaaaaaaaaa/make-admin-tenancy', operator.accessToken), 404, 'tenant_not_found');

      const moved = await api('POST', `/admin/tenants/${acme.tenantId}/make-admin-tenancy`, operator.accessToken);
      assert.equal(moved.statusCode, 200, moved.body);
      assert.deepEqual(moved.json(), { tenantId: acme.tenantId, previous: adminTenancy });
      const listed = (await api('GET', '/admin/tenants', operator.accessToken)).json().tenants.filter((x: { isAdminTenancy: boolean }) => x.isAdminTenancy);
      assert.deepEqual(
        listed.map((x: { id: string }) => x.id),
        [acme.tenantId],
      );

      // Acme's owner is staff now; the old staff are not, but keep what they had while they stay staff there.
      const after = await signUp(t);
      assert.deepEqual(await shadowsOf(after.tenantId), [acme.userId]);
      assert.deepEqual(await shadowsOf(before.tenantId), [operator.userId, sam.userId, mia.userId].sort());

      // Moving it back (for the tests that follow): idempotent when already there.
      assert.equal((await api('POST', `/admin/tenants/${adminTenancy}/make-admin-tenancy`, operator.accessToken)).statusCode, 200);
      assert.deepEqual((await api('POST', `/admin/tenants/${adminTenancy}/make-admin-tenancy`, operator.accessToken)).json(), { tenantId: adminTenancy, previous: adminTenancy });
    });

    it('keeps exactly one admin tenancy under concurrent designations', async () => {
      const candidates = await Promise.all([signUp(t), signUp(t), signUp(t)]);
      const results = await Promise.all(candidates.map((c) => api('POST', `/admin/tenants/${c.tenantId}/make-admin-tenancy`, operator.accessToken)));
      assert.deepEqual(
        results.map((r) => r.statusCode),
        [200, 200, 200],
      );
      const admins = await withSystem(t.database.db, (trx) => trx.selectFrom('tenants').select('id').where('is_admin_tenancy', '=', true).execute());
      assert.equal(admins.length, 1);
      assert.ok(candidates.some((c) => c.tenantId === admins[0]?.id));
    });
  });
}
