import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createKey } from '../helpers/api-keys.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { testEngines } from '../helpers/database.ts';
import { assertProblem, bearer, enrol, signUp, uniqueEmail } from '../helpers/users.ts';
import { closeChecked } from './oracle.ts';

/**
 * Issue 14, privilege escalation (API5:2023, ASVS 5.0 V8.2): nobody ends a request holding more than someone who held
 * it gave them. One test per path; the structural paths (moving tenants, restoring, grants below) are in
 * test/security/escalation*.test.ts with the oracle that found them.
 */
for (const engine of testEngines()) {
  describe(`hostile: giving oneself more [${engine}]`, () => {
    let t: TestApp;
    const api = (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, credential: string, payload?: object) =>
      t.app.inject({ method, url: `/api/v1${url}`, headers: bearer(credential), ...(payload === undefined ? {} : { payload }) });
    const rolesOf = async (tenantId: string, owner: string, userId: string) =>
      ((await api('GET', `/tenants/${tenantId}/members`, owner)).json().members as Array<{ userId: string; roles: string[] }>).find((m) => m.userId === userId)?.roles;

    before(async () => {
      t = await createTestApp(engine, { env: { TENANTRY_AUTH_RATE_LIMIT: '10000' } });
    });
    after(() => closeChecked(t));

    it('an admin cannot make themselves owner, nor a member make themselves anything', async () => {
      const owner = await signUp(t);
      const admin = await enrol(t, owner.tenantId, ['admin']);
      const member = await enrol(t, owner.tenantId, ['member']);
      assertProblem(await api('PATCH', `/tenants/${owner.tenantId}/members/${admin.userId}`, admin.accessToken, { roles: ['owner'] }), 403, 'forbidden');
      assertProblem(await api('PATCH', `/tenants/${owner.tenantId}/members/${member.userId}`, member.accessToken, { roles: ['admin'] }), 403, 'forbidden');
      assert.deepEqual(await rolesOf(owner.tenantId, owner.accessToken, admin.userId), ['admin']);
      assert.deepEqual(await rolesOf(owner.tenantId, owner.accessToken, member.userId), ['member']);
    });

    it('an admin cannot invite someone as owner, nor give a role above their own through an invitation', async () => {
      const owner = await signUp(t);
      const admin = await enrol(t, owner.tenantId, ['admin']);
      assertProblem(await api('POST', `/tenants/${owner.tenantId}/invitations`, admin.accessToken, { email: uniqueEmail('accomplice'), roles: ['owner'] }), 403, 'forbidden');
      const listed = await api('GET', `/tenants/${owner.tenantId}/invitations`, owner.accessToken);
      assert.deepEqual(listed.json().invitations, []);
    });

    it('an API key cannot mint a key stronger than itself', async () => {
      const owner = await signUp(t);
      const key = await createKey(t, owner.accessToken, owner.tenantId, ['api_keys.manage', 'tenant.read']);
      assertProblem(await api('POST', `/tenants/${owner.tenantId}/api-keys`, key.secret, { name: 'stronger', permissions: ['members.manage'] }), 403, 'forbidden');
      const weaker = await api('POST', `/tenants/${owner.tenantId}/api-keys`, key.secret, { name: 'weaker', permissions: ['tenant.read'] });
      assert.equal(weaker.statusCode, 201, 'a key may mint what it holds');
    });

    it('an admin cannot write a custom role beyond their own permissions, nor with unknown or reserved names', async () => {
      const owner = await signUp(t);
      const admin = await enrol(t, owner.tenantId, ['admin']);
      const create = (payload: object) => api('POST', `/tenants/${owner.tenantId}/roles`, admin.accessToken, payload);
      // admin is everything but deleting the tenant and transferring it.
      assertProblem(await create({ key: 'deleter', name: 'Deleter', scope: 'tenant', permissions: ['tenant.delete'] }), 403, 'forbidden');
      // The wildcard is the built-in owner's alone: a custom role names permissions from the catalogue.
      assertProblem(await create({ key: 'everything', name: 'Everything', scope: 'tenant', permissions: ['*'] }), 422, 'unknown_permission');
      assertProblem(await create({ key: 'ghost', name: 'Ghost', scope: 'tenant', permissions: ['ghosts.summon'] }), 422, 'unknown_permission');
      for (const key of ['owner', 'admin']) {
        const reserved = await create({ key, name: 'Shadowing a built-in role', scope: 'tenant', permissions: ['tenant.read'] });
        assert.ok(reserved.statusCode === 409 || reserved.statusCode === 422, `${key}: ${reserved.body}`);
      }
      const roles = (await api('GET', `/tenants/${owner.tenantId}/roles`, owner.accessToken)).json().roles as Array<{ key: string; builtIn?: boolean }>;
      assert.deepEqual(
        roles.filter((r) => !['owner', 'admin', 'member', 'viewer'].includes(r.key)),
        [],
      );
    });

    it('an admin cannot widen a custom role they hold past their own permissions', async () => {
      const owner = await signUp(t);
      const created = await api('POST', `/tenants/${owner.tenantId}/roles`, owner.accessToken, {
        key: 'helper',
        name: 'Helper',
        scope: 'tenant',
        permissions: ['tenant.read', 'roles.manage'],
      });
      assert.equal(created.statusCode, 201, created.body);
      const helper = await enrol(t, owner.tenantId, ['helper']);
      assertProblem(
        await api('PATCH', `/tenants/${owner.tenantId}/roles/helper`, helper.accessToken, { permissions: ['tenant.read', 'roles.manage', 'members.manage'] }),
        403,
        'forbidden',
      );
      const role = ((await api('GET', `/tenants/${owner.tenantId}/roles`, owner.accessToken)).json().roles as Array<{ key: string; permissions: string[] }>).find(
        (r) => r.key === 'helper',
      );
      assert.deepEqual(role?.permissions, ['roles.manage', 'tenant.read']);
    });

    it('ownership goes only to a member, and a key cannot take it', async () => {
      const owner = await signUp(t);
      const stranger = await signUp(t);
      const slug = (await api('GET', `/tenants/${owner.tenantId}`, owner.accessToken)).json().slug as string;
      assertProblem(await api('POST', `/tenants/${owner.tenantId}/transfer-ownership`, owner.accessToken, { userId: stranger.userId, confirm: slug }), 404, 'member_not_found');
      const key = await createKey(t, owner.accessToken, owner.tenantId, ['tenant.transfer_ownership', 'tenant.read']);
      assertProblem(await api('POST', `/tenants/${owner.tenantId}/transfer-ownership`, key.secret, { userId: stranger.userId, confirm: slug }), 403, 'user_required');
      assert.deepEqual(await rolesOf(owner.tenantId, owner.accessToken, owner.userId), ['owner']);
    });

    it('a member cannot remove the owner, and an admin cannot remove an owner either', async () => {
      const owner = await signUp(t);
      const admin = await enrol(t, owner.tenantId, ['admin']);
      const member = await enrol(t, owner.tenantId, ['member']);
      assertProblem(await api('DELETE', `/tenants/${owner.tenantId}/members/${owner.userId}`, member.accessToken), 403, 'forbidden');
      assertProblem(await api('DELETE', `/tenants/${owner.tenantId}/members/${owner.userId}`, admin.accessToken), 403, 'forbidden');
      assert.deepEqual(await rolesOf(owner.tenantId, owner.accessToken, owner.userId), ['owner']);
    });
  });
}
