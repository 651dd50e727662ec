import { type Selectable, sql } from 'kysely';
import { type Db, enterTenantContext, type Tx } from '../platform/db/context.ts';
import { cursorInstant, type KeysetPosition } from '../platform/http/cursor.ts';
import type { ApprovalAction, ApprovalRequestsTable, ApprovalStatus } from '../platform/db/schema.ts';

export type ApprovalRow = Selectable<ApprovalRequestsTable>;

/** The actions whose `params.userId` names the person the action is about (who may never decide it). */
export const ACTIONS_WITH_TARGET: readonly ApprovalAction[] = ['member.remove_admin', 'tenant.transfer_ownership'];

export async function insertApprovalRequest(
  trx: Tx,
  row: { tenantId: string; id: string; action: ApprovalAction; params: Record<string, unknown>; requestedBy: string; now: Date; expiresAt: Date },
): Promise<ApprovalRow> {
  return trx
    .insertInto('approval_requests')
    .values({
      tenant_id: row.tenantId,
      id: row.id,
      action: row.action,
      params: JSON.stringify(row.params),
      requested_by: row.requestedBy,
      created_at: row.now,
      expires_at: row.expiresAt,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function findApprovalRequest(trx: Tx, key: { tenantId: string; id: string }): Promise<ApprovalRow | undefined> {
  return trx.selectFrom('approval_requests').selectAll().where('tenant_id', '=', key.tenantId).where('id', '=', key.id).executeTakeFirst();
}

export interface ApprovalListFilter {
  /** Only this person's requests. */
  requestedBy?: string;
  /** Only requests this person may decide: not theirs, and not about them (ACTIONS_WITH_TARGET). */
  decidableBy?: string;
  /** As of `now`: pending means not yet expired, expired means pending past `expires_at`. */
  status?: ApprovalStatus | 'expired';
  now: Date;
  after?: KeysetPosition;
  limit: number;
}

export interface ApprovalPage {
  rows: ApprovalRow[];
  next: KeysetPosition | null;
}

/**
 * One page of the requests of `tenantIds`, newest first (ties by id), across tenants. Row-level security
 * shows a tenant's requests only in its own context, so this visits each tenant in turn within the caller's
 * (read-only) transaction, takes at most a page from each and merges them: every read stays confined to the
 * tenant whose context is set, and the caller alone decides which tenants are visited. Leaves the transaction
 * in the last tenant's context.
 */
export async function listApprovalRequestsIn(trx: Tx, tenantIds: readonly string[], filter: ApprovalListFilter): Promise<ApprovalPage> {
  const found: Array<ApprovalRow & { position: string }> = [];
  for (const tenantId of tenantIds) {
    await enterTenantContext(trx, tenantId);
    found.push(...(await pageQuery(trx, filter).where('tenant_id', '=', tenantId).execute()));
  }
  return toPage(found, filter.limit);
}

/** The same page over every tenant of the install; the caller is in the system context (a platform super admin's inbox). */
export async function listApprovalRequestsEverywhere(trx: Tx, filter: ApprovalListFilter): Promise<ApprovalPage> {
  return toPage(await pageQuery(trx, filter).execute(), filter.limit);
}

function pageQuery(trx: Tx, filter: ApprovalListFilter) {
  let query = trx.selectFrom('approval_requests').selectAll().select(cursorInstant('created_at').as('position'));
  if (filter.requestedBy !== undefined) query = query.where('requested_by', '=', filter.requestedBy);
  if (filter.decidableBy !== undefined) {
    const person = filter.decidableBy;
    query = query.where('requested_by', '<>', person).where(sql<boolean>`NOT (action IN (${sql.join(ACTIONS_WITH_TARGET)}) AND params->>'userId' IS NOT DISTINCT FROM ${person})`);
  }
  if (filter.status === 'pending') query = query.where('status', '=', 'pending').where('expires_at', '>', filter.now);
  else if (filter.status === 'expired') query = query.where('status', '=', 'pending').where('expires_at', '<=', filter.now);
  else if (filter.status !== undefined) query = query.where('status', '=', filter.status);
  // Ids compare bytewise ("C"), as the merge below compares them, whatever the database's collation.
  if (filter.after !== undefined) query = query.where(sql<boolean>`(created_at, id COLLATE "C") < (${filter.after.at}::timestamptz, ${filter.after.id}::text COLLATE "C")`);
  return query
    .orderBy('created_at', 'desc')
    .orderBy(sql`id COLLATE "C"`, 'desc')
    .limit(filter.limit + 1);
}

function toPage(found: Array<ApprovalRow & { position: string }>, limit: number): ApprovalPage {
  // Positions are fixed-width UTC instants, so text order is time order.
  found.sort((a, b) => (a.position === b.position ? compareText(b.id, a.id) : compareText(b.position, a.position)));
  const page = found.slice(0, limit);
  const last = page.at(-1);
  return {
    rows: page.map(({ position: _position, ...row }) => row),
    next: found.length > limit && last !== undefined ? { at: last.position, id: last.id } : null,
  };
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Closes a pending, unexpired request (conditional: of two deciders racing, one wins). Returns the row, or
 * undefined when it was no longer pending or had expired.
 */
export async function closeApprovalRequest(
  trx: Tx,
  key: { tenantId: string; id: string },
  change: { status: Exclude<ApprovalStatus, 'pending'>; decidedBy: string | null; note: string | null; outcome: Record<string, unknown> | null; now: Date },
): Promise<ApprovalRow | undefined> {
  return trx
    .updateTable('approval_requests')
    .set({
      status: change.status,
      decided_by: change.decidedBy,
      note: change.note,
      outcome: change.outcome === null ? null : JSON.stringify(change.outcome),
      decided_at: change.now,
    })
    .where('tenant_id', '=', key.tenantId)
    .where('id', '=', key.id)
    .where('status', '=', 'pending')
    .where('expires_at', '>', change.now)
    .returningAll()
    .executeTakeFirst();
}

/** Every request of a tenant being purged; the caller is in the system context. */
export async function deleteApprovalRequestsOf(trx: Tx, tenantId: string): Promise<number> {
  const result = await trx.deleteFrom('approval_requests').where('tenant_id', '=', tenantId).executeTakeFirst();
  return Number(result.numDeletedRows);
}

// ------------------------------------------------------------------------------------------------------------
// Who decides where: the reads behind the inbox's scope and the deciders' notifications.
// ------------------------------------------------------------------------------------------------------------

/** Every tenant at or below any of `roots`, with its path (root first); the tree is readable in any context. */
export async function listSubtrees(trx: Db | Tx, roots: readonly string[]): Promise<Array<{ tenantId: string; path: string[] }>> {
  if (roots.length === 0) return [];
  const rows = await trx
    .selectFrom('tenant_tree')
    .select(['tenant_id', 'path'])
    .where(sql<boolean>`path && ${sql.val([...roots])}::text[]`)
    .orderBy(sql`cardinality(path)`)
    .orderBy('tenant_id')
    .execute();
  return rows.map((r) => ({ tenantId: r.tenant_id, path: r.path }));
}

/** The tenant's display name; the caller is in its context (or an ancestor's, or the system context). */
export async function findTenantName(trx: Tx, tenantId: string): Promise<string | undefined> {
  return (await trx.selectFrom('tenants').select('name').where('id', '=', tenantId).executeTakeFirst())?.name;
}

/** Names and addresses of people, by id (users are not tenant-scoped). */
export async function listPeople(trx: Tx, userIds: readonly string[]): Promise<Array<{ id: string; email: string; name: string | null }>> {
  if (userIds.length === 0) return [];
  return trx
    .selectFrom('users')
    .select(['id', 'email', 'name'])
    .where('id', 'in', [...userIds])
    .orderBy('id')
    .execute();
}

/** The platform super admins: who is asked when nobody in the tree may decide a request. */
export async function listSuperAdminIds(trx: Tx): Promise<string[]> {
  const rows = await trx.selectFrom('users').select('id').where('platform_role', '=', 'super_admin').orderBy('id').execute();
  return rows.map((r) => r.id);
}
