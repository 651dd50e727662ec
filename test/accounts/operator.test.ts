import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createOperator, issueSetupLink } from '../../src/accounts/operator.service.ts';
import { withSystem } from '../../src/platform/db/context.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { testEngines } from '../helpers/database.ts';
import { assertProblem, bearer, GOOD_PASSWORD, signUp, uniqueEmail } from '../helpers/users.ts';

for (const engine of testEngines()) {
  describe(`operator bootstrap [${engine}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await createTestApp(engine, { env: { TENANTRY_AUTH_RATE_LIMIT: '1000' } });
    });
    after(() => t.close());
    const deps = () => ({ db: t.database.db, clock: t.clock, ownerRole: t.app.services.preset.ownerRole });

    it('creates the operator from the one-time setup link, once', async () => {
      const link = await issueSetupLink(deps(), 'http://tenantry.test');
      assert.ok(link);
      assert.ok(link.startsWith('http://tenantry.test/setup?token='));
      const token = decodeURIComponent(new URL(link).searchParams.get('token') ?? '');
      const email = uniqueEmail('operator');

      assertProblem(await t.app.inject({ method: 'POST', url: '/api/v1/setup', payload: { token: 'x'.repeat(43), email, password: GOOD_PASSWORD } }), 400, 'invalid_setup_token');
      const res = await t.app.inject({ method: 'POST', url: '/api/v1/setup', payload: { token, email, password: GOOD_PASSWORD, name: 'Olga' } });
      assert.equal(res.statusCode, 201, res.body);
      const body = res.json();
      assert.equal(body.user.platformRole, 'super_admin');
      assert.equal(body.user.emailVerified, true);

      const me = (await t.app.inject({ url: '/api/v1/auth/me', headers: bearer(body.accessToken) })).json();
      const adminTenancy = await withSystem(t.database.db, (trx) => trx.selectFrom('tenants').selectAll().where('is_admin_tenancy', '=', true).execute());
      assert.equal(adminTenancy.length, 1);
      assert.equal(me.activeTenantId, adminTenancy[0]?.id);
      assert.deepEqual(me.authorization[adminTenancy[0]!.id].roles, ['owner']);

      assertProblem(await t.app.inject({ method: 'POST', url: '/api/v1/setup', payload: { token, email: uniqueEmail(), password: GOOD_PASSWORD } }), 400, 'invalid_setup_token');
      assert.equal(await issueSetupLink(deps(), 'http://tenantry.test'), undefined, 'no link once an operator exists');
    });

    it('promotes an existing account named by TENANTRY_ADMIN_EMAIL without touching its password, repeatably', async () => {
      const user = await signUp(t);
      const first = await createOperator(deps(), { email: user.email, password: 'ignored for existing accounts' });
      assert.equal(first.created, false);
      assert.equal(first.user.platform_role, 'super_admin');
      const again = await createOperator(deps(), { email: user.email, password: 'ignored for existing accounts' });
      assert.equal(again.user.platform_role, 'super_admin');
      const login = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: user.email, password: user.password } });
      assert.equal(login.json().user.platformRole, 'super_admin');
    });

    it('refuses a weak operator password and leaves nothing behind', async () => {
      const email = uniqueEmail('weak-operator');
      await assert.rejects(createOperator(deps(), { email, password: 'password' }), /not strong enough|password/);
      const found = await t.database.db.selectFrom('users').select('id').where('email', '=', email).executeTakeFirst();
      assert.equal(found, undefined);
    });
  });
}
