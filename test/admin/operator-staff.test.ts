import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createOperator } from '../../src/accounts/operator.service.ts';
import { readSystem, readTenant } from '../../src/platform/db/context.ts';
import { openDatabase } from '../../src/platform/db/database.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { createTestDatabase, testEngines } from '../helpers/database.ts';
import { invitationTokenFor, signUpInvited } from '../helpers/invited.ts';
import { startTestSmtp, type TestSmtp } from '../helpers/smtp.ts';
import { assertProblem, bearer, GOOD_PASSWORD, type SignedUp, signIn, uniqueEmail } from '../helpers/users.ts';

/**
 * Issue 10, items 4 and 5, in seed 001's MSP preset, through the HTTP API: operator staff are the admin tenancy's
 * members holding a staff role there (SUPER_ADMIN, ADMIN, MANAGER, AGENT — never CUSTOMER or VENDOR) or designated
 * by an operator through their default tenant, never anyone by fallback; and the shadow access they get in every
 * tenant created while they are staff follows their current membership and roles there, at once. Sign-up creates
 * no tenant here: a customer's organisation is added by the operator, whose staff (the creator included) reach it
 * through shadow memberships, and its administrator is invited into it, as the seed onboards a customer.
 */
const MSP = { TENANTRY_PRESET: 'msp', TENANTRY_AUTH_RATE_LIMIT: '10000' };

interface Operator {
  userId: string;
  accessToken: string;
  adminTenancy: string;
}

