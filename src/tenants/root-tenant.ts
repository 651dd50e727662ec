import { sql } from 'kysely';
import { appendAuditEvent } from '../audit/audit.repository.ts';
import type { Clock } from '../platform/clock.ts';
import type { Config } from '../platform/config.ts';
import { type Db, withSystem } from '../platform/db/context.ts';
import { newTenantId } from '../platform/ids.ts';
import type { Preset } from '../presets/presets.ts';
import { insertTenant, insertTenantWithFreeSlug, slugify } from './tenants.repository.ts';

/** Serialises first starts of several nodes, so exactly one creates the root. */
const ROOT_LOCK = 7262016;

/**
 * Seed 004: in a preset with a single root (company-tree), the Main Company exists from the first start, named at
 * deployment (`TENANTRY_ROOT_TENANT_NAME`, `TENANTRY_ROOT_TENANT_SLUG`), whether or not an operator is bootstrapped.
 * It is owned by the platform until its admins join (migration 0016), and it is the install's admin tenancy: the
 * operator, once bootstrapped, administers it, and it can never be suspended or deleted. Returns its id; null for
 * presets without a single root. Idempotent: a later start finds it and changes nothing (a renamed root keeps its
 * name; the variables only name it at creation).
 */
export async function ensureRootTenant(deps: { db: Db; clock: Clock; preset: Preset; config: Pick<Config, 'rootTenantName' | 'rootTenantSlug'> }): Promise<string | null> {
  if (!deps.preset.tenants.singleRoot) return null;
  // The system context: finding whether the install has a root looks across every tenant.
  return withSystem(deps.db, async (trx) => {
    await sql`SELECT pg_advisory_xact_lock(${ROOT_LOCK})`.execute(trx);
    const existing = await trx
      .selectFrom('tenant_tree as tt')
      .innerJoin('tenants as t', 't.id', 'tt.tenant_id')
      .select('t.id')
      .where('tt.parent_id', 'is', null)
      .where('t.status', '!=', 'deleted')
      .orderBy('t.created_at')
      .executeTakeFirst();
    if (existing !== undefined) return existing.id;
    const now = deps.clock.now();
    const id = newTenantId();
    const name = deps.config.rootTenantName ?? deps.preset.tenants.rootName ?? 'Main Company';
    const values = { id, name, slug: deps.config.rootTenantSlug ?? slugify(name), platformOwned: true, now };
    const row = deps.config.rootTenantSlug === undefined ? await insertTenantWithFreeSlug(trx, values) : await insertTenant(trx, values);
    if (row === undefined) throw new Error(`TENANTRY_ROOT_TENANT_SLUG ${values.slug} is taken by another tenant`);
    const hasAdminTenancy = (await trx.selectFrom('tenants').select('id').where('is_admin_tenancy', '=', true).executeTakeFirst()) !== undefined;
    if (!hasAdminTenancy) await trx.updateTable('tenants').set({ is_admin_tenancy: true }).where('id', '=', id).execute();
    const system = { actorType: 'system' as const, actorId: null, requestId: null, ip: null };
    await appendAuditEvent(
      trx,
      system,
      { tenantId: id, action: 'tenant.created', targetType: 'tenant', targetId: id, after: { name: row.name, slug: row.slug, root: true, adminTenancy: !hasAdminTenancy } },
      now,
    );
    return id;
  });
}
