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
  const row = await trx
    .selectFrom('tenants')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('status', '!=', 'deleted')
    .executeTakeFirstOrThrow();
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
