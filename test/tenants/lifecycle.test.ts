import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { readTenant, withSystem } from '../../src/platform/db/context.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { testEngines } from '../helpers/database.ts';
import { assertProblem, bearer, GOOD_PASSWORD, join, type SignedUp, signUp } from '../helpers/users.ts';

/**
 * SPEC 4, lifecycle: a company suspends a customer below it; while suspended only the customer's owners
 * (read-only plus billing) and those above may enter, and only those above may lift it.
 */
for (const engine of testEngines()) {
  describe(`suspend and resume [${engine}]`, () => {
    let t: TestApp;
    let top: SignedUp;
    let customer: SignedUp;
    let child: string;
    let member: SignedUp;

    const api = (method: 'GET' | 'POST' | 'PATCH', url: string, token: string, payload?: object) =>
      t.app.inject({ method, url: `/api/v1${url}`, headers: bearer(token), ...(payload === undefined ? {} : { payload }) });
    const login = async (who: SignedUp) => (await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: who.email, password: GOOD_PASSWORD } })).json();

    before(async () => {
      t = await createTestApp(engine, { env: { TENANTRY_AUTH_RATE_LIMIT: '1000' } });
      top = await signUp(t, { name: 'Top' });
      // The customer's company, under Top's: its owner is the customer, who holds nothing in Top.
      customer = await signUp(t, { name: 'Customer' });
      const created = await api('POST', '/tenants', top.accessToken, { name: 'Customer Co', slug: `customer-co-${process.pid}-${engine}`, parentId: top.tenantId });
      child = created.json().id;
      await join(t, child, customer.userId, ['owner']);
      member = await signUp(t, { name: 'Member' });
      await join(t, child, member.userId, ['member']);
    });
    after(() => t.close());

    it("is not the tenant's own to suspend: its owners are refused, those above are not", async () => {
      const refused = await api('POST', `/tenants/${child}/suspend`, customer.accessToken, { reason: 'self' });
      assertProblem(refused, 403, 'forbidden');
      assert.match(refused.json().detail, /from above this tenant/);
      const stranger = await signUp(t);
      assertProblem(await api('POST', `/tenants/${child}/suspend`, stranger.accessToken), 404, 'tenant_not_found');

      const res = await api('POST', `/tenants/${child}/suspend`, top.accessToken, { reason: 'invoice 42 unpaid' });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.json().status, 'suspended');
      assert.equal((await api('POST', `/tenants/${child}/suspend`, top.accessToken)).json().status, 'suspended', 'idempotent');
      const audit = await readTenant(t.database.db, child, (trx) =>
        trx.selectFrom('audit_events').select(['action', 'actor_id', 'after']).where('tenant_id', '=', child).where('action', 'like', 'tenant.%').orderBy('seq').execute(),
      );
      assert.deepEqual(audit.at(-1), { action: 'tenant.suspended', actor_id: top.userId, after: { status: 'suspended', reason: 'invoice 42 unpaid' } });
    });

    it('while suspended: owners read and pay, members cannot enter, and nobody inside can lift it', async () => {
      // The owner reads, sees members, but changes nothing.
      assert.equal((await api('GET', `/tenants/${child}`, customer.accessToken)).statusCode, 200);
      assert.equal((await api('GET', `/tenants/${child}/members`, customer.accessToken)).statusCode, 200);
      assertProblem(await api('PATCH', `/tenants/${child}`, customer.accessToken, { name: 'Renamed' }), 403, 'forbidden');
      const check = await api('POST', '/check', customer.accessToken, {
        checks: ['tenant.read', 'billing.manage', 'members.invite'].map((permission) => ({ tenantId: child, permission })),
      });
      assert.deepEqual(
        check.json().results.map((r: { allowed: boolean }) => r.allowed),
        [true, true, false],
      );
      assert.match(check.json().results[2].reason, /the tenant is suspended/);
      assertProblem(await api('POST', `/tenants/${child}/resume`, customer.accessToken), 403, 'forbidden');

      // A member cannot enter at all: not listed at sign-in, not switchable, and 404 on its paths.
      assertProblem(await api('GET', `/tenants/${child}`, member.accessToken), 404, 'tenant_not_found');
      const signedIn = await login(member);
      assert.deepEqual(
        signedIn.tenants.map((x: { tenantId: string }) => x.tenantId),
        [member.tenantId],
      );
      assertProblem(await api('POST', '/auth/active-tenant', member.accessToken, { tenantId: child }), 404, 'tenant_not_found');
      // The owner still finds it at sign-in, marked suspended.
      const owner = await login(customer);
      assert.deepEqual(owner.tenants.map((x: { tenantId: string }) => x.tenantId).sort(), [customer.tenantId, child].sort());
      assert.equal((await api('GET', '/tenants', customer.accessToken)).json().tenants.find((x: { id: string }) => x.id === child).status, 'suspended');
      // Those above still see and administer what they may while it is suspended.
      assert.equal((await api('GET', `/tenants/${child}`, top.accessToken)).statusCode, 200);
    });

    it('resumes (from above), and everyone is back on the next request', async () => {
      const res = await api('POST', `/tenants/${child}/resume`, top.accessToken);
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.json().status, 'active');
      assert.equal((await api('GET', `/tenants/${child}`, member.accessToken)).statusCode, 200);
      assert.equal((await api('PATCH', `/tenants/${child}`, customer.accessToken, { name: 'Customer Company' })).statusCode, 200);
      assert.equal((await api('POST', `/tenants/${child}/resume`, top.accessToken)).json().status, 'active', 'idempotent');
    });

    it('refuses the admin tenancy, and a tenant pending deletion, changing nothing', async () => {
      const other = await api('POST', '/tenants', top.accessToken, { name: 'Ops', slug: `ops-${process.pid}-${engine}`, parentId: top.tenantId });
      const ops = other.json().id;
      await withSystem(t.database.db, (trx) => trx.updateTable('tenants').set({ is_admin_tenancy: true }).where('id', '=', ops).execute());
      assertProblem(await api('POST', `/tenants/${ops}/suspend`, top.accessToken), 409, 'admin_tenancy');
      await withSystem(t.database.db, (trx) =>
        trx.updateTable('tenants').set({ is_admin_tenancy: false, status: 'pending_deletion', status_before_deletion: 'active' }).where('id', '=', ops).execute(),
      );
      assertProblem(await api('POST', `/tenants/${ops}/suspend`, top.accessToken), 409, 'tenant_status_conflict');
      assertProblem(await api('POST', `/tenants/${ops}/resume`, top.accessToken), 409, 'tenant_status_conflict');
      const status = await withSystem(t.database.db, (trx) => trx.selectFrom('tenants').select('status').where('id', '=', ops).executeTakeFirstOrThrow());
      assert.equal(status.status, 'pending_deletion');
    });
  });
}
