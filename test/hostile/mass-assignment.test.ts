import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { testEngines } from '../helpers/database.ts';
import { snapshotRows, tenantScopedTables } from '../helpers/snapshot.ts';
import { assertProblem, bearer, enrol, GOOD_PASSWORD, signUp, type SignedUp, uniqueEmail } from '../helpers/users.ts';
import { tenantRoutes, WRITES, writeBody } from './routes.ts';
import { closeChecked } from './oracle.ts';

/**
 * Issue 14, mass assignment (API3:2023, ASVS 5.0 V15): what the server decides — who someone is, whether their email
 * is verified, their platform role, a tenant's status, which tenant a row belongs to — cannot be sent along with a
 * request. Every write body's schema forbids properties it does not name, so each smuggled field is a 400 that
 * changes nothing.
 */

/** Fields the server owns, none of them in any request body of these routes. */
const SMUGGLED: Record<string, unknown> = {
  tenantId: 'tzzzzzzzzzzzzzzz',
  status: 'active',
  emailVerified: true,
  platformRole: 'super_admin',
  isSuperAdmin: true,
  createdAt: '2020-01-01T00:00:00.000Z',
  id: 'usr_aaaaaaaaaaaaaaaaaaaa',
};

for (const engine of testEngines()) {
  describe(`hostile: server-owned fields smuggled into request bodies [${engine}]`, () => {
    let t: TestApp;
    let owner: SignedUp;
    let member: SignedUp;
    let slug: string;
    /** Every row of the owner's tenant, and every user and session row, as the schema owner sees them. */
    let snapshot: () => Promise<string>;

    before(async () => {
      t = await createTestApp(engine, { env: { TENANTRY_AUTH_RATE_LIMIT: '10000' } });
      owner = await signUp(t);
      member = await enrol(t, owner.tenantId, ['member']);
      slug = (await t.app.inject({ url: `/api/v1/tenants/${owner.tenantId}`, headers: bearer(owner.accessToken) })).json().slug;
      const tables = await tenantScopedTables(t.database);
      snapshot = async () => `${await snapshotRows(t.database, tables, [owner.tenantId])}\n${await snapshotRows(t.database, ['tenants', 'users'])}`;
    });
    after(() => closeChecked(t));

    for (const [field, value] of Object.entries(SMUGGLED)) {
      it(`refuses "${field}" in the body of every tenant-scoped write route, with 400 and no change`, async () => {
        const before = await snapshot();
        const accepted: string[] = [];
        for (const route of tenantRoutes().filter((r) => r.hasBody && WRITES.has(r.method))) {
          const body = writeBody(route, { userId: member.userId, slug });
          assert.ok(body !== undefined, `no body for ${route.method} ${route.path}`);
          const url = route.path
            .replace('{tenantId}', owner.tenantId)
            .replace('{userId}', member.userId)
            .replace('{roleKey}', 'member')
            .replace('{requestId}', 'apr_aaaaaaaaaaaaaaaaaaaa');
          const res = await t.app.inject({ method: route.method, url, headers: bearer(owner.accessToken), payload: { ...body, [field]: value } });
          if (res.statusCode !== 400 || res.json().code !== 'validation_failed') accepted.push(`${route.method} ${url}: ${res.statusCode} ${res.body.slice(0, 160)}`);
        }
        assert.deepEqual(accepted, []);
        assert.equal(await snapshot(), before);
      });
    }

    it('refuses a verified email, a platform role or an id chosen at sign-up, and creates no account', async () => {
      for (const [field, value] of Object.entries({ emailVerified: true, platformRole: 'super_admin', id: 'usr_aaaaaaaaaaaaaaaaaaaa', roles: ['owner'] })) {
        const email = uniqueEmail('smuggler');
        const res = await t.app.inject({ method: 'POST', url: '/api/v1/auth/signup', payload: { email, password: GOOD_PASSWORD, name: 'Smuggler', [field]: value } });
        assertProblem(res, 400, 'validation_failed');
        const login = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email, password: GOOD_PASSWORD } });
        assert.equal(login.statusCode, 401, `an account was created with ${field}`);
      }
    });

    it("refuses a platform role, a verified email or another person's id in one's own profile, and changes nothing", async () => {
      const before = await snapshot();
      for (const [field, value] of Object.entries({ platformRole: 'super_admin', emailVerified: true, email: uniqueEmail('taken'), id: owner.userId })) {
        assertProblem(
          await t.app.inject({ method: 'PATCH', url: '/api/v1/auth/me', headers: bearer(member.accessToken), payload: { name: 'Mallory', [field]: value } }),
          400,
          'validation_failed',
        );
      }
      assert.equal(await snapshot(), before);
      const me = await t.app.inject({ url: '/api/v1/auth/me', headers: bearer(member.accessToken) });
      assert.equal(me.json().user.platformRole ?? null, null);
    });

    it('refuses a tenant created with a status, an owner or an admin-tenancy flag of its choosing', async () => {
      for (const [field, value] of Object.entries({ status: 'active', isAdminTenancy: true, ownerId: member.userId, plan: 'enterprise' })) {
        const res = await t.app.inject({
          method: 'POST',
          url: '/api/v1/tenants',
          headers: bearer(member.accessToken),
          payload: { name: 'Smuggled', slug: `smuggled-${engine}-${field.toLowerCase()}`, [field]: value },
        });
        assertProblem(res, 400, 'validation_failed');
      }
      const listed = await t.app.inject({ url: '/api/v1/tenants', headers: bearer(member.accessToken) });
      assert.ok(!listed.body.includes('Smuggled'));
    });
  });
}
