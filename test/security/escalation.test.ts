import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { readTenant, withTenant } from '../../src/platform/db/context.ts';
import { insertMembership } from '../../src/members/memberships.repository.ts';
import { createKey } from '../helpers/api-keys.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { testEngines } from '../helpers/database.ts';
import { allowedPermissions } from '../helpers/roles.ts';
import { assertProblem, bearer, enrol, rootTenantOf, signUp, type SignedUp } from '../helpers/users.ts';

/**
 * Issue 10: authority cannot be manufactured by changing the structure around oneself. Each test is one path an
 * outside probe reproduced against a live server, in the preset where it was found; each must now leave the
 * actor with nothing they were not given.
 */
type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

function harness(getApp: () => TestApp) {
  const api = (method: Method, url: string, token: string, payload?: object) =>
    getApp().app.inject({ method, url: `/api/v1${url}`, headers: bearer(token), ...(payload === undefined ? {} : { payload }) });
  const join = (tenantId: string, userId: string, roles: string[]) =>
    withTenant(getApp().database.db, tenantId, (trx) => insertMembership(trx, { tenantId, userId, kind: 'direct', roles, now: getApp().clock.now() }));
  const child = async (parentId: string, who: SignedUp, name: string) => {
    const res = await api('POST', '/tenants', who.accessToken, { name, slug: `${name.toLowerCase()}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`, parentId });
    assert.equal(res.statusCode, 201, res.body);
    return res.json() as { id: string; slug: string };
  };
  const tenant = async (tenantId: string) =>
    readTenant(getApp().database.db, tenantId, (trx) =>
      trx
        .selectFrom('tenants as t')
        .innerJoin('tenant_tree as tt', 'tt.tenant_id', 't.id')
        .select(['t.status', 'tt.parent_id'])
        .where('t.id', '=', tenantId)
        .executeTakeFirstOrThrow(),
    );
  return { api, join, child, tenant };
}