/** Everything a test needs against one app: the operator, people invited into the admin tenancy, customers. */
function harness(get: () => { t: TestApp; smtp: TestSmtp; operator: Operator }) {
  const api = (method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, token: string, payload?: object) =>
    get().t.app.inject({ method, url: `/api/v1${url}`, headers: bearer(token), ...(payload === undefined ? {} : { payload }) });

  async function login(email: string, tenantId?: string): Promise<{ accessToken: string; activeTenantId: string | null }> {
    return signIn(get().t, email, tenantId ? { tenantId } : {});
  }

  /**
   * The administrator of a customer's organisation (their workspace, onboarded as seed 001 does: see
   * `onboardedCustomer`), who then accepts an invitation into the admin tenancy with `roles`, signed in there.
   */
  async function invitedIntoAdminTenancy(roles: string[]): Promise<SignedUp & { workspace: string }> {
    const { t, smtp, operator } = get();
    const { admin: person } = await onboardedCustomer();
    const invited = await api('POST', `/tenants/${operator.adminTenancy}/invitations`, operator.accessToken, { email: person.email, roles });
    assert.equal(invited.statusCode, 201, invited.body);
    await t.app.services.outbox.runOnce();
    // Their first invitation (into their workspace) was mailed to the same address: the admin tenancy's is the pending one.
    const token = await invitationTokenFor(t, person.email, operator.adminTenancy);
    assert.ok(
      smtp.messages.some((m) => m.to.includes(person.email) && m.text.includes(`/team-invite/${token}`)),
      'an invitation mail',
    );
    const accepted = await t.app.inject({ method: 'POST', url: `/api/v1/invitations/${token}/accept`, headers: bearer(person.accessToken) });
    assert.equal(accepted.statusCode, 200, accepted.body);
    const signedIn = await login(person.email, operator.adminTenancy);
    return { ...person, workspace: person.tenantId, accessToken: signedIn.accessToken };
  }

  /** A customer tenant, created by the operator through POST /tenants (so every staffer gets a shadow membership). */
  let counter = 0;
  async function customerTenant(): Promise<string> {
    const { operator } = get();
    counter += 1;
    const res = await api('POST', '/tenants', operator.accessToken, {
      name: `Customer ${counter}`,
      slug: `customer-${process.pid}-${counter}-${Math.random().toString(36).slice(2, 8)}`,
    });
    assert.equal(res.statusCode, 201, res.body);
    return res.json().id;
  }

  /**
   * A customer as seed 001 onboards one: the operator adds the tenant (customerTenant), then invites its
   * administrator (SUPER_ADMIN), who signs up through the link: its only direct member, signed in there.
   */
  async function onboardedCustomer(): Promise<{ tenantId: string; admin: SignedUp }> {
    const tenantId = await customerTenant();
    return { tenantId, admin: await signUpInvited(get().t, get().operator.accessToken, tenantId, ['super_admin']) };
  }

  /** A tenant a customer's administrator adds below their organisation (not a staffer: they own it directly). */
  async function customerChild(customer: { tenantId: string; admin: SignedUp }): Promise<string> {
    counter += 1;
    const res = await api('POST', '/tenants', customer.admin.accessToken, {
      name: `Branch ${counter}`,
      slug: `branch-${process.pid}-${counter}-${Math.random().toString(36).slice(2, 8)}`,
      parentId: customer.tenantId,
    });
    assert.equal(res.statusCode, 201, res.body);
    return res.json().id;
  }

  /** Shadow memberships in `tenantId`: user id → sorted roles. */
  const shadowsOf = (tenantId: string) =>
    readTenant(get().t.database.db, tenantId, async (trx) => {
      const rows = await trx
        .selectFrom('memberships as m')
        .leftJoin('membership_roles as r', (j) => j.onRef('r.tenant_id', '=', 'm.tenant_id').onRef('r.user_id', '=', 'm.user_id'))
        .select(['m.user_id', 'r.role_key'])
        .where('m.tenant_id', '=', tenantId)
        .where('m.kind', '=', 'shadow')
        .orderBy('m.user_id')
        .orderBy('r.role_key')
        .execute();
      const byUser = new Map<string, string[]>();
      for (const row of rows) byUser.set(row.user_id, [...(byUser.get(row.user_id) ?? []), ...(row.role_key === null ? [] : [row.role_key])]);
      return byUser;
    });

  /** The tenant's audit events about `userId`, oldest first. */
  const auditAbout = (tenantId: string, userId: string) =>
    readTenant(get().t.database.db, tenantId, (trx) =>
      trx
        .selectFrom('audit_events')
        .select(['action', 'actor_id', 'via', 'before', 'after'])
        .where('tenant_id', '=', tenantId)
        .where('target_id', '=', userId)
        .orderBy('seq')
        .execute(),
    );

  return { api, login, invitedIntoAdminTenancy, customerTenant, onboardedCustomer, customerChild, shadowsOf, auditAbout };
}

async function bootstrapOperator(t: TestApp): Promise<Operator> {
  const email = uniqueEmail('operator');
  const created = await createOperator({ db: t.database.db, clock: t.clock, ownerRole: 'super_admin' }, { email, password: GOOD_PASSWORD, name: 'Olga' });
  return { userId: created.user.id, accessToken: (await signIn(t, email)).accessToken, adminTenancy: created.adminTenantId ?? '' };
}

