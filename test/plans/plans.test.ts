import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { readTenant } from '../../src/platform/db/context.ts';
import { applyDuePlanChanges, periodEnd } from '../../src/plans/plans.service.ts';
import { createKey } from '../helpers/api-keys.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { testEngines } from '../helpers/database.ts';
import { raceBehindLock } from '../helpers/locks.ts';
import { seedTenant } from '../helpers/tenants.ts';
import { assertProblem, bearer, enrol, join, type SignedUp, signUp, uniqueEmail } from '../helpers/users.ts';

describe('billing periods', () => {
  it('end monthly from the anchor, clamped to short months', () => {
    const anchor = new Date('2026-01-31T10:00:00Z');
    assert.equal(periodEnd(anchor, new Date('2026-01-31T10:00:00Z')).toISOString(), '2026-02-28T10:00:00.000Z');
    assert.equal(periodEnd(anchor, new Date('2026-02-28T09:59:59Z')).toISOString(), '2026-02-28T10:00:00.000Z');
    assert.equal(periodEnd(anchor, new Date('2026-02-28T10:00:00Z')).toISOString(), '2026-03-31T10:00:00.000Z');
    assert.equal(periodEnd(anchor, new Date('2027-05-01T00:00:00Z')).toISOString(), '2027-05-31T10:00:00.000Z');
  });
});

/**
 * SPEC 4 "Plans", seed 002 (marketplace): Free/Starter/Professional/Enterprise with member caps; upgrades now,
 * downgrades at the end of the billing period; a limit reached answers 409 plan_limit_reached.
 * Marketplace Free: 3 members (pending invitations included), no child tenants, 2 API keys; Starter: 10, 2, 10.
 */
