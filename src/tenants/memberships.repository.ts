import type { Tx } from '../platform/db/context.ts';
import type { MembershipKind } from '../platform/db/schema.ts';

export interface NewMembership {
  tenantId: string;
  userId: string;
  kind: MembershipKind;
  roles: readonly string[];
  now: Date;
  /** A shadow membership's admin tenancy, whose staff it mirrors (see src/tenants/operator-access.ts). */
  shadowOf?: string;
}

/** Caller is in the tenant's context. Throws on a duplicate (one membership per user and tenant). */
export async function insertMembership(trx: Tx, m: NewMembership): Promise<void> {
  await trx
    .insertInto('memberships')
    .values({ tenant_id: m.tenantId, user_id: m.userId, kind: m.kind, shadow_of: m.kind === 'shadow' ? (m.shadowOf ?? null) : null, created_at: m.now })
    .execute();
  if (m.roles.length > 0) {
    await trx
      .insertInto('membership_roles')
      .values(m.roles.map((role_key) => ({ tenant_id: m.tenantId, user_id: m.userId, role_key })))
      .execute();
  }
}

/** The users holding `roleKey` through a direct (not shadow) membership; caller is in the tenant's context. */
export async function listDirectHolders(trx: Tx, tenantId: string, roleKey: string): Promise<string[]> {
  const rows = await trx
    .selectFrom('memberships as m')
    .innerJoin('membership_roles as r', (join) => join.onRef('r.tenant_id', '=', 'm.tenant_id').onRef('r.user_id', '=', 'm.user_id'))
    .select('m.user_id')
    .where('m.tenant_id', '=', tenantId)
    .where('m.kind', '=', 'direct')
    .where('r.role_key', '=', roleKey)
    .orderBy('m.created_at')
    .orderBy('m.user_id')
    .execute();
  return rows.map((r) => r.user_id);
}

export interface UserTenant {
  tenantId: string;
  slug: string;
  name: string;
  status: string;
  kind: MembershipKind;
  roles: string[];
  joinedAt: Date;
}

/**
 * Every tenant `userId` is a member of and may enter, with their roles there, oldest membership first: a
 * suspended or pending-deletion tenant only for its owners and operators.
 * Caller is in the user's context (withUser), which is what makes these rows visible across tenants.
 */
export async function listTenantsOfUser(trx: Tx, userId: string): Promise<UserTenant[]> {
  const rows = await trx
    .selectFrom('memberships as m')
    .innerJoin('tenants as t', 't.id', 'm.tenant_id')
    .leftJoin('membership_roles as r', (join) => join.onRef('r.tenant_id', '=', 'm.tenant_id').onRef('r.user_id', '=', 'm.user_id'))
    .select(['m.tenant_id', 't.slug', 't.name', 't.status', 'm.kind', 'm.created_at', 'r.role_key'])
    .where('m.user_id', '=', userId)
    .where('t.status', '!=', 'deleted')
    // Outside `active`, only owners and operators (shadow) may still enter (SPEC 4, lifecycle).
    .where((eb) =>
      eb.or([
        eb('t.status', '=', 'active'),
        eb('m.kind', '=', 'shadow'),
        eb.exists(
          eb
            .selectFrom('membership_roles as o')
            .select('o.role_key')
            .whereRef('o.tenant_id', '=', 'm.tenant_id')
            .whereRef('o.user_id', '=', 'm.user_id')
            .where('o.role_key', '=', eb.selectFrom('platform_settings').select('value').where('key', '=', 'owner_role')),
        ),
      ]),
    )
    .orderBy('m.created_at')
    .orderBy('m.tenant_id')
    .orderBy('r.role_key')
    .execute();
  const byTenant = new Map<string, UserTenant>();
  for (const row of rows) {
    let entry = byTenant.get(row.tenant_id);
    if (entry === undefined) {
      entry = { tenantId: row.tenant_id, slug: row.slug, name: row.name, status: row.status, kind: row.kind, roles: [], joinedAt: row.created_at };
      byTenant.set(row.tenant_id, entry);
    }
    if (row.role_key !== null) entry.roles.push(row.role_key);
  }
  return [...byTenant.values()];
}
