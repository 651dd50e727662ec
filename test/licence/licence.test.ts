import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createOperator } from '../../src/accounts/operator.service.ts';
import { readSystem, readTenant } from '../../src/platform/db/context.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { testEngines } from '../helpers/database.ts';
import { assertProblem, bearer, GOOD_PASSWORD, type SignedUp, signIn, signUp, uniqueEmail } from '../helpers/users.ts';

/**
 * SPEC 4 "Features & licence", seed 001: a platform-wide licence file lists the features the install may use
 * and how many tenants it may hold; tenants get every licensed feature, overrides narrow it; the file is
 * re-read when it changes. The mqtt-portal preset has two features: influx and mgmt_api, and its sign-up makes two
 * tenants: the enterprise and its first tenant below it.
 */
for (const engine of testEngines()) {
  describe(`the licence [${engine}]`, () => {
    let t: TestApp;
    let dir: string;
    let file: string;
    let operator: string;
    let owner: SignedUp;

    const api = (method: 'GET' | 'POST' | 'PUT', url: string, token: string, payload?: object) =>
      t.app.inject({ method, url: `/api/v1${url}`, headers: bearer(token), ...(payload === undefined ? {} : { payload }) });
    const writeLicence = (licence: object | string) => writeFile(file, typeof licence === 'string' ? licence : JSON.stringify(licence));
    const liveTenants = () =>
      readSystem(t.database.db, async (trx) =>
        Number(
          (
            await trx
              .selectFrom('tenants')
              .select((e) => e.fn.countAll().as('n'))
              .where('status', '<>', 'deleted')
              .executeTakeFirstOrThrow()
          ).n,
        ),
      );
    const root = (slug: string, token = owner.accessToken) => api('POST', '/tenants', token, { name: slug, slug: `${slug}-${process.pid}-${engine}` });

    before(async () => {
      dir = await mkdtemp(path.join(tmpdir(), 'tenantry-licence-'));
      file = path.join(dir, 'licence.json');
      await writeLicence({ licensee: 'Acme IoT', features: ['mgmt_api'], tenantLimit: 4 });
      t = await createTestApp(engine, { env: { TENANTRY_PRESET: 'mqtt-portal', TENANTRY_LICENCE_FILE: file, TENANTRY_AUTH_RATE_LIMIT: '1000' } });
      const email = uniqueEmail('operator');
      await createOperator({ db: t.database.db, clock: t.clock, ownerRole: 'owner' }, { email, password: GOOD_PASSWORD, name: 'Olga' });
      operator = (await signIn(t, email)).accessToken;
      owner = await signUp(t);
    });
    after(async () => {
      await t.close();
      await rm(dir, { recursive: true, force: true });
    });

    it('shows operators the licence in force and the tenants in use', async () => {
      const res = await api('GET', '/admin/licence', operator);
      assert.equal(res.statusCode, 200, res.body);
      const body = res.json();
      // The admin tenancy, and the owner's enterprise with its first tenant.
      assert.deepEqual([body.source, body.licensee, body.tenantLimit, body.tenantsInUse, body.fileError], [file, 'Acme IoT', 4, 3, null]);
      assert.deepEqual(
        body.features.map((f: { key: string; licensed: boolean }) => [f.key, f.licensed]),
        [
          ['influx', false],
          ['mgmt_api', true],
        ],
      );
      assert.deepEqual((await api('GET', '/admin/tenants', operator)).json().limit, 4);
      assertProblem(await api('GET', '/admin/licence', owner.accessToken), 403, 'not_an_operator');
    });

    it('keeps an unlicensed feature off everywhere: it cannot be turned on and grants nothing', async () => {
      const features = (await api('GET', `/tenants/${owner.tenantId}/features`, owner.accessToken)).json().features;
      assert.deepEqual(
        features.map((f: { key: string; enabled: boolean; licensed: boolean }) => [f.key, f.enabled, f.licensed]),
        [
          ['influx', false, false],
          ['mgmt_api', false, true],
        ],
      );
      const refused = await api('PUT', `/tenants/${owner.tenantId}/features`, owner.accessToken, { features: { influx: true } });
      assertProblem(refused, 409, 'feature_not_licensed');
      assert.deepEqual(refused.json().unlicensedFeatures, ['influx']);
      // A licensed one can be, and turning an unlicensed one off is harmless.
      assert.equal((await api('PUT', `/tenants/${owner.tenantId}/features`, owner.accessToken, { features: { mgmt_api: true, influx: false } })).statusCode, 200);
      const check = (await api('POST', '/check', owner.accessToken, { tenantId: owner.tenantId, permission: 'influx_tokens.create' })).json();
      assert.equal(check.allowed, false);
      assert.match(check.reason, /needs the feature influx, which the licence does not cover/);
    });

    it('caps the tenants of the install, whichever way they are made', async () => {
      // In use: the admin tenancy and the owner's enterprise with its first tenant; the licence allows 4.
      const signUpRefused = async () => {
        // Sign-up makes tenants too (two here): refused the same way, and nothing of the person is left behind.
        const email = uniqueEmail('late');
        const signup = await t.app.inject({ method: 'POST', url: '/api/v1/auth/signup', payload: { email, password: GOOD_PASSWORD } });
        assertProblem(signup, 409, 'licence_limit_reached');
        assert.equal(await readSystem(t.database.db, (trx) => trx.selectFrom('users').select('id').where('email', '=', email).executeTakeFirst()), undefined);
      };
      // One left is not room for an enterprise and its tenant: neither is made.
      await signUpRefused();
      assert.equal(await liveTenants(), 3);
      assert.equal((await root('fourth')).statusCode, 201);
      const refused = await root('fifth');
      assertProblem(refused, 409, 'licence_limit_reached');
      assert.match(refused.json().detail, /the licence allows 4 tenants and 4 are in use/);
      await signUpRefused();
      assert.equal(await liveTenants(), 4);
    });

    it('takes a changed file into force at once, and keeps the last good licence when the new one is broken', async () => {
      await writeLicence({ licensee: 'Acme IoT', features: '*', tenantLimit: 6 });
      assert.equal(await t.app.services.licence.refresh(), true);
      assert.equal(await t.app.services.licence.refresh(), false);
      // Permissions cached under the old licence are dropped: influx can now be turned on, and then it counts.
      assert.equal((await api('PUT', `/tenants/${owner.tenantId}/features`, owner.accessToken, { features: { influx: true } })).statusCode, 200);
      assert.equal((await api('POST', '/check', owner.accessToken, { tenantId: owner.tenantId, permission: 'influx_tokens.create' })).json().allowed, true);
      assert.equal((await root('fifth')).statusCode, 201);

      await writeLicence('{"licensee": "Acme IoT", "features": ["influx", "telepathy"]}');
      assert.equal(await t.app.services.licence.refresh(), false);
      const shown = (await api('GET', '/admin/licence', operator)).json();
      assert.equal(shown.tenantLimit, 6);
      assert.match(shown.fileError, /names features the mqtt-portal preset does not have: telepathy/);

      // Narrowing the licence again turns the feature off without touching the tenant's own choice.
      await writeLicence({ licensee: 'Acme IoT', features: ['mgmt_api'], tenantLimit: 6 });
      assert.equal(await t.app.services.licence.refresh(), true);
      assert.equal((await api('POST', '/check', owner.accessToken, { tenantId: owner.tenantId, permission: 'influx_tokens.create' })).json().allowed, false);
      assert.equal((await api('GET', '/admin/licence', operator)).json().fileError, null);

      // Turning the unlicensed feature off changes nothing in force today, but it is the tenant's own setting
      // for when the licence covers it again: stored, and audited.
      const featureEvents = () =>
        readTenant(t.database.db, owner.tenantId, (trx) =>
          trx.selectFrom('audit_events').select('after').where('tenant_id', '=', owner.tenantId).where('action', '=', 'features.updated').execute(),
        );
      const before = (await featureEvents()).length;
      assert.equal((await api('PUT', `/tenants/${owner.tenantId}/features`, owner.accessToken, { features: { influx: false } })).statusCode, 200);
      const events = await featureEvents();
      assert.equal(events.length, before + 1);
      assert.deepEqual(events.at(-1)?.after, { features: { influx: false, mgmt_api: true }, overrides: { mgmt_api: true } });
    });

    if (engine === 'postgres') {
      it('lets concurrent creations take exactly the tenants that are left', async () => {
        const left = 6 - (await liveTenants());
        assert.ok(left >= 1, `expected room for at least one tenant, ${left} left`);
        const results = await Promise.all(Array.from({ length: left + 4 }, (_, i) => root(`race-${i}`)));
        assert.equal(results.filter((r) => r.statusCode === 201).length, left);
        assert.ok(
          results.every((r) => r.statusCode === 201 || r.json().code === 'licence_limit_reached'),
          results.map((r) => r.body).join('\n'),
        );
        assert.equal(await liveTenants(), 6);
      });
    }
  });
}

describe('a licence file that cannot be used', () => {
  it('stops the start with a message that says why', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'tenantry-licence-'));
    try {
      const file = path.join(dir, 'licence.json');
      await writeFile(file, JSON.stringify({ licensee: 'Acme', features: ['mgmt_api'], tenantLimit: 0 }));
      await assert.rejects(createTestApp('pglite', { env: { TENANTRY_PRESET: 'mqtt-portal', TENANTRY_LICENCE_FILE: file } }), /invalid licence file .*tenantLimit/);
      await assert.rejects(createTestApp('pglite', { env: { TENANTRY_LICENCE_FILE: path.join(dir, 'missing.json') } }), /cannot read the licence file/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