for (const engine of testEngines()) {
  describe(`operator staff and their shadow access, msp preset (issue 10) [${engine}]`, () => {
    let t: TestApp;
    let smtp: TestSmtp;
    let operator: Operator;
    const h = harness(() => ({ t, smtp, operator }));
    const { api, login, invitedIntoAdminTenancy, customerTenant, onboardedCustomer, customerChild, shadowsOf, auditAbout } = h;

    before(async () => {
      smtp = await startTestSmtp();
      t = await createTestApp(engine, { env: { ...MSP, TENANTRY_MAIL_URL: smtp.url } });
      operator = await bootstrapOperator(t);
    });
    after(async () => {
      await t.close();
      await smtp.close();
    });

    it('a staffer removed from the admin tenancy loses shadow access at once in every tenant created while they were staff', async () => {
      const alice = await invitedIntoAdminTenancy(['admin']);
      // One added by the operator, one by a customer's administrator below their organisation.
      const customer = await onboardedCustomer();
      const first = customer.tenantId;
      const second = await customerChild(customer);
      for (const tenantId of [first, second]) {
        assert.deepEqual((await shadowsOf(tenantId)).get(alice.userId), ['admin']);
        // Cached on this node, too.
        assert.equal((await api('GET', `/tenants/${tenantId}`, alice.accessToken)).statusCode, 200);
      }

      assert.equal((await api('DELETE', `/tenants/${operator.adminTenancy}/members/${alice.userId}`, operator.accessToken)).statusCode, 204);

      for (const tenantId of [first, second]) {
        // The very next request.
        assertProblem(await api('GET', `/tenants/${tenantId}`, alice.accessToken), 404, 'tenant_not_found');
        assert.equal((await shadowsOf(tenantId)).has(alice.userId), false);
        // The customer's own trail says the operator's access ended, and still verifies.
        const events = await auditAbout(tenantId, alice.userId);
        assert.deepEqual(
          events.map((e) => [e.action, e.before, e.after]),
          [
            ['member.added', null, { roles: ['admin'], kind: 'shadow' }],
            ['member.removed', { roles: ['admin'], kind: 'shadow' }, null],
          ],
        );
        assert.equal(events[1]?.actor_id, operator.userId);
        assert.equal(events[1]?.via, 'shadow');
      }
      const verified = await api('GET', `/tenants/${second}/audit-events/verify`, operator.accessToken);
      assert.equal(verified.statusCode, 200, verified.body);
      assert.equal(verified.json().valid, true, verified.body);
      const me = (await api('GET', '/auth/me', alice.accessToken)).json();
      assert.deepEqual(Object.keys(me.authorization), [alice.workspace]);
    });

    it("a demoted staffer's shadow roles narrow at once; demoted to a role that is not staff, the shadow access ends and promotion does not bring it back", async () => {
      const carol = await invitedIntoAdminTenancy(['admin']);
      const tenantId = await customerTenant();
      const setCrm = (on: boolean) => api('PUT', `/tenants/${tenantId}/features`, carol.accessToken, { features: { crm: on } });
      assert.equal((await setCrm(false)).statusCode, 200, 'an admin through the shadow membership');

      const demoted = await api('PATCH', `/tenants/${operator.adminTenancy}/members/${carol.userId}`, operator.accessToken, { roles: ['agent'] });
      assert.equal(demoted.statusCode, 200, demoted.body);
      assertProblem(await setCrm(true), 403, 'forbidden');
      assert.equal((await api('GET', `/tenants/${tenantId}`, carol.accessToken)).statusCode, 200, 'an agent still reads the tenant');
      assert.deepEqual((await shadowsOf(tenantId)).get(carol.userId), ['agent']);
      assert.deepEqual((await auditAbout(tenantId, carol.userId)).at(-1), {
        action: 'member.roles_changed',
        actor_id: operator.userId,
        via: 'shadow',
        before: { roles: ['admin'], kind: 'shadow' },
        after: { roles: ['agent'], kind: 'shadow' },
      });

      assert.equal((await api('PATCH', `/tenants/${operator.adminTenancy}/members/${carol.userId}`, operator.accessToken, { roles: ['vendor'] })).statusCode, 200);
      assertProblem(await api('GET', `/tenants/${tenantId}`, carol.accessToken), 404, 'tenant_not_found');
      assert.equal((await shadowsOf(tenantId)).has(carol.userId), false);

      // Staff again from now on, for tenants created from now on; what ended stays ended.
      assert.equal((await api('PATCH', `/tenants/${operator.adminTenancy}/members/${carol.userId}`, operator.accessToken, { roles: ['manager'] })).statusCode, 200);
      assertProblem(await api('GET', `/tenants/${tenantId}`, carol.accessToken), 404, 'tenant_not_found');
      const later = await customerTenant();
      assert.deepEqual((await shadowsOf(later)).get(carol.userId), ['manager']);
    });

    it('a staffer who leaves the admin tenancy, or takes over its ownership, has shadow access that follows', async () => {
      const dave = await invitedIntoAdminTenancy(['agent']);
      const erin = await invitedIntoAdminTenancy(['manager']);
      const tenantId = await customerTenant();
      assert.equal((await api('GET', `/tenants/${tenantId}`, dave.accessToken)).statusCode, 200);
      assert.equal((await api('DELETE', `/tenants/${operator.adminTenancy}/members/${dave.userId}`, dave.accessToken)).statusCode, 204);
      assertProblem(await api('GET', `/tenants/${tenantId}`, dave.accessToken), 404, 'tenant_not_found');

      // Ownership of the admin tenancy changes hands: Erin's shadow roles become super_admin, the operator's manager.
      const adminTenancySlug = (await api('GET', `/tenants/${operator.adminTenancy}`, operator.accessToken)).json().slug;
      const transferred = await api('POST', `/tenants/${operator.adminTenancy}/transfer-ownership`, operator.accessToken, { userId: erin.userId, confirm: adminTenancySlug });
      assert.equal(transferred.statusCode, 200, transferred.body);
      const shadows = await shadowsOf(tenantId);
      assert.deepEqual(shadows.get(erin.userId), ['super_admin']);
      // The operator created the tenant, a customer's organisation: they too reach it through a shadow membership
      // (no direct member there), which follows their new roles in the admin tenancy like anyone else's.
      assert.deepEqual(shadows.get(operator.userId), ['manager']);
      // And back, for the tests that follow.
      const back = await api('POST', `/tenants/${operator.adminTenancy}/transfer-ownership`, erin.accessToken, { userId: operator.userId, confirm: adminTenancySlug });
      assert.equal(back.statusCode, 200, back.body);
      const restored = await shadowsOf(tenantId);
      assert.deepEqual([restored.get(erin.userId), restored.get(operator.userId)], [['manager'], ['super_admin']]);
    });

    it("an operator lists and ends a shadow membership; the tenant's own admins can neither see nor end it", async () => {
      const frank = await invitedIntoAdminTenancy(['manager']);
      const { tenantId, admin: customer } = await onboardedCustomer();
      assert.equal((await api('GET', `/tenants/${tenantId}`, frank.accessToken)).statusCode, 200);

      const listed = await api('GET', `/admin/users/${frank.userId}/shadow-memberships`, operator.accessToken);
      assert.equal(listed.statusCode, 200, listed.body);
      assert.deepEqual(
        listed.json().shadowMemberships.map((m: { tenantId: string; roles: string[]; adminTenancyId: string }) => [m.tenantId, m.roles, m.adminTenancyId]),
        [[tenantId, ['manager'], operator.adminTenancy]],
      );

      // The customer's administrator: not in the member list, not removable, not listable.
      const roster = (await api('GET', `/tenants/${tenantId}/members`, customer.accessToken)).json();
      assert.deepEqual(
        roster.members.map((m: { userId: string }) => m.userId),
        [customer.userId],
      );
      assertProblem(await api('DELETE', `/tenants/${tenantId}/members/${frank.userId}`, customer.accessToken), 404, 'member_not_found');
      assertProblem(await api('GET', `/admin/users/${frank.userId}/shadow-memberships`, customer.accessToken), 403, 'not_an_operator');
      assertProblem(await api('DELETE', `/admin/tenants/${tenantId}/shadow-members/${frank.userId}`, customer.accessToken), 403, 'super_admin_required');
      // Nor may an operator who is not a platform super_admin end one.
      const admin = await invitedIntoAdminTenancy(['admin']);
      assertProblem(await api('DELETE', `/admin/tenants/${tenantId}/shadow-members/${frank.userId}`, admin.accessToken), 403, 'super_admin_required');

      assert.equal((await api('DELETE', `/admin/tenants/${tenantId}/shadow-members/${frank.userId}`, operator.accessToken)).statusCode, 204);
      assertProblem(await api('GET', `/tenants/${tenantId}`, frank.accessToken), 404, 'tenant_not_found');
      assertProblem(await api('DELETE', `/admin/tenants/${tenantId}/shadow-members/${frank.userId}`, operator.accessToken), 404, 'shadow_membership_not_found');
      assertProblem(await api('DELETE', `/admin/tenants/${tenantId}/shadow-members/${customer.userId}`, operator.accessToken), 404, 'shadow_membership_not_found');
      const left = (await api('GET', `/admin/users/${frank.userId}/shadow-memberships`, operator.accessToken)).json().shadowMemberships;
      // (The admin invited meanwhile came with a workspace of their own, added by the operator: Frank has a shadow membership there.)
      assert.deepEqual(
        left.map((m: { tenantId: string }) => m.tenantId),
        [admin.workspace],
      );
      assert.deepEqual((await auditAbout(tenantId, frank.userId)).at(-1), {
        action: 'member.removed',
        actor_id: operator.userId,
        via: 'platform_admin',
        before: { roles: ['manager'], kind: 'shadow' },
        after: null,
      });
      const verified = await api('GET', `/tenants/${tenantId}/audit-events/verify`, customer.accessToken);
      assert.equal(verified.json().valid, true, verified.body);
      // Frank is still staff: a tenant created now grants him a shadow membership.
      assert.deepEqual((await shadowsOf(await customerTenant())).get(frank.userId), ['manager']);

      // The listing pages, and knows nobody it has never heard of.
      const all = (await api('GET', `/admin/users/${operator.userId}/shadow-memberships?limit=500`, operator.accessToken))
        .json()
        .shadowMemberships.map((m: { tenantId: string }) => m.tenantId);
      assert.ok(all.length >= 3, `the operator has shadow memberships in the customers' own tenants: ${all.length}`);
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const page: { shadowMemberships: Array<{ tenantId: string }>; nextCursor: string | null } = (
          await api('GET', `/admin/users/${operator.userId}/shadow-memberships?limit=2${cursor === null ? '' : `&cursor=${cursor}`}`, operator.accessToken)
        ).json();
        seen.push(...page.shadowMemberships.map((m) => m.tenantId));
        cursor = page.nextCursor;
      } while (cursor !== null);
      assert.deepEqual(seen, all);
      assertProblem(await api('GET', '/admin/users/usr_aaaaaaaaaaaaaaaaaaaa/shadow-memberships', operator.accessToken), 404, 'user_not_found');
    });

    it('a member designated staff through their default tenant stops being staff when an operator moves it; the tenant it moves to cannot', async () => {
      const gina = await invitedIntoAdminTenancy(['customer']);
      assert.equal((await shadowsOf(await customerTenant())).has(gina.userId), false, 'CUSTOMER is not a staff role');
      assert.equal((await api('PUT', `/admin/users/${gina.userId}/default-tenant`, operator.accessToken, { tenantId: operator.adminTenancy })).statusCode, 200);
      const { admin: customer } = await onboardedCustomer();
      assert.deepEqual((await shadowsOf(customer.tenantId)).get(gina.userId), ['customer']);
      // The customer's administrator may set default tenants in their own tenant, but not undo an operator's designation.
      assertProblem(await api('PUT', `/admin/users/${gina.userId}/default-tenant`, customer.accessToken, { tenantId: customer.tenantId }), 403, 'not_an_operator');
      assert.equal((await api('GET', `/tenants/${customer.tenantId}`, gina.accessToken)).statusCode, 200);

      assert.equal((await api('PUT', `/admin/users/${gina.userId}/default-tenant`, operator.accessToken, { tenantId: gina.workspace })).statusCode, 200);
      assertProblem(await api('GET', `/tenants/${customer.tenantId}`, gina.accessToken), 404, 'tenant_not_found');
      assert.deepEqual((await auditAbout(customer.tenantId, gina.userId)).at(-1)?.action, 'member.removed');
    });

    it('a vendor invited into the admin tenancy who deletes their own workspace is not made staff by it', async () => {
      const victor = await invitedIntoAdminTenancy(['vendor']);
      // Even a default tenant set explicitly, once its tenant is deleted and the platform re-points it, designates nobody.
      assert.equal((await api('PUT', `/admin/users/${victor.userId}/default-tenant`, operator.accessToken, { tenantId: victor.workspace })).statusCode, 200);
      const workspace = (await api('GET', `/tenants/${victor.workspace}`, victor.accessToken)).json();
      const deleted = await api('DELETE', `/tenants/${victor.workspace}`, victor.accessToken, { confirm: workspace.slug });
      assert.equal(deleted.statusCode, 200, deleted.body);
      assert.equal(deleted.json().status, 'deleted');
      // The admin tenancy is all Victor has left: his default tenant now, and where he lands.
      const user = await readSystem(t.database.db, (trx) =>
        trx.selectFrom('users').select(['default_tenant_id', 'explicit_default_tenant_id']).where('id', '=', victor.userId).executeTakeFirstOrThrow(),
      );
      assert.deepEqual(user, { default_tenant_id: operator.adminTenancy, explicit_default_tenant_id: null });
      assert.equal((await login(victor.email)).activeTenantId, operator.adminTenancy);

      const afterwards = await onboardedCustomer();
      const below = await customerChild(afterwards);
      for (const tenantId of [afterwards.tenantId, below]) {
        assert.equal((await shadowsOf(tenantId)).has(victor.userId), false, 'no shadow membership for a vendor');
        assertProblem(await api('GET', `/tenants/${tenantId}`, victor.accessToken), 404, 'tenant_not_found');
      }
      assert.deepEqual((await api('GET', `/admin/users/${victor.userId}/shadow-memberships`, operator.accessToken)).json().shadowMemberships, []);
    });
  });
}

