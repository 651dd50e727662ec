import { type Selectable, sql } from 'kysely';
import type { Tx } from '../platform/db/context.ts';
import { cursorInstant, type KeysetPosition } from '../platform/http/cursor.ts';
import type { ApprovalAction, ApprovalRequestsTable, ApprovalStatus } from '../platform/db/schema.ts';

export type ApprovalRow = Selectable<ApprovalRequestsTable>;

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

/** Newest first (ties by id); only `requestedBy`'s, and only in `status` as of `now` (pending = not yet expired), when given. */
export async function listApprovalRequests(
  trx: Tx,
  tenantId: string,
  filter: { requestedBy?: string; status?: ApprovalStatus | 'expired'; now: Date; after?: KeysetPosition; limit: number },
): Promise<{ rows: ApprovalRow[]; next: KeysetPosition | null }> {
  let query = trx.selectFrom('approval_requests').selectAll().select(cursorInstant('created_at').as('position')).where('tenant_id', '=', tenantId);
  if (filter.requestedBy !== undefined) query = query.where('requested_by', '=', filter.requestedBy);
  if (filter.status === 'pending') query = query.where('status', '=', 'pending').where('expires_at', '>', filter.now);
  else if (filter.status === 'expired') query = query.where('status', '=', 'pending').where('expires_at', '<=', filter.now);
  else if (filter.status !== undefined) query = query.where('status', '=', filter.status);
  if (filter.after !== undefined) query = query.where(sql<boolean>`(created_at, id) < (${filter.after.at}::timestamptz, ${filter.after.id})`);
  const rows = await query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(filter.limit + 1).execute();
  const page = rows.slice(0, filter.limit);
  const last = page.at(-1);
  return {
    rows: page.map(({ position: _position, ...row }) => row),
    next: rows.length > filter.limit && last !== undefined ? { at: last.position, id: last.id } : null,
  };
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
