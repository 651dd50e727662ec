import type { Tx } from '../platform/db/context.ts';
import type { MembershipKind, TenantStatus } from '../platform/db/schema.ts';

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

/**
 * A tenant in someone's tenant list (sign-in, `GET /tenants`, `/auth/me`, the token's authorization claim): a
 * membership (direct or shadow) or, `kind` `inherited`, a tenant below one reached through a `tenant_and_descendants`
 * role held there. The fields after `joinedAt` are optional only so that callers building a list by hand (sign-up's
 * one new tenant) need not spell them out; the listings always fill them.
 */
export interface UserTenant {
  tenantId: string;
  slug: string;
  name: string;
  status: TenantStatus;
  kind: MembershipKind | 'inherited';
  /** The person's roles here; for an inherited tenant, the roles held in `inheritedFrom` that reach it. */
  roles: string[];
  /** When the membership began; null for an inherited tenant (no membership). */
  joinedAt: Date | null;
  parentId?: string | null;
  suspendedAt?: Date | null;
  suspensionReason?: string | null;
  deletionRequestedAt?: Date | null;
  purgeAfter?: Date | null;
  /** While pending deletion: the status a restore brings back (what restoring needs depends on it). */
  statusBeforeDeletion?: 'active' | 'suspended' | null;
  /** For `kind` `inherited`: the nearest tenant above whose roles reach this one. */
  inheritedFrom?: string;
  isAdminTenancy?: boolean;
}

/** A membership of the person's, whether or not it lets them enter the tenant, with what a tenant list needs. */
export interface UserMembership extends UserTenant {
  kind: MembershipKind;
  joinedAt: Date;
  parentId: string | null;
  /** The tenant's ancestors, root first, the tenant last. */
  path: string[];
  /** Whether the tenant has tenants below it (a role here can reach only those). */
  hasChildren: boolean;
  /**
   * Whether the membership itself lets the person in (SPEC 4, lifecycle): an active tenant; outside `active` its
   * direct owners and operators (shadow); while pending deletion only those who can restore it, which for an owner
   * means it was not suspended when its deletion was requested (restoring that needs authority from above). The
   * tenant-list service refines pending deletions with the permission resolver.
   */
  entersByMembership: boolean;
}

/**
 * Every membership `userId` holds in a tenant that is not deleted, with their roles there, oldest first.
 * Caller is in the user's context (withUser), which is what makes these rows visible across tenants.
 */
export async function listMembershipsOfUser(trx: Tx, userId: string): Promise<UserMembership[]> {
  const rows = await trx
    .selectFrom('memberships as m')
    .innerJoin('tenants as t', 't.id', 'm.tenant_id')
    .innerJoin('tenant_tree as tt', 'tt.tenant_id', 'm.tenant_id')
    .leftJoin('membership_roles as r', (join) => join.onRef('r.tenant_id', '=', 'm.tenant_id').onRef('r.user_id', '=', 'm.user_id'))
    .select([
      'm.tenant_id',
      't.slug',
      't.name',
      't.status',
      't.status_before_deletion',
      't.suspended_at',
      't.suspension_reason',
      't.deletion_requested_at',
      't.purge_after',
      't.is_admin_tenancy',
      'tt.parent_id',
      'tt.path',
      'm.kind',
      'm.created_at',
      'r.role_key',
    ])
    // The tree is readable everywhere (permission checks walk it).
    .select((eb) => eb.exists(eb.selectFrom('tenant_tree as c').select('c.tenant_id').whereRef('c.parent_id', '=', 'm.tenant_id')).as('has_children'))
    .select((eb) =>
      eb
        .exists(
          eb
            .selectFrom('membership_roles as o')
            .select('o.role_key')
            .whereRef('o.tenant_id', '=', 'm.tenant_id')
            .whereRef('o.user_id', '=', 'm.user_id')
            .where('o.role_key', '=', eb.selectFrom('platform_settings').select('value').where('key', '=', 'owner_role')),
        )
        .as('holds_owner_role'),
    )
    .where('m.user_id', '=', userId)
    .where('t.status', '!=', 'deleted')
    .orderBy('m.created_at')
    .orderBy('m.tenant_id')
    .orderBy('r.role_key')
    .execute();
  const byTenant = new Map<string, UserMembership>();
  for (const row of rows) {
    let entry = byTenant.get(row.tenant_id);
    if (entry === undefined) {
      const owns = row.kind === 'direct' && Boolean(row.holds_owner_role);
      const shadow = row.kind === 'shadow';
      entry = {
        tenantId: row.tenant_id,
        slug: row.slug,
        name: row.name,
        status: row.status,
        kind: row.kind,
        roles: [],
        joinedAt: row.created_at,
        parentId: row.parent_id,
        suspendedAt: row.suspended_at,
        suspensionReason: row.suspension_reason,
        deletionRequestedAt: row.deletion_requested_at,
        purgeAfter: row.purge_after,
        statusBeforeDeletion: row.status_before_deletion,
        isAdminTenancy: row.is_admin_tenancy,
        path: row.path,
        hasChildren: Boolean(row.has_children),
        entersByMembership:
          row.status === 'active' ||
          (row.status === 'suspended' && (owns || shadow)) ||
          (row.status === 'pending_deletion' && (shadow || (owns && row.status_before_deletion !== 'suspended'))),
      };
      byTenant.set(row.tenant_id, entry);
    }
    if (row.role_key !== null) entry.roles.push(row.role_key);
  }
  return [...byTenant.values()];
}

/**
 * Every tenant `userId` is a member of and may enter, with their roles there, oldest membership first (see
 * `entersByMembership`). Caller is in the user's context (withUser).
 */
export async function listTenantsOfUser(trx: Tx, userId: string): Promise<UserMembership[]> {
  return (await listMembershipsOfUser(trx, userId)).filter((m) => m.entersByMembership);
}

/** The kind of `userId`'s membership of `tenantId`, if they have one (the caller's context must show it). */
export async function findMembershipKind(trx: Tx, key: { tenantId: string; userId: string }): Promise<MembershipKind | undefined> {
  return (await trx.selectFrom('memberships').select('kind').where('tenant_id', '=', key.tenantId).where('user_id', '=', key.userId).executeTakeFirst())?.kind;
}