for (const engine of testEngines()) {
  describe(`plans and their limits [${engine}]`, () => {
    let t: TestApp;
    let owner: SignedUp;
    let tenant: string;

    const api = (method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, token: string, payload?: object) =>
      t.app.inject({ method, url: `/api/v1${url}`, headers: bearer(token), ...(payload === undefined ? {} : { payload }) });
    const invite = (email: string) => api('POST', `/tenants/${tenant}/invitations`, owner.accessToken, { email, roles: ['viewer'] });
    const plan = async (id = tenant) => {
      const res = await api('GET', `/tenants/${id}/plan`, owner.accessToken);
      assert.equal(res.statusCode, 200, res.body);
      return res.json();
    };
    const auditActions = (id: string) =>
      readTenant(t.database.db, id, (trx) =>
        trx.selectFrom('audit_events').select(['action', 'actor_type', 'before', 'after']).where('tenant_id', '=', id).where('action', 'like', 'plan.%').orderBy('seq').execute(),
      );

    /** Moves the clock, and signs the owner in again: access tokens last 10 minutes. */
    const advance = async (ms: number) => {
      t.clock.advance(ms);
      const res = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: owner.email, password: owner.password } });
      assert.equal(res.statusCode, 200, res.body);
      owner.accessToken = res.json().accessToken;
    };

    before(async () => {
      t = await createTestApp(engine, { env: { TENANTRY_PRESET: 'marketplace', TENANTRY_AUTH_RATE_LIMIT: '1000' } });
      owner = await signUp(t);
      tenant = owner.tenantId;
    });
    after(() => t.close());

    it('starts a tenant on the default plan and shows its limits, usage and every tier', async () => {
      const view = await plan();
      assert.equal(view.plan.key, 'free');
      assert.deepEqual(view.plan.limits, { members: 3, childTenants: 0, apiKeys: 2 });
      assert.deepEqual(view.usage, { members: 1, pendingInvitations: 0, childTenants: 0, apiKeys: 0 });
      assert.deepEqual(
        view.plans.map((p: { key: string }) => p.key),
        ['free', 'starter', 'professional', 'enterprise'],
      );
      assert.equal(view.scheduledChange, null);
      assert.deepEqual(view.overLimit, []);
      assert.equal(view.periodEndsAt, '2026-02-01T00:00:00.000Z');
      const details = await api('GET', `/tenants/${tenant}`, owner.accessToken);
      assert.equal(details.json().plan, 'free');
    });

    it('counts pending invitations toward the member limit, and frees the seat when one is revoked or expires', async () => {
      assert.equal((await invite(uniqueEmail('seat1'))).statusCode, 201);
      const second = uniqueEmail('seat2');
      const held = await invite(second);
      assert.equal(held.statusCode, 201);
      const full = await invite(uniqueEmail('seat3'));
      assertProblem(full, 409, 'plan_limit_reached');
      assert.deepEqual([full.json().resource, full.json().limit, full.json().used, full.json().plan], ['members', 3, 3, 'free']);
      assert.match(full.json().detail, /Free plan allows 3 members \(pending invitations included\); 3 in use/);
      // Renewing a pending invitation takes no new seat.
      assert.equal((await invite(second)).statusCode, 201);
      // Revoking one frees its seat.
      assert.equal((await api('DELETE', `/tenants/${tenant}/invitations/${held.json().id}`, owner.accessToken)).statusCode, 204);
      assert.equal((await invite(uniqueEmail('seat4'))).statusCode, 201);
      assertProblem(await invite(uniqueEmail('seat5')), 409, 'plan_limit_reached');
      // Once the invitations expire (48 h) they hold no seat.
      await advance(49 * 60 * 60_000);
      assert.equal((await plan()).usage.pendingInvitations, 0);
      assert.equal((await invite(uniqueEmail('seat6'))).statusCode, 201);
      assert.equal((await plan()).usage.pendingInvitations, 1);
      // Renewing an expired invitation takes a seat again, like a new one: with the seats full, it is refused.
      assert.equal((await invite(uniqueEmail('seat7'))).statusCode, 201);
      assertProblem(await invite(second), 409, 'plan_limit_reached');
      assert.deepEqual((await plan()).usage, { members: 1, pendingInvitations: 2, childTenants: 0, apiKeys: 0 });
    });

    it('limits API keys to the live ones', async () => {
      const first = await createKey(t, owner.accessToken, tenant, ['tenant.read'], { name: 'one' });
      await createKey(t, owner.accessToken, tenant, ['tenant.read'], { name: 'two' });
      const third = await api('POST', `/tenants/${tenant}/api-keys`, owner.accessToken, { name: 'three', permissions: ['tenant.read'] });
      assertProblem(third, 409, 'plan_limit_reached');
      assert.equal(third.json().resource, 'apiKeys');
      assert.equal((await api('DELETE', `/tenants/${tenant}/api-keys/${first.id}`, owner.accessToken)).statusCode, 204);
      await createKey(t, owner.accessToken, tenant, ['tenant.read'], { name: 'three' });
      assert.equal((await plan()).usage.apiKeys, 2);
    });

    it('refuses child tenants beyond the plan, and an upgrade applies at once', async () => {
      const child = (slug: string) => api('POST', '/tenants', owner.accessToken, { name: slug, slug: `${slug}-${process.pid}-${engine}`, parentId: tenant });
      const refused = await child('first-child');
      assertProblem(refused, 409, 'plan_limit_reached');
      assert.equal(refused.json().resource, 'childTenants');

      const upgraded = await api('PUT', `/tenants/${tenant}/plan`, owner.accessToken, { plan: 'starter' });
      assert.equal(upgraded.statusCode, 200, upgraded.body);
      assert.equal(upgraded.json().plan.key, 'starter');
      assert.equal(upgraded.json().scheduledChange, null);
      assert.equal((await child('first-child')).statusCode, 201);
      assert.equal((await child('second-child')).statusCode, 201);
      assertProblem(await child('third-child'), 409, 'plan_limit_reached');

      // Moving a tenant under a parent at its limit is refused the same way, and moves nothing.
      const elsewhere = await api('POST', '/tenants', owner.accessToken, { name: 'Elsewhere', slug: `elsewhere-${process.pid}-${engine}` });
      assert.equal(elsewhere.statusCode, 201, elsewhere.body);
      assertProblem(await api('PATCH', `/tenants/${elsewhere.json().id}`, owner.accessToken, { parentId: tenant }), 409, 'plan_limit_reached');
      assert.equal((await api('GET', `/tenants/${elsewhere.json().id}`, owner.accessToken)).json().parentId, null);
      assert.deepEqual(
        (await auditActions(tenant)).map((e) => [e.action, e.actor_type, e.before, e.after]),
        [['plan.changed', 'user', { plan: 'free' }, { plan: 'starter' }]],
      );
    });

    it('schedules a downgrade for the end of the period, can cancel it, and then applies it without removing anything', async () => {
      const before = await plan();
      const scheduled = await api('PUT', `/tenants/${tenant}/plan`, owner.accessToken, { plan: 'free' });
      assert.equal(scheduled.statusCode, 200, scheduled.body);
      assert.equal(scheduled.json().plan.key, 'starter');
      assert.deepEqual([scheduled.json().scheduledChange.plan.key, scheduled.json().scheduledChange.at], ['free', before.periodEndsAt]);

      // Asking for the plan in force cancels the scheduled change.
      const cancelled = await api('PUT', `/tenants/${tenant}/plan`, owner.accessToken, { plan: 'starter' });
      assert.equal(cancelled.json().scheduledChange, null);
      assert.equal((await api('PUT', `/tenants/${tenant}/plan`, owner.accessToken, { plan: 'free' })).json().scheduledChange.plan.key, 'free');

      // At the end of the period the lower plan is in force, even before the job has written it.
      await advance(new Date(before.periodEndsAt).getTime() - t.clock.now().getTime());
      const due = await plan();
      assert.equal(due.plan.key, 'free');
      assert.equal(due.scheduledChange, null);
      assert.deepEqual(due.overLimit, ['childTenants']);
      assertProblem(await api('POST', '/tenants', owner.accessToken, { name: 'Late', slug: `late-${process.pid}-${engine}`, parentId: tenant }), 409, 'plan_limit_reached');
      // Nothing was taken away: both children are still there.
      assert.equal(due.usage.childTenants, 2);

      assert.deepEqual(await applyDuePlanChanges({ db: t.database.db, clock: t.clock, preset: t.app.services.preset }), [tenant]);
      assert.deepEqual(await applyDuePlanChanges({ db: t.database.db, clock: t.clock, preset: t.app.services.preset }), []);
      assert.equal((await api('GET', `/tenants/${tenant}`, owner.accessToken)).json().plan, 'free');
      const trail = (await auditActions(tenant)).map((e) => [e.action, e.actor_type]);
      assert.deepEqual(trail.slice(-4), [
        ['plan.change_scheduled', 'user'],
        ['plan.change_cancelled', 'user'],
        ['plan.change_scheduled', 'user'],
        ['plan.changed', 'system'],
      ]);
    });

    it('refuses an unknown plan, needs billing.manage, and hides other tenants', async () => {
      const unknown = await api('PUT', `/tenants/${tenant}/plan`, owner.accessToken, { plan: 'platinum' });
      assertProblem(unknown, 422, 'unknown_plan');
      assert.deepEqual(unknown.json().plans, ['free', 'starter', 'professional', 'enterprise']);
      assertProblem(await api('PUT', `/tenants/${tenant}/plan`, owner.accessToken, { plan: 'free', extra: 1 }), 400, 'validation_failed');

      const viewer = await signUp(t);
      await join(t, tenant, viewer.userId, ['viewer']);
      assert.equal((await api('GET', `/tenants/${tenant}/plan`, viewer.accessToken)).statusCode, 200);
      assertProblem(await api('PUT', `/tenants/${tenant}/plan`, viewer.accessToken, { plan: 'enterprise' }), 403, 'forbidden');

      const stranger = await signUp(t);
      assertProblem(await api('GET', `/tenants/${tenant}/plan`, stranger.accessToken), 404, 'tenant_not_found');
      assertProblem(await api('PUT', `/tenants/${tenant}/plan`, stranger.accessToken, { plan: 'enterprise' }), 404, 'tenant_not_found');
      assert.equal((await plan()).plan.key, 'free');
    });

    if (engine === 'postgres') {
      it('lets concurrent invitations take exactly the seats that are left', async () => {
        const racer = await signUp(t);
        const id = racer.tenantId;
        // Starter: 10 seats; the owner and 6 invitations take 7, so 3 are left for 8 invitations sent at once
        // (8: fewer than the app's 10 pooled connections, so every one of them can reach the lock).
        assert.equal((await api('PUT', `/tenants/${id}/plan`, racer.accessToken, { plan: 'starter' })).statusCode, 200);
        for (let i = 0; i < 6; i++) {
          assert.equal((await api('POST', `/tenants/${id}/invitations`, racer.accessToken, { email: uniqueEmail(`held${i}`), roles: ['viewer'] })).statusCode, 201);
        }
        const results = await holdingTenantRow(id, 8, () =>
          Promise.all(Array.from({ length: 8 }, (_, i) => api('POST', `/tenants/${id}/invitations`, racer.accessToken, { email: uniqueEmail(`race${i}`), roles: ['viewer'] }))),
        );
        const codes = results.map((r) => r.statusCode).sort();
        assert.deepEqual(codes, [201, 201, 201, 409, 409, 409, 409, 409]);
        const view = (await api('GET', `/tenants/${id}/plan`, racer.accessToken)).json();
        assert.equal(view.usage.members + view.usage.pendingInvitations, 10);
      });
    }

    /**
     * Runs `race` while another transaction holds the tenant row, and lets go once `waiters` requests wait
     * on it: they have all passed authorization and queue on the plan check. Without the lock in the plan
     * check they would not wait, and would all take a seat.
     */
    function holdingTenantRow<T>(tenantId: string, waiters: number, race: () => Promise<T>): Promise<T> {
      return raceBehindLock(t.database, async (trx) => void (await sql`SELECT 1 FROM tenants WHERE id = ${tenantId} FOR NO KEY UPDATE`.execute(trx)), waiters, race);
    }
  });
}

for (const engine of testEngines()) {
  describe(`plans in a preset without them [${engine}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await createTestApp(engine, { env: { TENANTRY_PRESET: 'msp', TENANTRY_AUTH_RATE_LIMIT: '1000' } });
    });
    after(() => t.close());

    it('has no plan and no limits', async () => {
      // Sign-up makes no tenant here: a customer's tenant, and its SUPER_ADMIN.
      const { tenantId } = await seedTenant(t.database, { name: 'Acme Ltd', ownerRole: 'super_admin' });
      const owner = await enrol(t, tenantId, ['super_admin']);
      const view = await t.app.inject({ method: 'GET', url: `/api/v1/tenants/${owner.tenantId}/plan`, headers: bearer(owner.accessToken) });
      assert.equal(view.statusCode, 200, view.body);
      assert.deepEqual([view.json().plan, view.json().plans], [null, []]);
      const refused = await t.app.inject({ method: 'PUT', url: `/api/v1/tenants/${owner.tenantId}/plan`, headers: bearer(owner.accessToken), payload: { plan: 'free' } });
      assertProblem(refused, 422, 'unknown_plan');
      assert.match(refused.json().detail, /has no plans/);
    });
  });
}
