import { type RawBuilder, sql } from 'kysely';
import { enterTenantContext, type Tx } from '../platform/db/context.ts';
import { cursorInstant, type KeysetPosition } from '../platform/http/cursor.ts';
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
  /** A direct membership holding the preset's owner role (owners may enter a tenant that is not active: `entersTenant`). */
  owns: boolean;
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
        owns: row.kind === 'direct' && Boolean(row.holds_owner_role),
      };
      byTenant.set(row.tenant_id, entry);
    }
    if (row.role_key !== null) entry.roles.push(row.role_key);
  }
  return [...byTenant.values()];
}

/**
 * `userId`'s membership of `tenantId`, if they have one the caller's context shows; with `lock`, locked until the
 * transaction ends (nobody else changes or removes it between the caller's checks and its write).
 */
export async function findMembership(trx: Tx, key: { tenantId: string; userId: string }, options: { lock?: boolean } = {}): Promise<{ kind: MembershipKind } | undefined> {
  const query = trx.selectFrom('memberships').select('kind').where('tenant_id', '=', key.tenantId).where('user_id', '=', key.userId);
  return options.lock === true ? query.forUpdate().executeTakeFirst() : query.executeTakeFirst();
}

/** A direct member of a tenant as the member list shows it. Shadow memberships are never members. */
export interface MemberRecord {
  userId: string;
  email: string;
  name: string | null;
  /** Sorted. */
  roles: string[];
  joinedAt: Date;
}

/** Where the previous page ended: the last row's exact `created_at` (ISO 8601 in UTC, to the microsecond) and user id. */
export interface MemberPosition {
  joinedAt: string;
  userId: string;
}

export interface MemberPage {
  members: MemberRecord[];
  /** The position after the last member returned, when more may follow. */
  next: MemberPosition | null;
}

/**
 * The tenant's direct members, oldest membership first (ties by user id), from `after` on. Caller is in
 * the tenant's context; `users` has no row-level security, so the join only ever reaches users who hold
 * a membership visible in that context.
 */
export async function listDirectMembers(trx: Tx, query: { tenantId: string; after?: MemberPosition; limit: number }): Promise<MemberPage> {
  let select = trx
    .selectFrom('memberships as m')
    .innerJoin('users as u', 'u.id', 'm.user_id')
    .select(['m.user_id', 'u.email', 'u.name', 'm.created_at', cursorInstant('m.created_at').as('position')])
    .where('m.tenant_id', '=', query.tenantId)
    .where('m.kind', '=', 'direct');
  if (query.after !== undefined) {
    const { joinedAt, userId } = query.after;
    select = select.where(sql<boolean>`(m.created_at, m.user_id) > (${joinedAt}::timestamptz, ${userId})`);
  }
  const rows = await select
    .orderBy('m.created_at')
    .orderBy('m.user_id')
    .limit(query.limit + 1)
    .execute();
  const page = rows.slice(0, query.limit);
  const roles = await rolesOf(
    trx,
    query.tenantId,
    page.map((r) => r.user_id),
  );
  const last = page.at(-1);
  return {
    members: page.map((r) => ({ userId: r.user_id, email: r.email, name: r.name, roles: roles.get(r.user_id) ?? [], joinedAt: r.created_at })),
    next: rows.length > query.limit && last !== undefined ? { joinedAt: last.position, userId: last.user_id } : null,
  };
}

async function rolesOf(trx: Tx, tenantId: string, userIds: readonly string[]): Promise<Map<string, string[]>> {
  const byUser = new Map<string, string[]>();
  if (userIds.length === 0) return byUser;
  const rows = await trx
    .selectFrom('membership_roles')
    .select(['user_id', 'role_key'])
    .where('tenant_id', '=', tenantId)
    .where('user_id', 'in', [...userIds])
    .orderBy('role_key')
    .execute();
  for (const row of rows) byUser.set(row.user_id, [...(byUser.get(row.user_id) ?? []), row.role_key]);
  return byUser;
}

/**
 * The direct member `userId` of `tenantId`, with the membership row locked until the transaction ends,
 * so nobody else changes or removes it between our checks and our write. Undefined for a user with no
 * membership here or only a shadow one.
 */
export async function findDirectMemberForUpdate(trx: Tx, member: { tenantId: string; userId: string }): Promise<MemberRecord | undefined> {
  const membership = await trx
    .selectFrom('memberships')
    .select(['user_id', 'created_at'])
    .where('tenant_id', '=', member.tenantId)
    .where('user_id', '=', member.userId)
    .where('kind', '=', 'direct')
    .forUpdate()
    .executeTakeFirst();
  if (membership === undefined) return undefined;
  const user = await trx.selectFrom('users').select(['email', 'name']).where('id', '=', member.userId).executeTakeFirstOrThrow();
  const roles = await rolesOf(trx, member.tenantId, [member.userId]);
  return { userId: member.userId, email: user.email, name: user.name, roles: roles.get(member.userId) ?? [], joinedAt: membership.created_at };
}