if (testEngines().includes('postgres')) {
  describe('shadow access ends on every node (issue 10) [postgres]', () => {
    it("a removed staffer's cached shadow access ends on another node within one second", async () => {
      const smtp = await startTestSmtp();
      const first = await createTestDatabase('postgres');
      const second = await openDatabase({ engine: 'postgres', url: first.url!, poolSize: 4 });
      const env = { ...MSP, TENANTRY_MAIL_URL: smtp.url };
      let nodeA: TestApp | undefined;
      let nodeB: TestApp | undefined;
      try {
        nodeA = await createTestApp('postgres', { env, database: first });
        nodeB = await createTestApp('postgres', { env, database: second });
        const a = nodeA;
        const b = nodeB;
        const operator = await bootstrapOperator(a);
        const h = harness(() => ({ t: a, smtp, operator }));
        const hana = await h.invitedIntoAdminTenancy(['agent']);
        const tenantId = await h.customerTenant();
        const askB = async () => (await b.app.inject({ url: `/api/v1/tenants/${tenantId}`, headers: bearer(hana.accessToken) })).statusCode;
        assert.equal(await askB(), 200, 'node B has cached the shadow access');

        // Through node A's API: node B hears of it only through NOTIFY.
        assert.equal((await h.api('DELETE', `/tenants/${operator.adminTenancy}/members/${hana.userId}`, operator.accessToken)).statusCode, 204);
        assert.equal((await a.app.inject({ url: `/api/v1/tenants/${tenantId}`, headers: bearer(hana.accessToken) })).statusCode, 404, 'node A at once');
        const deadline = Date.now() + 1000;
        let status = await askB();
        while (status !== 404 && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 20));
          status = await askB();
        }
        assert.equal(status, 404, 'node B still honoured the shadow access a second after the staffer was removed');
      } finally {
        await nodeB?.close();
        if (nodeB === undefined) await second.close();
        await nodeA?.close();
        if (nodeA === undefined) await first.close();
        await smtp.close();
      }
    });
  });
}
