import { createHash } from 'node:crypto';
import type { Selectable } from 'kysely';
import type { Tx } from '../platform/db/context.ts';
import type { AccessVia, ActorType, AuditEventsTable } from '../platform/db/schema.ts';
import { newId } from '../platform/ids.ts';
import { isWebhookEventType, queueWebhookEvent } from '../webhooks/events.ts';

export const GENESIS_HASH = '0'.repeat(64);

/** Who did it, from where: threaded from the HTTP edge into every service call that changes state. */
export interface AuditContext {
  actorType: ActorType;
  actorId: string | null;
  via?: AccessVia;
  requestId: string | null;
  ip: string | null;
}

export interface AuditEntry {
  /** The chain: a tenant id, or a user id for events about that person's own account. */
  tenantId: string;
  action: string;
  targetType?: string;
  targetId?: string;
  before?: Record<string, unknown> | null;
  after?: Record<string, unknown> | null;
}

/**
 * Appends one event to its tenant's hash chain, in the caller's transaction (so the event exists exactly
 * when the change does). The caller's transaction must be in that tenant's context, the user's context
 * for account events, or the system context.
 * Chain head rows serialise appends per tenant; different tenants never wait for each other.
 */
export async function appendAuditEvent(trx: Tx, ctx: AuditContext, entry: AuditEntry, occurredAt: Date): Promise<void> {
  await trx
    .insertInto('audit_heads')
    .values({ tenant_id: entry.tenantId, seq: 0, hash: GENESIS_HASH })
    .onConflict((oc) => oc.column('tenant_id').doNothing())
    .execute();
  const head = await trx.selectFrom('audit_heads').select(['seq', 'hash']).where('tenant_id', '=', entry.tenantId).forUpdate().executeTakeFirstOrThrow();
  const event = {
    tenant_id: entry.tenantId,
    seq: String(BigInt(head.seq) + 1n),
    id: newId('audit'),
    occurred_at: occurredAt.toISOString(),
    actor_type: ctx.actorType,
    actor_id: ctx.actorId,
    via: ctx.via ?? 'direct',
    action: entry.action,
    target_type: entry.targetType ?? null,
    target_id: entry.targetId ?? null,
    before: entry.before ?? null,
    after: entry.after ?? null,
    request_id: ctx.requestId,
    ip: ctx.ip,
    prev_hash: head.hash,
  };
  const hash = hashAuditEvent(event);
  await trx
    .insertInto('audit_events')
    .values({
      ...event,
      before: event.before === null ? null : JSON.stringify(event.before),
      after: event.after === null ? null : JSON.stringify(event.after),
      hash,
    })
    .execute();
  await trx.updateTable('audit_heads').set({ seq: event.seq, hash }).where('tenant_id', '=', entry.tenantId).execute();
  // The change's webhook event, in the same transaction: it goes out exactly when the change happened.
  if (isWebhookEventType(entry.action)) {
    await queueWebhookEvent(
      trx,
      {
        type: entry.action,
        timestamp: event.occurred_at,
        data: {
          tenantId: entry.tenantId,
          actor: { type: ctx.actorType, id: ctx.actorId, via: event.via },
          target: { type: event.target_type, id: event.target_id },
          before: event.before,
          after: event.after,
          requestId: ctx.requestId,
        },
      },
      occurredAt,
    );
  }
}

/** sha256 over the canonical JSON (keys sorted at every depth) of everything but the hash itself. */
export function hashAuditEvent(event: Record<string, unknown>): string {
  return createHash('sha256').update(canonicalJson(event)).digest('hex');
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object' && !(value instanceof Date)) {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export type AuditEventRow = Selectable<AuditEventsTable>;

export interface AuditFilter {
  /** An exact action, or a prefix ending in `.*` (`member.*`). */
  action?: string;
  actorType?: ActorType;
  actorId?: string;
  targetType?: string;
  targetId?: string;
  since?: Date;
  until?: Date;
  /** Only events older than this sequence number (the cursor). */
  beforeSeq?: bigint;
}

/** One page of a chain, newest first. Caller is in the chain's tenant context. */
export async function listAuditEvents(trx: Tx, tenantId: string, filter: AuditFilter, limit: number): Promise<AuditEventRow[]> {
  let query = trx.selectFrom('audit_events').selectAll().where('tenant_id', '=', tenantId);
  if (filter.action !== undefined) {
    query = filter.action.endsWith('.*') ? query.where('action', 'like', `${filter.action.slice(0, -1).replace(/[\\%_]/g, '\\$&')}%`) : query.where('action', '=', filter.action);
  }
  if (filter.actorType !== undefined) query = query.where('actor_type', '=', filter.actorType);
  if (filter.actorId !== undefined) query = query.where('actor_id', '=', filter.actorId);
  if (filter.targetType !== undefined) query = query.where('target_type', '=', filter.targetType);
  if (filter.targetId !== undefined) query = query.where('target_id', '=', filter.targetId);
  if (filter.since !== undefined) query = query.where('occurred_at', '>=', filter.since);
  if (filter.until !== undefined) query = query.where('occurred_at', '<', filter.until);
  if (filter.beforeSeq !== undefined) query = query.where('seq', '<', String(filter.beforeSeq));
  return query.orderBy('seq', 'desc').limit(limit).execute();
}

/** A run of the chain in order, from `afterSeq` (exclusive). Caller is in the chain's tenant context. */
export async function readChain(trx: Tx, tenantId: string, afterSeq: bigint, limit: number): Promise<AuditEventRow[]> {
  return trx.selectFrom('audit_events').selectAll().where('tenant_id', '=', tenantId).where('seq', '>', String(afterSeq)).orderBy('seq').limit(limit).execute();
}

export async function findAuditHead(trx: Tx, tenantId: string): Promise<{ seq: bigint; hash: string } | undefined> {
  const head = await trx.selectFrom('audit_heads').select(['seq', 'hash']).where('tenant_id', '=', tenantId).executeTakeFirst();
  return head === undefined ? undefined : { seq: BigInt(head.seq), hash: head.hash };
}

/** The hashed form of a stored event: what appendAuditEvent hashed when it wrote it. */
export function hashStoredEvent(row: AuditEventRow): string {
  return hashAuditEvent({
    tenant_id: row.tenant_id,
    seq: String(row.seq),
    id: row.id,
    occurred_at: row.occurred_at.toISOString(),
    actor_type: row.actor_type,
    actor_id: row.actor_id,
    via: row.via,
    action: row.action,
    target_type: row.target_type,
    target_id: row.target_id,
    before: row.before,
    after: row.after,
    request_id: row.request_id,
    ip: row.ip,
    prev_hash: row.prev_hash,
  });
}