/** Replaces the member's role set. Caller holds the membership row lock (findDirectMemberForUpdate). */
export async function replaceMemberRoles(trx: Tx, member: { tenantId: string; userId: string; roles: readonly string[] }): Promise<void> {
  await trx.deleteFrom('membership_roles').where('tenant_id', '=', member.tenantId).where('user_id', '=', member.userId).execute();
  await trx
    .insertInto('membership_roles')
    .values(member.roles.map((role_key) => ({ tenant_id: member.tenantId, user_id: member.userId, role_key })))
    .execute();
}

/** Deletes the membership (its roles go with it, by cascade). */
export async function deleteMembership(trx: Tx, member: { tenantId: string; userId: string }): Promise<void> {
  await trx.deleteFrom('memberships').where('tenant_id', '=', member.tenantId).where('user_id', '=', member.userId).execute();
}

/**
 * Whether `error` is the database refusing to leave a tenant without a direct owner: the deferred
 * constraint trigger `tenant_has_owner`, which fires at commit (so it comes out of `withTenant`).
 */
export function isLastOwnerViolation(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { code, constraint } = error as { code?: unknown; constraint?: unknown };
  return code === '23514' && constraint === 'tenant_has_owner';
}

export interface ShadowMembershipRow {
  tenantId: string;
  slug: string;
  name: string;
  status: string;
  /** Sorted. */
  roles: string[];
  /** The admin tenancy whose staff it mirrors; null for one granted otherwise (before migration 0013 without an admin tenancy). */
  adminTenancyId: string | null;
  since: Date;
}

/**
 * One person's shadow memberships, oldest first (ties by tenant id), one page. Caller is in the system context:
 * they span every tenant.
 */
export async function listShadowMembershipsOf(
  trx: Tx,
  userId: string,
  page: { after?: KeysetPosition; limit: number },
): Promise<{ memberships: ShadowMembershipRow[]; next: KeysetPosition | null }> {
  let query = trx
    .selectFrom('memberships as m')
    .innerJoin('tenants as t', 't.id', 'm.tenant_id')
    .select([
      'm.tenant_id',
      't.slug',
      't.name',
      't.status',
      'm.shadow_of',
      'm.created_at',
      cursorInstant('m.created_at').as('position'),
      sql<string[]>`coalesce((SELECT array_agg(r.role_key ORDER BY r.role_key) FROM membership_roles r WHERE r.tenant_id = m.tenant_id AND r.user_id = m.user_id), '{}')`.as(
        'roles',
      ),
    ])
    .where('m.user_id', '=', userId)
    .where('m.kind', '=', 'shadow')
    .where('t.status', '!=', 'deleted')
    .orderBy('m.created_at')
    .orderBy('m.tenant_id')
    .limit(page.limit + 1);
  if (page.after !== undefined) query = query.where(sql<boolean>`(m.created_at, m.tenant_id) > (${page.after.at}::timestamptz, ${page.after.id})`);
  const rows = await query.execute();
  const shown = rows.slice(0, page.limit);
  const last = shown.at(-1);
  return {
    memberships: shown.map((r) => ({ tenantId: r.tenant_id, slug: r.slug, name: r.name, status: r.status, roles: r.roles, adminTenancyId: r.shadow_of, since: r.created_at })),
    next: rows.length > page.limit && last !== undefined ? { at: last.position, id: last.tenant_id } : null,
  };
}

/** The shadow membership of `userId` in `tenantId` with its roles, locked until the transaction ends. Caller is in the tenant's context. */
export async function findShadowMembershipForUpdate(trx: Tx, key: { tenantId: string; userId: string }): Promise<{ roles: string[] } | undefined> {
  const row = await trx
    .selectFrom('memberships')
    .select('user_id')
    .where('tenant_id', '=', key.tenantId)
    .where('user_id', '=', key.userId)
    .where('kind', '=', 'shadow')
    .forUpdate()
    .executeTakeFirst();
  if (row === undefined) return undefined;
  const roles = await trx.selectFrom('membership_roles').select('role_key').where('tenant_id', '=', key.tenantId).where('user_id', '=', key.userId).orderBy('role_key').execute();
  return { roles: roles.map((r) => r.role_key) };
}

/** The tenants `userId` holds a membership in (direct or shadow); the caller is in that user's context. */
export async function listMembershipTenantsOf(trx: Tx, userId: string): Promise<string[]> {
  const rows = await trx.selectFrom('memberships').select('tenant_id').where('user_id', '=', userId).orderBy('tenant_id').execute();
  return rows.map((r) => r.tenant_id);
}

/**
 * The direct (never shadow) members of each tenant of `tenantIds` with their roles there. Memberships are
 * visible only in their own tenant's context, so this visits each in turn (like `isRoleHeldInSubtree`) and
 * then returns the transaction to `backTo`'s context.
 */
