import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { readTenant, withTenant } from '../../src/platform/db/context.ts';
import { insertMembership } from '../../src/members/memberships.repository.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { testEngines } from '../helpers/database.ts';
import { seedTenant } from '../helpers/tenants.ts';
import { assertProblem, bearer, signUp, type SignedUp } from '../helpers/users.ts';

for (const engine of testEngines()) {
  describe(`custom roles down the tenant tree [${engine}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await createTestApp(engine, { env: { TENANTRY_AUTH_RATE_LIMIT: '1000' } });
    });
    after(() => t.close());

    const roles = (tenantId: string) => `/api/v1/tenants/${tenantId}/roles`;
    const api = (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, token: string, payload?: object) =>
      t.app.inject({ method, url, headers: bearer(token), ...(payload === undefined ? {} : { payload }) });
    const grant = (tenantId: string, userId: string, roleKeys: string[]) =>
      withTenant(t.database.db, tenantId, (trx) => insertMembership(trx, { tenantId, userId, kind: 'direct', roles: roleKeys, now: t.clock.now() }));
    const revoke = (tenantId: string, userId: string) =>
      withTenant(t.database.db, tenantId, (trx) => trx.deleteFrom('memberships').where('tenant_id', '=', tenantId).where('user_id', '=', userId).execute());
    const check = async (user: SignedUp, tenantId: string, permission: string) => {
      const res = await api('POST', '/api/v1/check', user.accessToken, { tenantId, permission });
      assert.equal(res.statusCode, 200, res.body);
      return res.json() as { allowed: boolean; reason: string };
    };
    const keysIn = async (user: SignedUp, tenantId: string) => {
      const res = await api('GET', roles(tenantId), user.accessToken);
      assert.equal(res.statusCode, 200, res.body);
      return (res.json().roles as Array<{ key: string; builtIn: boolean; definedIn: string | null }>).filter((r) => !r.builtIn).map((r) => `${r.key}@${r.definedIn}`);
    };

    /**
     *        root
     *       /    \
     *      A      B
     *     / \
     *   A1   A2
     */
    async function tree() {
      const owner = await signUp(t);
      const root = owner.tenantId;
      const a = (await seedTenant(t.database, { name: 'A', parentId: root, ownerId: owner.userId })).tenantId;
      const b = (await seedTenant(t.database, { name: 'B', parentId: root, ownerId: owner.userId })).tenantId;
      const a1 = (await seedTenant(t.database, { name: 'A1', parentId: a, ownerId: owner.userId })).tenantId;
      const a2 = (await seedTenant(t.database, { name: 'A2', parentId: a, ownerId: owner.userId })).tenantId;
      return { owner, root, a, b, a1, a2 };
    }

    it('makes a role defined in a tenant usable below it but not beside or above it', async () => {
      const { owner, root, a, b, a1 } = await tree();
      const created = await api('POST', roles(a), owner.accessToken, { key: 'auditor', name: 'Auditor', scope: 'tenant', permissions: ['tenant.read', 'audit.read'] });
      assert.equal(created.statusCode, 201, created.body);

      assert.deepEqual(await keysIn(owner, a), [`auditor@${a}`]);
      assert.deepEqual(await keysIn(owner, a1), [`auditor@${a}`]);
      assert.deepEqual(await keysIn(owner, b), []);
      assert.deepEqual(await keysIn(owner, root), []);

      const holder = await signUp(t);
      await grant(a1, holder.userId, ['auditor']);
      await grant(b, holder.userId, ['auditor']);
      const inChild = await check(holder, a1, 'audit.read');
      assert.deepEqual(inChild, { allowed: true, reason: 'granted by role auditor in this tenant' });
      assert.equal((await check(holder, b, 'audit.read')).allowed, false);
      assert.equal((await check(holder, b, 'tenant.read')).allowed, false);

      // The key is taken wherever the role is visible, and free elsewhere.
      assertProblem(await api('POST', roles(a1), owner.accessToken, { key: 'auditor', name: 'Again', scope: 'tenant', permissions: [] }), 409, 'role_exists');
      assert.equal((await api('POST', roles(b), owner.accessToken, { key: 'auditor', name: 'B auditor', scope: 'tenant', permissions: ['tenant.read'] })).statusCode, 201);
      assert.equal((await check(holder, b, 'tenant.read')).allowed, true);
      assert.equal((await check(holder, b, 'audit.read')).allowed, false);

      // Only the defining tenant may edit or delete it.
      assertProblem(await api('PATCH', `${roles(a1)}/auditor`, owner.accessToken, { name: 'Child edit' }), 404, 'role_not_found');
      assertProblem(await api('DELETE', `${roles(a1)}/auditor`, owner.accessToken), 404, 'role_not_found');

      // An edit in the parent reaches the child on the next request.
      assert.equal((await api('PATCH', `${roles(a)}/auditor`, owner.accessToken, { permissions: ['tenant.read'] })).statusCode, 200);
      assert.equal((await check(holder, a1, 'audit.read')).allowed, false);
      assert.equal((await check(holder, a1, 'tenant.read')).allowed, true);
    });

    it('applies a tenant_and_descendants custom role held in an ancestor', async () => {
      const { owner, root, a1, b } = await tree();
      assert.equal(
        (await api('POST', roles(root), owner.accessToken, { key: 'regional', name: 'Regional', scope: 'tenant_and_descendants', permissions: ['tenant.read', 'members.read'] }))
          .statusCode,
        201,
      );
      const regional = await signUp(t);
      await grant(root, regional.userId, ['regional']);
      const below = await check(regional, a1, 'members.read');
      assert.equal(below.allowed, true);
      assert.match(below.reason, new RegExp(`role regional held in ancestor tenant ${root}`));
      assert.equal((await check(regional, b, 'members.read')).allowed, true);
      assert.equal((await check(regional, a1, 'members.invite')).allowed, false);
      assert.equal((await api('GET', roles(a1), regional.accessToken)).statusCode, 200);

      // Narrowed back to this tenant, it stops reaching below at once.
      assert.equal((await api('PATCH', `${roles(root)}/regional`, owner.accessToken, { scope: 'tenant' })).statusCode, 200);
      assert.equal((await check(regional, a1, 'members.read')).allowed, false);
      assertProblem(await api('GET', roles(a1), regional.accessToken), 404, 'tenant_not_found');
      assert.equal((await check(regional, root, 'members.read')).allowed, true);
    });

    it('refuses to delete a role held anywhere below, but not one a lower tenant redefines', async () => {
      const { owner, a, a1, a2 } = await tree();
      const create = (tenantId: string, key: string) => api('POST', roles(tenantId), owner.accessToken, { key, name: key, scope: 'tenant', permissions: ['tenant.read'] });
      const del = (tenantId: string, key: string) => api('DELETE', `${roles(tenantId)}/${key}`, owner.accessToken);
      const rowsOf = (tenantId: string) =>
        readTenant(t.database.db, tenantId, (trx) => trx.selectFrom('roles').select('key').where('tenant_id', '=', tenantId).orderBy('key').execute());

      // Held two levels down.
      assert.equal((await create(a, 'auditor')).statusCode, 201);
      const holder = await signUp(t);
      await grant(a1, holder.userId, ['auditor']);
      assertProblem(await del(a, 'auditor'), 409, 'role_in_use');
      assert.deepEqual(await rowsOf(a), [{ key: 'auditor' }]);
      await revoke(a1, holder.userId);
      assert.equal((await del(a, 'auditor')).statusCode, 204);
      assert.deepEqual(await rowsOf(a), []);

      // A2 defined `probe` before A did (A could not see it): A2's holders hold A2's role, not A's.
      assert.equal((await create(a2, 'probe')).statusCode, 201);
      assert.equal((await create(a, 'probe')).statusCode, 201);
      const prober = await signUp(t);
      await grant(a2, prober.userId, ['probe']);
      assertProblem(await del(a2, 'probe'), 409, 'role_in_use');
      assert.equal((await del(a, 'probe')).statusCode, 204);
      assert.deepEqual(await rowsOf(a2), [{ key: 'probe' }]);
      assert.equal((await check(prober, a2, 'tenant.read')).allowed, true);
    });
  });
}