for (const engine of testEngines()) {
  describe(`moving a tenant is a grant [default preset, ${engine}]`, () => {
    let t: TestApp;
    const { api, join, child, tenant } = harness(() => t);
    before(async () => {
      t = await createTestApp(engine, { env: { TENANTRY_AUTH_RATE_LIMIT: '1000' } });
    });
    after(() => t.close());

    it('refuses an admin (no tenant.delete) moving the tenant under a root they own, and leaves them no more than admin', async () => {
      const owner = await signUp(t, { name: 'Zoe' });
      const admin = await signUp(t, { name: 'Adam' });
      await join(owner.tenantId, admin.userId, ['admin']);
      const res = await api('PATCH', `/tenants/${owner.tenantId}`, admin.accessToken, { parentId: admin.tenantId });
      assertProblem(res, 403, 'forbidden');
      assert.match(res.json().detail, /tenant\.delete/);
      assert.equal((await tenant(owner.tenantId)).parent_id, null, 'the tenant stays where it was');
      // So Adam's own root's owner role never reaches it: no suspension, no self-promotion.
      assertProblem(await api('POST', `/tenants/${owner.tenantId}/suspend`, admin.accessToken), 403, 'forbidden');
      assertProblem(await api('PATCH', `/tenants/${owner.tenantId}/members/${admin.userId}`, admin.accessToken, { roles: ['owner'] }), 403, 'forbidden');
      assert.equal((await allowedPermissions(t, admin.accessToken, owner.tenantId, ['tenant.delete', 'tenant.transfer_ownership'])).size, 0);
    });

    it("lets the tenant's owner move their root under another tenant they own", async () => {
      const owner = await signUp(t, { name: 'Olga' });
      const other = await child(owner.tenantId, owner, 'Other');
      const second = await signUp(t, { name: 'Olga-two' });
      await join(second.tenantId, owner.userId, ['owner']);
      const res = await api('PATCH', `/tenants/${second.tenantId}`, owner.accessToken, { parentId: other.id });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal((await tenant(second.tenantId)).parent_id, other.id);
    });

    it("refuses a sub-company's own owner detaching it from its parent (parentId null or elsewhere); someone above may", async () => {
      const top = await signUp(t, { name: 'Parent' });
      const sub = await child(top.tenantId, top, 'Sub');
      const subOwner = await signUp(t, { name: 'Sub owner' });
      await join(sub.id, subOwner.userId, ['owner']);
      for (const parentId of [null, subOwner.tenantId]) {
        const res = await api('PATCH', `/tenants/${sub.id}`, subOwner.accessToken, { parentId });
        assertProblem(res, 403, 'forbidden');
        assert.match(res.json().detail, /from above/);
        assert.equal((await tenant(sub.id)).parent_id, top.tenantId);
      }
      const detached = await api('PATCH', `/tenants/${sub.id}`, top.accessToken, { parentId: null });
      assert.equal(detached.statusCode, 200, detached.body);
      assert.equal((await tenant(sub.id)).parent_id, null);
    });

    it('refuses an API key with tenant.update (and even tenant.delete) detaching its own tenant', async () => {
      const top = await signUp(t, { name: 'Key parent' });
      const sub = await child(top.tenantId, top, 'Keyed');
      const key = await createKey(t, top.accessToken, sub.id, ['tenant.read', 'tenant.update', 'tenant.delete']);
      assertProblem(await api('PATCH', `/tenants/${sub.id}`, key.secret, { parentId: null }), 403, 'forbidden');
      assert.equal((await tenant(sub.id)).parent_id, top.tenantId);
    });

    it('commits a move together with the rename of the same request, or neither', async () => {
      const top = await signUp(t, { name: 'Atomic' });
      const a = await child(top.tenantId, top, 'Aaa');
      const b = await child(top.tenantId, top, 'Bbb');
      // A data object too large to keep fails the request after the move has been written in its transaction.
      const res = await api('PATCH', `/tenants/${a.id}`, top.accessToken, { parentId: b.id, data: { big: 'x'.repeat(70_000) } });
      assert.equal(res.statusCode, 422, res.body);
      assert.equal((await tenant(a.id)).parent_id, top.tenantId, 'the move rolled back with the refused data');
      const ok = await api('PATCH', `/tenants/${a.id}`, top.accessToken, { parentId: b.id, name: 'Moved' });
      assert.equal(ok.statusCode, 200, ok.body);
      assert.deepEqual([ok.json().parentId, ok.json().name], [b.id, 'Moved']);
    });
  });

  describe(`restoring brings back the status before deletion [default preset, ${engine}]`, () => {
    let t: TestApp;
    const { api, join, child, tenant } = harness(() => t);
    before(async () => {
      t = await createTestApp(engine, { env: { TENANTRY_AUTH_RATE_LIMIT: '1000' } });
    });
    after(() => t.close());

    it("refuses the tenant's own owner restoring a tenant suspended and then deleted from above; restored from above, it is still suspended", async () => {
      const top = await signUp(t, { name: 'Holding' });
      const sub = await child(top.tenantId, top, 'Suspect');
      const subOwner = await signUp(t, { name: 'Sam' });
      await join(sub.id, subOwner.userId, ['owner']);
      assert.equal((await api('POST', `/tenants/${sub.id}/suspend`, top.accessToken, { reason: 'unpaid' })).statusCode, 200);
      const deleted = await api('DELETE', `/tenants/${sub.id}`, top.accessToken, { confirm: sub.slug });
      assert.equal(deleted.statusCode, 200, deleted.body);
      assert.equal((await tenant(sub.id)).status, 'pending_deletion');

      const refused = await api('POST', `/tenants/${sub.id}/restore`, subOwner.accessToken);
      assertProblem(refused, 403, 'forbidden');
      assert.match(refused.json().detail, /from above/);
      assert.equal((await tenant(sub.id)).status, 'pending_deletion');

      const restored = await api('POST', `/tenants/${sub.id}/restore`, top.accessToken);
      assert.equal(restored.statusCode, 200, restored.body);
      assert.equal((await tenant(sub.id)).status, 'suspended', 'the suspension survives deletion and restore');
      assert.deepEqual([...(await allowedPermissions(t, subOwner.accessToken, sub.id, ['members.invite', 'tenant.read']))], ['tenant.read']);
    });

    it('restores an active tenant as active for its owner', async () => {
      const owner = await signUp(t, { name: 'Active' });
      const sub = await child(owner.tenantId, owner, 'Temp');
      assert.equal((await api('DELETE', `/tenants/${sub.id}`, owner.accessToken, { confirm: sub.slug })).statusCode, 200);
      const restored = await api('POST', `/tenants/${sub.id}/restore`, owner.accessToken);
      assert.equal(restored.statusCode, 200, restored.body);
      assert.equal((await tenant(sub.id)).status, 'active');
    });
  });

  describe(`custom roles cannot reach further down than their granter [marketplace, ${engine}]`, () => {
    let t: TestApp;
    const { api, join, child } = harness(() => t);
    let owner: SignedUp;
    let admin: SignedUp;
    let below: { id: string };
    before(async () => {
      t = await createTestApp(engine, { env: { TENANTRY_PRESET: 'marketplace', TENANTRY_AUTH_RATE_LIMIT: '1000' } });
      owner = await signUp(t, { name: 'Parent owner' });
      admin = await signUp(t, { name: 'Parent admin' });
      await join(owner.tenantId, admin.userId, ['admin']);
      // The Free plan allows no child tenants.
      assert.equal((await api('PUT', `/tenants/${owner.tenantId}/plan`, owner.accessToken, { plan: 'enterprise' })).statusCode, 200);
      below = await child(owner.tenantId, owner, 'Child');
    });
    after(() => t.close());

    it('refuses an admin creating a tenant_and_descendants role, so they never read the child, its members or audit, nor mint a key there', async () => {
      const res = await api('POST', `/tenants/${owner.tenantId}/roles`, admin.accessToken, {
        key: 'reach',
        name: 'Reach',
        scope: 'tenant_and_descendants',
        permissions: ['members.read', 'audit.read', 'api_keys.manage', 'tenant.read'],
      });
      assertProblem(res, 403, 'forbidden');
      assert.match(res.json().detail, /tenants below/);
      assert.equal(
        (await api('GET', `/tenants/${owner.tenantId}/roles`, owner.accessToken)).json().roles.some((r: { key: string }) => r.key === 'reach'),
        false,
      );
      for (const url of [`/tenants/${below.id}`, `/tenants/${below.id}/members`, `/tenants/${below.id}/audit-events`]) {
        assertProblem(await api('GET', url, admin.accessToken), 404, 'tenant_not_found');
      }
      assertProblem(await api('POST', `/tenants/${below.id}/api-keys`, admin.accessToken, { name: 'mine', permissions: ['members.read'] }), 404, 'tenant_not_found');
    });

    it('refuses widening a role to tenant_and_descendants, and adding permissions to a role people below hold', async () => {
      const created = await api('POST', `/tenants/${owner.tenantId}/roles`, admin.accessToken, { key: 'helper', name: 'Helper', scope: 'tenant', permissions: ['tenant.read'] });
      assert.equal(created.statusCode, 201, created.body);
      assertProblem(await api('PATCH', `/tenants/${owner.tenantId}/roles/helper`, admin.accessToken, { scope: 'tenant_and_descendants' }), 403, 'forbidden');
      // Someone in the child holds the parent's role (custom roles are usable below where they are defined).
      const holder = await signUp(t, { name: 'Holder' });
      await join(below.id, holder.userId, ['helper']);
      const widened = await api('PATCH', `/tenants/${owner.tenantId}/roles/helper`, admin.accessToken, { permissions: ['tenant.read', 'members.read', 'members.invite'] });
      assertProblem(widened, 403, 'forbidden');
      assert.deepEqual(widened.json().missingPermissions.sort(), ['members.invite', 'members.read']);
      assert.deepEqual([...(await allowedPermissions(t, holder.accessToken, below.id, ['tenant.read', 'members.read']))], ['tenant.read']);
      // A role nobody below holds may change freely within the admin's own permissions.
      assert.equal(
        (await api('POST', `/tenants/${owner.tenantId}/roles`, admin.accessToken, { key: 'local', name: 'Local', scope: 'tenant', permissions: ['tenant.read'] })).statusCode,
        201,
      );
      assert.equal((await api('PATCH', `/tenants/${owner.tenantId}/roles/local`, admin.accessToken, { permissions: ['tenant.read', 'members.read'] })).statusCode, 200);
    });
  });

  describe(`editing a role cannot remove an admin without approval [company-tree, ${engine}]`, () => {
    let t: TestApp;
    const { api, child } = harness(() => t);
    before(async () => {
      t = await createTestApp(engine, { env: { TENANTRY_PRESET: 'company-tree', TENANTRY_AUTH_RATE_LIMIT: '1000' } });
    });
    after(() => t.close());

    it('holds a role change that takes members.manage from an admin re-roled to it, and runs it once approved from above', async () => {
      const main = await enrol(t, await rootTenantOf(t), ['admin'], { name: 'Main admin' });
      const company = await child(main.tenantId, main, 'Dist');
      const [kim, ken] = [await enrol(t, company.id, ['admin'], { name: 'Kim' }), await enrol(t, company.id, ['admin'], { name: 'Ken' })];
      assert.equal(
        (
          await api('POST', `/tenants/${company.id}/roles`, kim.accessToken, {
            key: 'mgr',
            name: 'Manager',
            scope: 'tenant',
            permissions: ['members.manage', 'members.read', 'tenant.read'],
          })
        ).statusCode,
        201,
      );
      // Still an administrator afterwards, so re-roling is not held.
      assert.equal((await api('PATCH', `/tenants/${company.id}/members/${ken.userId}`, kim.accessToken, { roles: ['mgr'] })).statusCode, 200);

      const held = await api('PATCH', `/tenants/${company.id}/roles/mgr`, kim.accessToken, { permissions: ['members.read', 'tenant.read'] });
      assert.equal(held.statusCode, 202, held.body);
      const request = held.json().approvalRequest;
      assert.deepEqual([request.action, request.params], ['role.update', { key: 'mgr', permissions: ['members.read', 'tenant.read'] }]);
      assert.ok((await allowedPermissions(t, ken.accessToken, company.id, ['members.manage'])).has('members.manage'), 'nothing changes before approval');

      const approved = await api('POST', `/tenants/${company.id}/approval-requests/${request.id}/approve`, main.accessToken);
      assert.equal(approved.statusCode, 200, approved.body);
      assert.equal(approved.json().status, 'executed', approved.body);
      assert.equal((await allowedPermissions(t, ken.accessToken, company.id, ['members.manage'])).size, 0);
    });

    it('lets a role change that takes nothing from an administrator through at once', async () => {
      const main = await enrol(t, await rootTenantOf(t), ['admin'], { name: 'Main two' });
      const company = await child(main.tenantId, main, 'Free');
      const kim = await enrol(t, company.id, ['admin'], { name: 'Kim two' });
      assert.equal(
        (await api('POST', `/tenants/${company.id}/roles`, kim.accessToken, { key: 'reader', name: 'Reader', scope: 'tenant', permissions: ['members.read', 'tenant.read'] }))
          .statusCode,
        201,
      );
      const res = await api('PATCH', `/tenants/${company.id}/roles/reader`, kim.accessToken, { permissions: ['tenant.read'] });
      assert.equal(res.statusCode, 200, res.body);
    });
  });
}
