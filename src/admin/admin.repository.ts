import { sql } from 'kysely';
import type { Tx } from '../platform/db/context.ts';
import { cursorInstant, type KeysetPosition } from '../platform/http/cursor.ts';

export interface InstallTenant {
  id: string;
  slug: string;
  name: string;
  status: string;
  parentId: string | null;
  isAdminTenancy: boolean;
  createdAt: Date;
}

/** Every live tenant of the install, oldest first, one page. Caller is in the system context. */
export async function listInstallTenants(trx: Tx, page: { after?: KeysetPosition; limit: number }): Promise<{ tenants: InstallTenant[]; next: KeysetPosition | null }> {
  let query = trx
    .selectFrom('tenants as t')
    .innerJoin('tenant_tree as tt', 'tt.tenant_id', 't.id')
    .select(['t.id', 't.slug', 't.name', 't.status', 'tt.parent_id', 't.is_admin_tenancy', 't.created_at', cursorInstant('t.created_at').as('position')])
    .where('t.status', '!=', 'deleted')
    .orderBy('t.created_at')
    .orderBy('t.id')
    .limit(page.limit + 1);
  if (page.after !== undefined) query = query.where(sql<boolean>`(t.created_at, t.id) > (${page.after.at}::timestamptz, ${page.after.id})`);
  const rows = await query.execute();
  const shown = rows.slice(0, page.limit);
  const last = shown.at(-1);
  return {
    tenants: shown.map((r) => ({ id: r.id, slug: r.slug, name: r.name, status: r.status, parentId: r.parent_id, isAdminTenancy: r.is_admin_tenancy, createdAt: r.created_at })),
    next: rows.length > page.limit && last !== undefined ? { at: last.position, id: last.id } : null,
  };
}

export async function countLiveTenants(trx: Tx): Promise<number> {
  const row = await trx.selectFrom('tenants').select((eb) => eb.fn.countAll<string>().as('n')).where('status', '!=', 'deleted').executeTakeFirstOrThrow();
  return Number(row.n);
}

export async function findAdminTenancyId(trx: Tx): Promise<string | undefined> {
  return (await trx.selectFrom('tenants').select('id').where('is_admin_tenancy', '=', true).executeTakeFirst())?.id;
}

/** Marks a tenant as the admin tenancy or not (the unique index allows one). */
export async function setAdminTenancy(trx: Tx, tenantId: string, isAdminTenancy: boolean): Promise<void> {
  await trx.updateTable('tenants').set({ is_admin_tenancy: isAdminTenancy }).where('id', '=', tenantId).execute();
}

/** The admin tenancy, if an administrator has explicitly made it `userId`'s default tenant (system context). */
export async function findDesignatedStaffTenancy(trx: Tx, userId: string): Promise<string | undefined> {
  const row = await trx
    .selectFrom('users as u')
    .innerJoin('tenants as a', 'a.id', 'u.explicit_default_tenant_id')
    .select('a.id')
    .where('u.id', '=', userId)
    .where('a.is_admin_tenancy', '=', true)
    .executeTakeFirst();
  return row?.id;
}

/** One designation at a time, install-wide: two at once cannot both clear the old one and collide on the new. */
export async function lockAdminTenancyDesignation(trx: Tx): Promise<void> {
  await sql`SELECT pg_advisory_xact_lock(hashtext('tenantry.admin_tenancy'))`.execute(trx);
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
      sql<string[]>`coalesce((SELECT array_agg(r.role_key ORDER BY r.role_key) FROM membership_roles r WHERE r.tenant_id = m.tenant_id AND r.user_id = m.user_id), '{}')`.as('roles'),
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
