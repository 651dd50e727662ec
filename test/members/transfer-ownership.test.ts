import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { readTenant, withTenant } from '../../src/platform/db/context.ts';
import { insertMembership } from '../../src/members/memberships.repository.ts';
import { createKey } from '../helpers/api-keys.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { testEngines } from '../helpers/database.ts';
import { seedTenant } from '../helpers/tenants.ts';
import { assertProblem, bearer, signUp, type SignedUp } from '../helpers/users.ts';

for (const engine of testEngines()) {
  describe(`ownership transfer [${engine}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await createTestApp(engine, { env: { TENANTRY_AUTH_RATE_LIMIT: '1000' } });
    });
    after(() => t.close());

    const transfer = (tenantId: string, token: string, payload: object) =>
      t.app.inject({ method: 'POST', url: `/api/v1/tenants/${tenantId}/transfer-ownership`, headers: bearer(token), payload });
    const slugOf = async (tenantId: string, token: string) => (await t.app.inject({ url: `/api/v1/tenants/${tenantId}`, headers: bearer(token) })).json().slug as string;
    async function join(tenantId: string, roles: string[], kind: 'direct' | 'shadow' = 'direct'): Promise<SignedUp> {
      const user = await signUp(t);
      await withTenant(t.database.db, tenantId, (trx) => insertMembership(trx, { tenantId, userId: user.userId, kind, roles, now: t.clock.now() }));
      return user;
    }
    const rolesIn = (tenantId: string) =>
      readTenant(t.database.db, tenantId, async (trx) => {
        const rows = await trx.selectFrom('membership_roles').select(['user_id', 'role_key']).where('tenant_id', '=', tenantId).orderBy('user_id').orderBy('role_key').execute();
        const byUser: Record<string, string[]> = {};
        for (const r of rows) byUser[r.user_id] = [...(byUser[r.user_id] ?? []), r.role_key];
        return byUser;
      });

    it('swaps places with the new owner, confirmed by the slug, and audits it', async () => {
      const owner = await signUp(t);
      const admin = await join(owner.tenantId, ['admin']);
      const res = await transfer(owner.tenantId, owner.accessToken, { userId: admin.userId, confirm: await slugOf(owner.tenantId, owner.accessToken) });
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual([res.json().owner.userId, res.json().owner.roles], [admin.userId, ['owner']]);
      assert.deepEqual([res.json().previousOwner.userId, res.json().previousOwner.roles], [owner.userId, ['admin']]);
      assert.deepEqual(await rolesIn(owner.tenantId), { [owner.userId]: ['admin'], [admin.userId]: ['owner'] });

      const audit = await readTenant(t.database.db, owner.tenantId, (trx) =>
        trx.selectFrom('audit_events').select(['action', 'target_id', 'before', 'after']).where('tenant_id', '=', owner.tenantId).orderBy('seq', 'desc').limit(3).execute(),
      );
      assert.deepEqual(
        audit.map((e) => [e.action, e.target_id, e.before, e.after]),
        [
          ['tenant.ownership_transferred', owner.tenantId, { owner: owner.userId }, { owner: admin.userId }],
          ['member.roles_changed', admin.userId, { roles: ['admin'] }, { roles: ['owner'] }],
          ['member.roles_changed', owner.userId, { roles: ['owner'] }, { roles: ['admin'] }],
        ],
      );
      // On the very next request the former owner can no longer delete or transfer.
      assertProblem(await transfer(owner.tenantId, owner.accessToken, { userId: admin.userId, confirm: 'x' }), 403, 'forbidden');
    });

    it('refuses a wrong confirmation, strangers, shadow members, current owners, non-owners and keys, and changes nothing', async () => {
      const owner = await signUp(t);
      const slug = await slugOf(owner.tenantId, owner.accessToken);
      const admin = await join(owner.tenantId, ['admin']);
      const operator = await join(owner.tenantId, ['owner'], 'shadow');
      const coOwner = await join(owner.tenantId, ['owner']);
      const stranger = await signUp(t);
      const key = await createKey(t, owner.accessToken, owner.tenantId, ['tenant.transfer_ownership', 'tenant.read']);
      const before = await rolesIn(owner.tenantId);

      assertProblem(await transfer(owner.tenantId, owner.accessToken, { userId: admin.userId, confirm: `${slug}x` }), 422, 'confirmation_mismatch');
      assertProblem(await transfer(owner.tenantId, owner.accessToken, { userId: stranger.userId, confirm: slug }), 404, 'member_not_found');
      assertProblem(await transfer(owner.tenantId, owner.accessToken, { userId: operator.userId, confirm: slug }), 404, 'member_not_found');
      assertProblem(await transfer(owner.tenantId, owner.accessToken, { userId: coOwner.userId, confirm: slug }), 409, 'already_owner');
      assertProblem(await transfer(owner.tenantId, admin.accessToken, { userId: admin.userId, confirm: slug }), 403, 'forbidden');
      assertProblem(await transfer(owner.tenantId, stranger.accessToken, { userId: admin.userId, confirm: slug }), 404, 'tenant_not_found');
      assertProblem(await transfer(owner.tenantId, key.secret, { userId: admin.userId, confirm: slug }), 403, 'user_required');
      assertProblem(await transfer(owner.tenantId, owner.accessToken, { userId: admin.userId }), 400, 'validation_failed');
      assert.deepEqual(await rolesIn(owner.tenantId), before);
    });

    it('lets an owner from the tenant above add an owner below without giving anything up', async () => {
      const top = await signUp(t);
      const child = await seedTenant(t.database, { name: 'Child', parentId: top.tenantId });
      const member = await join(child.tenantId, ['member']);
      const res = await transfer(child.tenantId, top.accessToken, { userId: member.userId, confirm: `seed-${child.tenantId}` });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.json().previousOwner, null);
      assert.deepEqual(await rolesIn(child.tenantId), { [child.ownerId]: ['owner'], [member.userId]: ['owner'] });
    });

    it('lets only one of two racing transfers from the same owner through', async () => {
      const owner = await signUp(t);
      const slug = await slugOf(owner.tenantId, owner.accessToken);
      const [a, b] = [await join(owner.tenantId, ['admin']), await join(owner.tenantId, ['member'])];
      const results = await Promise.all([a, b].map((m) => transfer(owner.tenantId, owner.accessToken, { userId: m.userId, confirm: slug })));
      assert.deepEqual(results.map((r) => r.statusCode).sort(), [200, 403]);
      const roles = await rolesIn(owner.tenantId);
      const owners = Object.entries(roles)
        .filter(([, r]) => r.includes('owner'))
        .map(([id]) => id);
      assert.equal(owners.length, 1, JSON.stringify(roles));
      assert.ok([a.userId, b.userId].includes(owners[0] ?? ''));
    });
  });
}
