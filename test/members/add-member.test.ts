import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createOperator } from '../../src/accounts/operator.service.ts';
import { readTenant } from '../../src/platform/db/context.ts';
import { createKey } from '../helpers/api-keys.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { testEngines } from '../helpers/database.ts';
import { assertProblem, bearer, GOOD_PASSWORD, signUp, type SignedUp, uniqueEmail } from '../helpers/users.ts';

/**
 * Issue 13 / seed 000's Mgmt REST API: adding a person who already has an account, without an invitation. Keys with
 * `members.manage` and platform operators may; a person with `members.manage` invites instead. Marketplace preset:
 * its Free plan holds 3 members and 2 API keys, which the limit test uses.
 */
for (const engine of testEngines()) {
  describe(`adding an existing account directly [${engine}]`, () => {
    let t: TestApp;
    const add = (tenantId: string, credential: string, payload: object) =>
      t.app.inject({ method: 'POST', url: `/api/v1/tenants/${tenantId}/members`, headers: bearer(credential), payload });
    const members = async (tenantId: string, credential: string) => {
      const res = await t.app.inject({ url: `/api/v1/tenants/${tenantId}/members`, headers: bearer(credential) });
      assert.equal(res.statusCode, 200, res.body);
      return (res.json().members as Array<{ userId: string; roles: string[] }>).map((m) => `${m.userId}:${m.roles.join('+')}`).sort();
    };
    /** `member.added` events about anyone but the owner (whose sign-up added them). */
    const audit = (tenantId: string, owner: string) =>
      readTenant(t.database.db, tenantId, (trx) =>
        trx
          .selectFrom('audit_events')
          .select(['action', 'actor_type', 'target_id', 'after'])
          .where('tenant_id', '=', tenantId)
          .where('action', '=', 'member.added')
          .where('target_id', '!=', owner)
          .execute(),
      );

    before(async () => {
      t = await createTestApp(engine, { env: { TENANTRY_PRESET: 'marketplace', TENANTRY_AUTH_RATE_LIMIT: '1000' } });
    });
    after(() => t.close());

    it('lets a key with members.manage add an account by email or id; the person is in at once', async () => {
      const owner = await signUp(t);
      const key = await createKey(t, owner.accessToken, owner.tenantId, ['members.manage', 'members.read', 'tenant.read', 'data.read']);
      const byEmail = await signUp(t);
      const res = await add(owner.tenantId, key.secret, { email: byEmail.email.toUpperCase(), roles: ['viewer'] });
      assert.equal(res.statusCode, 201, res.body);
      assert.deepEqual(
        { ...res.json().member, joinedAt: undefined },
        { userId: byEmail.userId, email: byEmail.email, name: null, roles: ['viewer'], kind: 'direct', joinedAt: undefined },
      );
      const listed = await t.app.inject({ url: '/api/v1/tenants', headers: bearer(byEmail.accessToken) });
      assert.ok(
        listed.json().tenants.some((x: { id: string }) => x.id === owner.tenantId),
        'the tenant is in their list at once',
      );
      const check = await t.app.inject({
        method: 'POST',
        url: '/api/v1/check',
        headers: bearer(byEmail.accessToken),
        payload: { tenantId: owner.tenantId, permission: 'members.read' },
      });
      assert.equal(check.json().allowed, true, 'their viewer role works at once');

      const byId = await signUp(t);
      assert.equal((await add(owner.tenantId, key.secret, { userId: byId.userId, roles: ['viewer'] })).statusCode, 201);
      assert.deepEqual(await members(owner.tenantId, key.secret), [`${owner.userId}:owner`, `${byEmail.userId}:viewer`, `${byId.userId}:viewer`].sort());
      const events = await audit(owner.tenantId, owner.userId);
      assert.deepEqual(
        events.map((e) => [e.actor_type, e.target_id]).sort(),
        [
          ['api_key', byEmail.userId],
          ['api_key', byId.userId],
        ].sort(),
      );
      assert.deepEqual(events[0]?.after, { roles: ['viewer'], kind: 'direct' });
    });

    it('refuses people (they invite), keys without members.manage, and another tenant; nothing changes', async () => {
      const owner = await signUp(t);
      const stranger = await signUp(t);
      const other = await signUp(t);
      const before = await members(owner.tenantId, owner.accessToken);
      const refused = await add(owner.tenantId, owner.accessToken, { userId: stranger.userId, roles: ['viewer'] });
      assertProblem(refused, 403, 'direct_add_not_allowed');
      assert.match(refused.json().detail, /invitations/);
      const reader = await createKey(t, owner.accessToken, owner.tenantId, ['members.read']);
      assertProblem(await add(owner.tenantId, reader.secret, { userId: stranger.userId, roles: ['viewer'] }), 403, 'forbidden');
      // Another tenant's key, and another tenant's owner, aimed at this tenant: it does not exist for them.
      const foreign = await createKey(t, other.accessToken, other.tenantId, ['members.manage']);
      assertProblem(await add(owner.tenantId, foreign.secret, { userId: stranger.userId, roles: ['viewer'] }), 404, 'tenant_not_found');
      assertProblem(await add(owner.tenantId, other.accessToken, { userId: stranger.userId, roles: ['viewer'] }), 404, 'tenant_not_found');
      assert.deepEqual(await members(owner.tenantId, owner.accessToken), before);
      assert.deepEqual(await audit(owner.tenantId, owner.userId), []);
    });

    it('answers unknown people, unknown roles, roles beyond the key, existing members and bad bodies with problems', async () => {
      const owner = await signUp(t);
      const key = await createKey(t, owner.accessToken, owner.tenantId, ['members.manage', 'members.read', 'tenant.read', 'data.read']);
      const person = await signUp(t);
      assertProblem(await add(owner.tenantId, key.secret, { userId: 'usr_nobody', roles: ['viewer'] }), 404, 'user_not_found');
      assertProblem(await add(owner.tenantId, key.secret, { email: uniqueEmail('ghost'), roles: ['viewer'] }), 404, 'user_not_found');
      assertProblem(await add(owner.tenantId, key.secret, { userId: person.userId, roles: ['wizard'] }), 422, 'unknown_role');
      // The key holds four permissions: the admin role gives far more.
      assertProblem(await add(owner.tenantId, key.secret, { userId: person.userId, roles: ['admin'] }), 403, 'forbidden');
      assertProblem(await add(owner.tenantId, key.secret, { userId: owner.userId, roles: ['viewer'] }), 409, 'already_member');
      for (const body of [
        { roles: ['viewer'] },
        { userId: person.userId, email: person.email, roles: ['viewer'] },
        { userId: person.userId, roles: [] },
        { userId: person.userId, roles: ['viewer'], tenantId: owner.tenantId },
      ]) {
        assertProblem(await add(owner.tenantId, key.secret, body), 400, 'validation_failed');
      }
      assert.deepEqual(await members(owner.tenantId, owner.accessToken), [`${owner.userId}:owner`]);
    });

    it("stops at the plan's member limit, pending invitations included", async () => {
      const owner = await signUp(t);
      const key = await createKey(t, owner.accessToken, owner.tenantId, ['members.manage', 'members.invite', 'members.read', 'tenant.read', 'data.read']);
      const invited = await t.app.inject({
        method: 'POST',
        url: `/api/v1/tenants/${owner.tenantId}/invitations`,
        headers: bearer(owner.accessToken),
        payload: { email: uniqueEmail('held'), roles: ['viewer'] },
      });
      assert.equal(invited.statusCode, 201, invited.body);
      assert.equal((await add(owner.tenantId, key.secret, { userId: (await signUp(t)).userId, roles: ['viewer'] })).statusCode, 201);
      // Owner, the pending invitation and the new member fill Free's three seats.
      assertProblem(await add(owner.tenantId, key.secret, { userId: (await signUp(t)).userId, roles: ['viewer'] }), 409, 'plan_limit_reached');
    });

    it("counts an operator's shadow membership made direct against the plan", async () => {
      const email = uniqueEmail('staff');
      const staff = await createOperator({ db: t.database.db, clock: t.clock, ownerRole: 'owner' }, { email, password: GOOD_PASSWORD, name: 'Sam' });
      const owner = await signUp(t);
      const shadow = await readTenant(t.database.db, owner.tenantId, (trx) =>
        trx.selectFrom('memberships').select('kind').where('tenant_id', '=', owner.tenantId).where('user_id', '=', staff.user.id).executeTakeFirst(),
      );
      assert.equal(shadow?.kind, 'shadow', 'operator staff are shadow members of a tenant created after them');
      const key = await createKey(t, owner.accessToken, owner.tenantId, ['members.manage', 'members.invite', 'members.read', 'tenant.read', 'data.read']);
      for (const who of ['seat-a', 'seat-b']) {
        const held = await t.app.inject({
          method: 'POST',
          url: `/api/v1/tenants/${owner.tenantId}/invitations`,
          headers: bearer(owner.accessToken),
          payload: { email: uniqueEmail(who), roles: ['viewer'] },
        });
        assert.equal(held.statusCode, 201, held.body);
      }
      // Owner and two pending invitations fill Free's three seats; a shadow membership holds none, a direct one would.
      assertProblem(await add(owner.tenantId, key.secret, { userId: staff.user.id, roles: ['viewer'] }), 409, 'plan_limit_reached');
    });

    it('lets a platform operator add anyone, anywhere', async () => {
      const email = uniqueEmail('operator');
      await createOperator({ db: t.database.db, clock: t.clock, ownerRole: 'owner' }, { email, password: GOOD_PASSWORD, name: 'Olga' });
      const login = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email, password: GOOD_PASSWORD } });
      const operator = login.json().accessToken as string;
      const customer: SignedUp = await signUp(t);
      const person = await signUp(t);
      const res = await add(customer.tenantId, operator, { email: person.email, roles: ['admin'] });
      assert.equal(res.statusCode, 201, res.body);
      assert.deepEqual(res.json().member.roles, ['admin']);
    });
  });
}

if (testEngines().includes('postgres')) {
  describe('adding the same account twice at once [postgres]', () => {
    let t: TestApp;
    before(async () => {
      t = await createTestApp('postgres', { env: { TENANTRY_AUTH_RATE_LIMIT: '1000' } });
    });
    after(() => t.close());

    it('adds once: the other request is told already_member', async () => {
      const owner = await signUp(t);
      const key = await createKey(t, owner.accessToken, owner.tenantId, ['members.manage', 'members.read', 'tenant.read']);
      const person = await signUp(t);
      const results = await Promise.all(
        [1, 2].map(() =>
          t.app.inject({ method: 'POST', url: `/api/v1/tenants/${owner.tenantId}/members`, headers: bearer(key.secret), payload: { userId: person.userId, roles: ['member'] } }),
        ),
      );
      assert.deepEqual(results.map((r) => r.statusCode).sort(), [201, 409], results.map((r) => r.body).join('\n'));
    });
  });
}
