import { sql } from 'kysely';
import { deleteApprovalRequestsOf } from '../approvals/approvals.repository.ts';
import type { Tx } from '../platform/db/context.ts';
import type { TenantStatus } from '../platform/db/schema.ts';
import { deleteWebhooksOf } from '../webhooks/webhooks.repository.ts';

export interface SubtreeTenant {
  id: string;
  slug: string;
  status: TenantStatus;
  isAdminTenancy: boolean;
  depth: number;
  deletionRequestedAt: Date | null;
  /** While pending deletion: what a restore brings back. */
  statusBeforeDeletion: 'active' | 'suspended' | null;
}

/**
 * The tenant and every tenant below it that is not deleted, deepest first; with `lock`, their rows are locked
 * for the rest of the transaction. Caller is in the system context.
 */
export async function listSubtreeForDeletion(trx: Tx, tenantId: string, options: { lock: boolean }): Promise<SubtreeTenant[]> {
  const query = trx
    .selectFrom('tenant_tree as tt')
    .innerJoin('tenants as t', 't.id', 'tt.tenant_id')
    .select(['t.id', 't.slug', 't.status', 't.is_admin_tenancy', 't.deletion_requested_at', 't.status_before_deletion', sql<number>`cardinality(tt.path)`.as('depth')])
    .where(sql<boolean>`tt.path @> ARRAY[${tenantId}]::text[]`)
    .where('t.status', '!=', 'deleted');
  const rows = await (options.lock ? query.forUpdate() : query).execute();
  return rows
    .map((r) => ({
      id: r.id,
      slug: r.slug,
      status: r.status,
      isAdminTenancy: r.is_admin_tenancy,
      depth: Number(r.depth),
      deletionRequestedAt: r.deletion_requested_at,
      statusBeforeDeletion: r.status_before_deletion,
    }))
    .sort((a, b) => b.depth - a.depth || a.id.localeCompare(b.id));
}

/** Marks a live tenant pending deletion, remembering its status (active or suspended) for a restore. */
export async function markPendingDeletion(trx: Tx, tenant: { id: string; status: TenantStatus }, requestedAt: Date, purgeAfter: Date): Promise<void> {
  const before = tenant.status === 'suspended' ? 'suspended' : 'active';
  await trx
    .updateTable('tenants')
    .set({ status: 'pending_deletion', status_before_deletion: before, deletion_requested_at: requestedAt, purge_after: purgeAfter, updated_at: requestedAt })
    .where('id', '=', tenant.id)
    .execute();
}

/** Brings a tenant pending deletion back to the status it had when its deletion was requested. */
export async function markRestored(trx: Tx, tenantId: string, now: Date): Promise<void> {
  await trx
    .updateTable('tenants')
    .set({ status: sql<TenantStatus>`status_before_deletion`, status_before_deletion: null, deletion_requested_at: null, purge_after: null, updated_at: now })
    .where('id', '=', tenantId)
    .where('status', '=', 'pending_deletion')
    .execute();
}

/**
 * Pending deletions whose grace has run out, deepest first (children before their parents), locked; rows
 * another node is purging right now are skipped rather than waited for.
 */
export async function findDueDeletions(trx: Tx, now: Date): Promise<Array<{ id: string; parentId: string | null }>> {
  return trx
    .selectFrom('tenants as t')
    .innerJoin('tenant_tree as tt', 'tt.tenant_id', 't.id')
    .select(['t.id', 'tt.parent_id as parentId'])
    .where('t.status', '=', 'pending_deletion')
    .where('t.purge_after', '<=', now)
    .orderBy(sql`cardinality(tt.path)`, 'desc')
    .orderBy('t.id')
    .forUpdate()
    .skipLocked()
    .execute();
}

export interface PurgeCounts {
  /** Rows removed per table. */
  removed: Record<string, number>;
  usersRepointed: number;
  usersDeleted: number;
}

/** Runs the database's purge of one tenant pending deletion (migration 0007). */
export async function purgeTenantRows(trx: Tx, tenantId: string): Promise<PurgeCounts> {
  // Tables the application role may delete from go first, here; the rest (the audit trail above all) only
  // the purge function can remove.
  const approvals = await deleteApprovalRequestsOf(trx, tenantId);
  // Its webhook endpoints go with it (their delivery logs by cascade); the platform's keep the record.
  const webhooks = await deleteWebhooksOf(trx, tenantId);
  const { rows } = await sql<{ item: string; removed: string | number }>`SELECT item, removed FROM tenantry_purge_tenant(${tenantId})`.execute(trx);
  const counts: PurgeCounts = { removed: { approval_requests: approvals, webhook_endpoints: webhooks }, usersRepointed: 0, usersDeleted: 0 };
  for (const row of rows) {
    const n = Number(row.removed);
    if (row.item === 'users_repointed') counts.usersRepointed = n;
    else if (row.item === 'users_deleted') counts.usersDeleted = n;
    else counts.removed[row.item] = n;
  }
  return counts;
}

/** The tenant's parent, if it has one that is not deleted. */
export async function findLiveParent(trx: Tx, tenantId: string, knownParent?: string): Promise<string | undefined> {
  const parent = knownParent ?? (await trx.selectFrom('tenant_tree').select('parent_id').where('tenant_id', '=', tenantId).executeTakeFirst())?.parent_id ?? null;
  if (parent === null) return undefined;
  const row = await trx.selectFrom('tenants').select('status').where('id', '=', parent).executeTakeFirst();
  return row === undefined || row.status === 'deleted' ? undefined : parent;
}
