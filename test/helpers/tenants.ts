import assert from 'node:assert/strict';
import { withSystem } from '../../src/platform/db/context.ts';
import type { Database } from '../../src/platform/db/database.ts';
import { newId, newTenantId } from '../../src/platform/ids.ts';
import { insertMembership } from '../../src/members/memberships.repository.ts';
import { insertTenant } from '../../src/tenants/tenants.repository.ts';
import type { TestApp } from './app.ts';

/**
 * A tenant straight in the database (for storage-level tests), owned by `ownerId` or by a new user:
 * every live tenant must have an owner, and the database refuses to commit one without.
 */
export async function seedTenant(
  database: Database,
  options: { name: string; ownerId?: string; ownerRole?: string; parentId?: string },
): Promise<{ tenantId: string; ownerId: string }> {
  const tenantId = newTenantId();
  const now = new Date();
  return withSystem(database.db, async (trx) => {
    let ownerId = options.ownerId;
    if (ownerId === undefined) {
      ownerId = newId('user');
      await trx
        .insertInto('users')
        .values({ id: ownerId, email: `${ownerId}@seed.test`, name: null, password_hash: null, email_verified_at: now, platform_role: null, created_at: now, updated_at: now })
        .execute();
    }
    await insertTenant(trx, { id: tenantId, slug: `seed-${tenantId}`, name: options.name, parentId: options.parentId ?? null, now });
    await insertMembership(trx, { tenantId, userId: ownerId, kind: 'direct', roles: [options.ownerRole ?? 'owner'], now });
    return { tenantId, ownerId };
  });
}

/** Turns features on or off in a tenant through the API, as `token` (an owner's), and insists it worked. */
export async function setFeatures(t: TestApp, token: string, tenantId: string, features: Record<string, boolean>): Promise<void> {
  const res = await t.app.inject({ method: 'PUT', url: `/api/v1/tenants/${tenantId}/features`, headers: { authorization: `Bearer ${token}` }, payload: { features } });
  assert.equal(res.statusCode, 200, res.body);
}
