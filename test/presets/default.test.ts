import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PLATFORM_PERMISSIONS } from '../../src/permissions/catalogue.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { testEngines } from '../helpers/database.ts';
import { allowedPermissions, type SeatedPerson, seatRoles } from '../helpers/roles.ts';
import { seedTenant } from '../helpers/tenants.ts';
import { bearer, signUp } from '../helpers/users.ts';

/**
 * The default preset's four roles through the HTTP API: one signed-in member per role in one tenant,
 * each asking POST /check about itself for the whole catalogue, here and in a tenant below.
 */
const ROLES = ['owner', 'admin', 'member', 'viewer'] as const;
type Role = (typeof ROLES)[number];

const EVERYTHING = Object.keys(PLATFORM_PERMISSIONS).sort();
const EXPECTED: Record<Role, string[]> = {
  owner: EVERYTHING,
  admin: EVERYTHING.filter((p) => p !== 'tenant.delete' && p !== 'tenant.transfer_ownership'),
  member: ['members.read', 'tenant.read'],
  viewer: ['tenant.read'],
};

for (const engine of testEngines()) {
  describe(`default preset: owner, admin, member, viewer [${engine}]`, () => {
    let t: TestApp;
    let tenantId: string;
    let child: string;
    let people: Map<Role, SeatedPerson>;
    const token = (role: Role) => people.get(role)?.accessToken ?? '';

    before(async () => {
      t = await createTestApp(engine, { env: { TENANTRY_AUTH_RATE_LIMIT: '1000' } });
      const owner = await signUp(t);
      tenantId = owner.tenantId;
      people = await seatRoles(t, tenantId, ROLES, { ...owner, role: 'owner' });
      child = (await seedTenant(t.database, { name: 'Child', parentId: tenantId })).tenantId;
    });
    after(() => t.close());

    async function held(role: Role, where: string): Promise<string[]> {
      return [...(await allowedPermissions(t, token(role), where, EVERYTHING))].sort();
    }

    for (const role of ROLES) {
      it(`${role}: ${EXPECTED[role].length === EVERYTHING.length ? 'everything' : EXPECTED[role].join(', ')}`, async () => {
        assert.deepEqual(await held(role, tenantId), EXPECTED[role]);
      });
    }

    it('owner and admin reach the tenants below; member and viewer do not', async () => {
      assert.deepEqual(await held('owner', child), EXPECTED.owner);
      assert.deepEqual(await held('admin', child), EXPECTED.admin);
      assert.deepEqual(await held('member', child), []);
      assert.deepEqual(await held('viewer', child), []);
    });

    it('lists the four roles with the owner role marked', async () => {
      const res = await t.app.inject({ url: `/api/v1/tenants/${tenantId}/roles`, headers: bearer(token('viewer')) });
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(
        res.json().roles.map((r: { key: string; isOwnerRole: boolean; permissions: string[] }) => [r.key, r.isOwnerRole, r.permissions]),
        ROLES.map((role) => [role, role === 'owner', EXPECTED[role]]),
      );
    });
  });
}
