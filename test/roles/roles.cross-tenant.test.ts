import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { readTenant } from '../../src/platform/db/context.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { testEngines } from '../helpers/database.ts';
import { seedTenant } from '../helpers/tenants.ts';
import { assertProblem, bearer, join, signUp } from '../helpers/users.ts';

for (const engine of testEngines()) {
  describe(`custom roles never cross tenants [${engine}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await createTestApp(engine, { env: { TENANTRY_AUTH_RATE_LIMIT: '1000' } });
    });
    after(() => t.close());

    const snapshot = (tenantId: string) =>
      readTenant(t.database.db, tenantId, async (trx) => ({
        roles: await trx.selectFrom('roles').selectAll().where('tenant_id', '=', tenantId).orderBy('key').execute(),
        audit: await trx.selectFrom('audit_events').select(['seq', 'action']).where('tenant_id', '=', tenantId).orderBy('seq').execute(),
      }));

    it('answers 404 to a member of another tenant on every roles endpoint and changes nothing', async () => {
      const a = await signUp(t);
      const b = await signUp(t);
      const setup = await t.app.inject({
        method: 'POST',
        url: `/api/v1/tenants/${b.tenantId}/roles`,
        headers: bearer(b.accessToken),
        payload: { key: 'auditor', name: 'Auditor', scope: 'tenant', permissions: ['tenant.read'] },
      });
      assert.equal(setup.statusCode, 201, setup.body);
      const before = await snapshot(b.tenantId);

      const base = `/api/v1/tenants/${b.tenantId}/roles`;
      const attempts = [
        { method: 'GET' as const, url: base },
        { method: 'POST' as const, url: base, payload: { key: 'intruder', name: 'Intruder', scope: 'tenant', permissions: ['tenant.read'] } },
        { method: 'PATCH' as const, url: `${base}/auditor`, payload: { name: 'Hijacked', permissions: [] } },
        { method: 'PATCH' as const, url: `${base}/nobody`, payload: { name: 'Probe' } },
        { method: 'DELETE' as const, url: `${base}/auditor` },
        { method: 'DELETE' as const, url: `${base}/owner` },
      ];
      for (const attempt of attempts) {
        assertProblem(await t.app.inject({ ...attempt, headers: bearer(a.accessToken) }), 404, 'tenant_not_found');
      }
      assert.deepEqual(await snapshot(b.tenantId), before);
    });

    it('gives a member of a child tenant nothing in its parent', async () => {
      const owner = await signUp(t);
      const child = (await seedTenant(t.database, { name: 'Child', parentId: owner.tenantId, ownerId: owner.userId })).tenantId;
      const childAdmin = await signUp(t);
      await join(t, child, childAdmin.userId, ['admin']);
      const before = await snapshot(owner.tenantId);
      const base = `/api/v1/tenants/${owner.tenantId}/roles`;
      assertProblem(await t.app.inject({ url: base, headers: bearer(childAdmin.accessToken) }), 404, 'tenant_not_found');
      assertProblem(
        await t.app.inject({ method: 'POST', url: base, headers: bearer(childAdmin.accessToken), payload: { key: 'up', name: 'Up', scope: 'tenant', permissions: [] } }),
        404,
        'tenant_not_found',
      );
      assert.deepEqual(await snapshot(owner.tenantId), before);
      // In the child itself the same person may.
      assert.equal((await t.app.inject({ url: `/api/v1/tenants/${child}/roles`, headers: bearer(childAdmin.accessToken) })).statusCode, 200);
    });

    it('answers 401 without credentials', async () => {
      const owner = await signUp(t);
      assertProblem(await t.app.inject({ url: `/api/v1/tenants/${owner.tenantId}/roles` }), 401, 'unauthenticated');
    });
  });
}