export async function listDirectMembersIn(trx: Tx, tenantIds: readonly string[], backTo: string): Promise<Array<{ tenantId: string; userId: string; roles: string[] }>> {
  const members = new Map<string, { tenantId: string; userId: string; roles: string[] }>();
  for (const tenantId of tenantIds) {
    await enterTenantContext(trx, tenantId);
    const rows = await trx
      .selectFrom('memberships as m')
      .innerJoin('membership_roles as r', (join) => join.onRef('r.tenant_id', '=', 'm.tenant_id').onRef('r.user_id', '=', 'm.user_id'))
      .select(['m.user_id', 'r.role_key'])
      .where('m.tenant_id', '=', tenantId)
      .where('m.kind', '=', 'direct')
      .orderBy('m.user_id')
      .execute();
    for (const row of rows) {
      const key = `${tenantId}|${row.user_id}`;
      const entry = members.get(key) ?? { tenantId, userId: row.user_id, roles: [] };
      entry.roles.push(row.role_key);
      members.set(key, entry);
    }
  }
  await enterTenantContext(trx, backTo);
  return [...members.values()];
}

/** Whether `email` belongs to a direct member of the tenant. Caller is in the tenant's context. */
export async function isDirectMemberByEmail(trx: Tx, key: { tenantId: string; email: string }): Promise<boolean> {
  const row = await trx
    .selectFrom('memberships as m')
    .innerJoin('users as u', 'u.id', 'm.user_id')
    .select('m.user_id')
    .where('m.tenant_id', '=', key.tenantId)
    .where('u.email', '=', key.email)
    .where('m.kind', '=', 'direct')
    .executeTakeFirst();
  return row !== undefined;
}

/**
 * Turns a shadow (operator) membership into a direct one holding exactly `roles`: what the inviter granted. The
 * shadow's roles are not kept: they were the operator's, following the admin tenancy, and a direct membership
 * no longer follows it, so keeping them would turn passing operator access into a permanent grant nobody gave
 * (issue 10). Returns the roles now held.
 */
export async function promoteShadowMembership(trx: Tx, m: { tenantId: string; userId: string; roles: readonly string[] }): Promise<string[]> {
  await trx.deleteFrom('membership_roles').where('tenant_id', '=', m.tenantId).where('user_id', '=', m.userId).execute();
  await trx.updateTable('memberships').set({ kind: 'direct', shadow_of: null }).where('tenant_id', '=', m.tenantId).where('user_id', '=', m.userId).execute();
  await trx
    .insertInto('membership_roles')
    .values(m.roles.map((role_key) => ({ tenant_id: m.tenantId, user_id: m.userId, role_key })))
    .execute();
  return [...m.roles].sort();
}

/**
 * Whether anyone holds the custom role `key` defined in `tenantId`: a membership (direct or shadow) in
 * the tenant or in a descendant that does not redefine the key on the way down (there the nearer
 * definition is the one held). Caller is in `tenantId`'s context and gets it back.
 *
 * Memberships are visible only in their own tenant's context, so this visits each tenant of the subtree
 * in turn (the tree itself is readable everywhere) rather than widening to the system context: role
 * deletion is rare, and every read stays confined by row-level security.
 */
export async function isRoleHeldInSubtree(trx: Tx, role: { tenantId: string; key: string }, options: { belowOnly?: boolean } = {}): Promise<boolean> {
  const subtree = await trx.selectFrom('tenant_tree').select(['tenant_id', 'path']).where(sql<boolean>`${role.tenantId} = ANY (path)`).orderBy(sql`cardinality(path)`).execute();
  let held = false;
  for (const tenant of subtree) {
    if (options.belowOnly === true && tenant.tenant_id === role.tenantId) continue;
    if (tenant.tenant_id !== role.tenantId) await enterTenantContext(trx, tenant.tenant_id);
    const below = tenant.path.slice(tenant.path.indexOf(role.tenantId) + 1);
    let query = trx.selectFrom('membership_roles').select('user_id').where('tenant_id', '=', tenant.tenant_id).where('role_key', '=', role.key);
    if (below.length > 0) {
      query = query.where(({ not, exists, selectFrom }) => not(exists(selectFrom('roles').select('key').where('key', '=', role.key).where('tenant_id', 'in', below))));
    }
    if ((await query.limit(1).executeTakeFirst()) !== undefined) {
      held = true;
      break;
    }
  }
  await enterTenantContext(trx, role.tenantId);
  return held;
}

/**
 * How many direct members the tenant in column `tenantColumn` of the enclosing query has, as a correlated subquery
 * (a tenant's detail shows it; shadow memberships never count). Visible rows only: run it in the tenant's context.
 */
export function directMemberCount(tenantColumn: string): RawBuilder<string> {
  return sql<string>`(SELECT count(*) FROM memberships m WHERE m.tenant_id = ${sql.ref(tenantColumn)} AND m.kind = 'direct')`;
}

/** How many tenants the user in column `userColumn` of the enclosing query is a direct member of (the console's user list). */
export function directMembershipCount(userColumn: string): RawBuilder<string> {
  return sql<string>`(SELECT count(*) FROM memberships m WHERE m.user_id = ${sql.ref(userColumn)} AND m.kind = 'direct')`;
}
