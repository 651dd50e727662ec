import { sql } from 'kysely';
import { invalidateAfterCommit, type Tx } from '../platform/db/context.ts';
import { cursorInstant } from '../platform/http/cursor.ts';

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
  const roles = await rolesOf(trx, query.tenantId, page.map((r) => r.user_id));
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

/** Forgets `tenantId` as the user's landing tenant, if it was (the user no longer belongs there). */
export async function clearDefaultTenant(trx: Tx, user: { tenantId: string; userId: string; now: Date }): Promise<void> {
  invalidateAfterCommit(trx, `user:${user.userId}`);
  await trx
    .updateTable('users')
    .set({ default_tenant_id: null, updated_at: user.now })
    .where('id', '=', user.userId)
    .where('default_tenant_id', '=', user.tenantId)
    .execute();
}

/**
 * Share-locks the custom roles `keys` defined in `tenantId` itself, so a concurrent role deletion (which
 * locks the row for update, then checks that nobody holds the role) waits for this transaction and sees
 * its grant. Roles defined in an ancestor cannot be locked from this tenant's context.
 */
export async function lockOwnCustomRoles(trx: Tx, role: { tenantId: string; keys: readonly string[] }): Promise<void> {
  if (role.keys.length === 0) return;
  await trx.selectFrom('roles').select('key').where('tenant_id', '=', role.tenantId).where('key', 'in', [...role.keys]).forShare().execute();
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
