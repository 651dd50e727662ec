import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PLATFORM_PERMISSIONS } from '../../src/permissions/catalogue.ts';
import { readTenant, withTenant } from '../../src/platform/db/context.ts';
import { insertMembership } from '../../src/members/memberships.repository.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { testEngines } from '../helpers/database.ts';
import { assertProblem, bearer, signUp, type SignedUp } from '../helpers/users.ts';

for (const engine of testEngines()) {
  describe(`custom roles: create, list, edit, delete [${engine}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await createTestApp(engine, { env: { TENANTRY_AUTH_RATE_LIMIT: '1000' } });
    });
    after(() => t.close());

    const roles = (tenantId: string) => `/api/v1/tenants/${tenantId}/roles`;
    const api = (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, token: string, payload?: object) =>
      t.app.inject({ method, url, headers: bearer(token), ...(payload === undefined ? {} : { payload }) });

    /** A new person holding `roleKeys` in `tenantId` (their own sign-up tenant aside). */
    async function addMember(tenantId: string, roleKeys: string[]): Promise<SignedUp> {
      const user = await signUp(t);
      await withTenant(t.database.db, tenantId, (trx) => insertMembership(trx, { tenantId, userId: user.userId, kind: 'direct', roles: roleKeys, now: t.clock.now() }));
      return user;
    }

    const roleRows = (tenantId: string) =>
      readTenant(t.database.db, tenantId, (trx) => trx.selectFrom('roles').selectAll().where('tenant_id', '=', tenantId).orderBy('key').execute());
    const auditOf = (tenantId: string, action: string) =>
      readTenant(t.database.db, tenantId, (trx) => trx.selectFrom('audit_events').selectAll().where('action', '=', action).orderBy('seq').execute());

    it('serves the permission catalogue to any signed-in user, and to nobody else', async () => {
      assertProblem(await t.app.inject({ url: '/api/v1/permissions' }), 401, 'unauthenticated');
      const user = await signUp(t);
      const res = await api('GET', '/api/v1/permissions', user.accessToken);
      assert.equal(res.statusCode, 200, res.body);
      const { permissions } = res.json();
      assert.deepEqual(
        permissions.map((p: { key: string }) => p.key),
        Object.keys(PLATFORM_PERMISSIONS),
      );
      assert.deepEqual(
        permissions.find((p: { key: string }) => p.key === 'members.invite'),
        {
          key: 'members.invite',
          description: PLATFORM_PERMISSIONS['members.invite'].description,
          source: 'platform',
          requiresFeature: null,
        },
      );
    });

    it('lists the built-in roles with their permissions sorted and the owner role marked', async () => {
      const owner = await signUp(t);
      const res = await api('GET', roles(owner.tenantId), owner.accessToken);
      assert.equal(res.statusCode, 200, res.body);
      const list = res.json().roles;
      assert.deepEqual(
        list.map((r: { key: string }) => r.key),
        ['owner', 'admin', 'member', 'viewer'],
      );
      for (const role of list) {
        assert.equal(role.builtIn, true);
        assert.equal(role.definedIn, null);
        assert.equal(role.isOwnerRole, role.key === 'owner');
        assert.deepEqual(role.permissions, [...role.permissions].sort());
      }
      assert.deepEqual(
        list.find((r: { key: string }) => r.key === 'member'),
        {
          key: 'member',
          name: 'Member',
          description: 'Works in the tenant and sees who else does.',
          scope: 'tenant',
          permissions: ['members.read', 'tenant.read'],
          builtIn: true,
          definedIn: null,
          isOwnerRole: false,
        },
      );
      // tenant.read is enough to list them.
      const viewer = await addMember(owner.tenantId, ['viewer']);
      assert.equal((await api('GET', roles(owner.tenantId), viewer.accessToken)).statusCode, 200);
    });

    it('creates a custom role (201), lists it, audits it, and lets it be held', async () => {
      const owner = await signUp(t);
      const res = await api('POST', roles(owner.tenantId), owner.accessToken, {
        key: 'auditor',
        name: 'Auditor',
        description: 'Reads the trail',
        scope: 'tenant',
        permissions: ['tenant.read', 'audit.read', 'audit.read'],
      });
      assert.equal(res.statusCode, 201, res.body);
      const expected = {
        key: 'auditor',
        name: 'Auditor',
        description: 'Reads the trail',
        scope: 'tenant',
        permissions: ['audit.read', 'tenant.read'],
        builtIn: false,
        definedIn: owner.tenantId,
        isOwnerRole: false,
      };
      assert.deepEqual(res.json(), expected);
      const listed = (await api('GET', roles(owner.tenantId), owner.accessToken)).json().roles;
      assert.deepEqual(listed.at(-1), expected);

      const [event] = await auditOf(owner.tenantId, 'role.created');
      assert.equal(event?.actor_id, owner.userId);
      assert.equal(event?.target_type, 'role');
      assert.equal(event?.target_id, 'auditor');
      assert.deepEqual(event?.after, { key: 'auditor', name: 'Auditor', description: 'Reads the trail', scope: 'tenant', permissions: ['audit.read', 'tenant.read'] });

      const holder = await addMember(owner.tenantId, ['auditor']);
      const access = await t.app.services.access.forUser({ userId: holder.userId, isSuperAdmin: false }, owner.tenantId);
      assert.deepEqual([...access.permissions].sort(), ['audit.read', 'tenant.read']);
    });

    it('refuses bad keys, taken keys and unknown permissions, and changes nothing', async () => {
      const owner = await signUp(t);
      const create = (body: object) => api('POST', roles(owner.tenantId), owner.accessToken, { name: 'Role', scope: 'tenant', permissions: ['tenant.read'], ...body });
      for (const key of ['Auditor', '1st', 'a-b', '', 'x'.repeat(64)]) assertProblem(await create({ key }), 400, 'validation_failed');
      assertProblem(await create({ key: 'ok', name: '   ' }), 400, 'validation_failed');
      assertProblem(await create({ key: 'ok', scope: 'global' }), 400, 'validation_failed');
      assertProblem(await create({ key: 'ok', extra: true }), 400, 'validation_failed');
      assertProblem(await create({ key: 'admin' }), 409, 'role_exists');
      const unknown = await create({ key: 'ok', permissions: ['tenant.read', 'nope.nothing', 'influx_tokens.create'] });
      assertProblem(unknown, 422, 'unknown_permission');
      assert.deepEqual(unknown.json().unknownPermissions, ['influx_tokens.create', 'nope.nothing']);
      assert.deepEqual(await roleRows(owner.tenantId), []);

      assert.equal((await create({ key: 'ok' })).statusCode, 201);
      assertProblem(await create({ key: 'ok', name: 'Again' }), 409, 'role_exists');
      assert.deepEqual(
        (await roleRows(owner.tenantId)).map((r) => r.name),
        ['Role'],
      );
      assert.equal((await auditOf(owner.tenantId, 'role.created')).length, 1);
    });

    it("needs roles.manage, and grants nothing beyond the caller's own permissions", async () => {
      const owner = await signUp(t);
      const member = await addMember(owner.tenantId, ['member']);
      const admin = await addMember(owner.tenantId, ['admin']);
      const body = { key: 'deleter', name: 'Deleter', scope: 'tenant', permissions: ['tenant.read', 'tenant.delete'] };
      assertProblem(await api('POST', roles(owner.tenantId), member.accessToken, body), 403, 'forbidden');
      const refused = await api('POST', roles(owner.tenantId), admin.accessToken, body);
      assertProblem(refused, 403, 'forbidden');
      assert.deepEqual(refused.json().missingPermissions, ['tenant.delete']);
      assert.deepEqual(await roleRows(owner.tenantId), []);
      // The admin may create what they hold themselves; the owner may create the rest.
      assert.equal((await api('POST', roles(owner.tenantId), admin.accessToken, { ...body, key: 'updater', permissions: ['tenant.read', 'tenant.update'] })).statusCode, 201);
      assert.equal((await api('POST', roles(owner.tenantId), owner.accessToken, body)).statusCode, 201);
    });

    it('edits only custom roles of this tenant, audits before and after, and applies on the next request', async () => {
      const owner = await signUp(t);
      const admin = await addMember(owner.tenantId, ['admin']);
      assert.equal(
        (await api('POST', roles(owner.tenantId), owner.accessToken, { key: 'auditor', name: 'Auditor', scope: 'tenant', permissions: ['tenant.read', 'audit.read'] })).statusCode,
        201,
      );
      const holder = await addMember(owner.tenantId, ['auditor']);
      const holderCan = async (permission: string) =>
        (await t.app.services.access.forUser({ userId: holder.userId, isSuperAdmin: false }, owner.tenantId)).permissions.has(permission);
      assert.equal(await holderCan('audit.read'), true);

      const patch = (key: string, body: object, token = owner.accessToken) => api('PATCH', `${roles(owner.tenantId)}/${key}`, token, body);
      assertProblem(await patch('admin', { name: 'Boss' }), 409, 'built_in_role');
      assertProblem(await patch('nobody', { name: 'Nobody' }), 404, 'role_not_found');
      assertProblem(await patch('auditor', { permissions: ['bogus.thing'] }), 422, 'unknown_permission');
      assertProblem(await patch('auditor', { permissions: ['tenant.read', 'tenant.delete'] }, admin.accessToken), 403, 'forbidden');
      assertProblem(await patch('auditor', { name: '' }), 400, 'validation_failed');

      const res = await patch('auditor', { name: 'Reader', description: 'Reads', permissions: ['tenant.read', 'members.read'] }, admin.accessToken);
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(res.json(), {
        key: 'auditor',
        name: 'Reader',
        description: 'Reads',
        scope: 'tenant',
        permissions: ['members.read', 'tenant.read'],
        builtIn: false,
        definedIn: owner.tenantId,
        isOwnerRole: false,
      });
      assert.equal(await holderCan('audit.read'), false);
      assert.equal(await holderCan('members.read'), true);
      const [event] = await auditOf(owner.tenantId, 'role.updated');
      assert.deepEqual(event?.before, { key: 'auditor', name: 'Auditor', description: null, scope: 'tenant', permissions: ['audit.read', 'tenant.read'] });
      assert.deepEqual(event?.after, { key: 'auditor', name: 'Reader', description: 'Reads', scope: 'tenant', permissions: ['members.read', 'tenant.read'] });
      assert.equal(event?.actor_id, admin.userId);

      // description null clears it; the refused edits above left no trace.
      assert.equal((await patch('auditor', { description: null })).json().description, null);
      assert.equal((await auditOf(owner.tenantId, 'role.updated')).length, 2);
    });

    it('treats widening a role to the tenants below as a grant of everything it holds', async () => {
      const owner = await signUp(t);
      const admin = await addMember(owner.tenantId, ['admin']);
      assert.equal(
        (await api('POST', roles(owner.tenantId), owner.accessToken, { key: 'closer', name: 'Closer', scope: 'tenant', permissions: ['tenant.read', 'tenant.delete'] })).statusCode,
        201,
      );
      assertProblem(await api('PATCH', `${roles(owner.tenantId)}/closer`, admin.accessToken, { scope: 'tenant_and_descendants' }), 403, 'forbidden');
      // Renaming it grants nothing.
      assert.equal((await api('PATCH', `${roles(owner.tenantId)}/closer`, admin.accessToken, { name: 'Finisher' })).statusCode, 200);
      const [row] = await roleRows(owner.tenantId);
      assert.equal(row?.scope, 'tenant');
      assert.equal((await api('PATCH', `${roles(owner.tenantId)}/closer`, owner.accessToken, { scope: 'tenant_and_descendants' })).json().scope, 'tenant_and_descendants');
    });

    it('deletes (204) a role nobody holds, refuses one in use (409), and audits it', async () => {
      const owner = await signUp(t);
      const create = (key: string) => api('POST', roles(owner.tenantId), owner.accessToken, { key, name: key, scope: 'tenant', permissions: ['tenant.read'] });
      assert.equal((await create('temp')).statusCode, 201);
      assert.equal((await create('held')).statusCode, 201);
      const holder = await addMember(owner.tenantId, ['member', 'held']);
      const del = (key: string) => api('DELETE', `${roles(owner.tenantId)}/${key}`, owner.accessToken);

      assertProblem(await del('owner'), 409, 'built_in_role');
      assertProblem(await del('nobody'), 404, 'role_not_found');
      assertProblem(await del('held'), 409, 'role_in_use');
      assert.deepEqual(
        (await roleRows(owner.tenantId)).map((r) => r.key),
        ['held', 'temp'],
      );

      const res = await del('temp');
      assert.equal(res.statusCode, 204, res.body);
      assert.equal(res.body, '');
      assert.deepEqual(
        (await roleRows(owner.tenantId)).map((r) => r.key),
        ['held'],
      );
      const [event] = await auditOf(owner.tenantId, 'role.deleted');
      assert.equal(event?.target_id, 'temp');
      assert.deepEqual(event?.before, { key: 'temp', name: 'temp', description: null, scope: 'tenant', permissions: ['tenant.read'] });
      assertProblem(await del('temp'), 404, 'role_not_found');

      // Once nobody holds it, it can go.
      await withTenant(t.database.db, owner.tenantId, (trx) =>
        trx.deleteFrom('membership_roles').where('tenant_id', '=', owner.tenantId).where('user_id', '=', holder.userId).where('role_key', '=', 'held').execute(),
      );
      assert.equal((await del('held')).statusCode, 204);
      assert.deepEqual(await roleRows(owner.tenantId), []);
      assert.equal((await auditOf(owner.tenantId, 'role.deleted')).length, 2);
    });

    it('replays a create retried with the same Idempotency-Key instead of answering 409', async () => {
      const owner = await signUp(t);
      const send = () =>
        t.app.inject({
          method: 'POST',
          url: roles(owner.tenantId),
          headers: { ...bearer(owner.accessToken), 'idempotency-key': 'create-auditor-1' },
          payload: { key: 'auditor', name: 'Auditor', scope: 'tenant', permissions: ['tenant.read'] },
        });
      const first = await send();
      assert.equal(first.statusCode, 201, first.body);
      const retry = await send();
      assert.equal(retry.statusCode, 201, retry.body);
      assert.deepEqual(retry.json(), first.json());
      assert.equal(retry.headers['idempotent-replayed'], 'true');
      assert.equal((await roleRows(owner.tenantId)).length, 1);
      assert.equal((await auditOf(owner.tenantId, 'role.created')).length, 1);
    });

    it('lets exactly one of several concurrent creates of the same key win', async () => {
      const owner = await signUp(t);
      const results = await Promise.all(
        Array.from({ length: 5 }, (_, i) =>
          api('POST', roles(owner.tenantId), owner.accessToken, { key: 'racer', name: `Racer ${i}`, scope: 'tenant', permissions: ['tenant.read'] }),
        ),
      );
      assert.deepEqual(results.map((r) => r.statusCode).sort(), [201, 409, 409, 409, 409]);
      for (const r of results.filter((x) => x.statusCode === 409)) assertProblem(r, 409, 'role_exists');
      assert.equal((await roleRows(owner.tenantId)).length, 1);
      assert.equal((await auditOf(owner.tenantId, 'role.created')).length, 1);
    });
  });
}
