import { type ExpressionBuilder, type Selectable, sql } from 'kysely';
import type { Tx } from '../platform/db/context.ts';
import type { DB, WebhookDeliveriesTable, WebhookEndpointsTable } from '../platform/db/schema.ts';
import { cursorInstant, type KeysetPosition } from '../platform/http/cursor.ts';

export type EndpointRow = Selectable<WebhookEndpointsTable>;
export type DeliveryRow = Selectable<WebhookDeliveriesTable>;

/** Whose endpoints: a tenant's (the caller is in its context) or the platform's (the system context). */
export type EndpointOwner = { tenantId: string } | 'platform';

function ownedBy(owner: EndpointOwner) {
  return (eb: ExpressionBuilder<DB, 'webhook_endpoints'>) => (owner === 'platform' ? eb('tenant_id', 'is', null) : eb('tenant_id', '=', owner.tenantId));
}

export async function insertEndpoint(trx: Tx, row: Omit<EndpointRow, 'enabled' | 'description'> & { enabled: boolean; description: string }): Promise<EndpointRow> {
  return trx.insertInto('webhook_endpoints').values(row).returningAll().executeTakeFirstOrThrow();
}

export async function listEndpoints(trx: Tx, owner: EndpointOwner): Promise<EndpointRow[]> {
  return trx.selectFrom('webhook_endpoints').selectAll().where(ownedBy(owner)).orderBy('created_at').orderBy('id').execute();
}

export async function findEndpoint(trx: Tx, owner: EndpointOwner, id: string, options: { forUpdate?: boolean } = {}): Promise<EndpointRow | undefined> {
  const query = trx.selectFrom('webhook_endpoints').selectAll().where('id', '=', id).where(ownedBy(owner));
  return (options.forUpdate ? query.forUpdate() : query).executeTakeFirst();
}

export async function updateEndpoint(
  trx: Tx,
  id: string,
  patch: Partial<Pick<EndpointRow, 'url' | 'description' | 'event_types' | 'enabled' | 'secret_sealed'>> & { updated_at: Date },
): Promise<EndpointRow> {
  return trx.updateTable('webhook_endpoints').set(patch).where('id', '=', id).returningAll().executeTakeFirstOrThrow();
}

export async function deleteEndpoint(trx: Tx, id: string): Promise<void> {
  await trx.deleteFrom('webhook_endpoints').where('id', '=', id).execute();
}

/** A purged tenant's endpoints and their logs; the caller is in the system context. */
export async function deleteWebhooksOf(trx: Tx, tenantId: string): Promise<number> {
  const result = await trx.deleteFrom('webhook_endpoints').where('tenant_id', '=', tenantId).executeTakeFirst();
  return Number(result.numDeletedRows);
}

/**
 * The enabled endpoints an event of `eventType` in `tenantId` goes to: the tenant's own and the platform's, whose
 * filter is empty (everything) or names the type. The caller is in the system context (platform rows are visible
 * only there).
 */
export async function listSubscribedEndpoints(trx: Tx, tenantId: string, eventType: string): Promise<Array<Pick<EndpointRow, 'id' | 'tenant_id'>>> {
  return trx
    .selectFrom('webhook_endpoints')
    .select(['id', 'tenant_id'])
    .where('enabled', '=', true)
    .where((eb) => eb.or([eb('tenant_id', '=', tenantId), eb('tenant_id', 'is', null)]))
    .where(sql<boolean>`(cardinality(event_types) = 0 OR ${eventType} = ANY (event_types))`)
    .orderBy('id')
    .execute();
}

export interface NewDelivery {
  id: string;
  endpointId: string;
  tenantId: string | null;
  messageId: string;
  eventType: string;
  eventTenantId: string;
  payload: unknown;
  now: Date;
}

/** One delivery per endpoint and event: a second fan-out of the same event (an outbox redelivery) adds nothing. */
export async function insertDeliveries(trx: Tx, deliveries: readonly NewDelivery[]): Promise<void> {
  if (deliveries.length === 0) return;
  await trx
    .insertInto('webhook_deliveries')
    .values(
      deliveries.map((d) => ({
        id: d.id,
        endpoint_id: d.endpointId,
        tenant_id: d.tenantId,
        message_id: d.messageId,
        event_type: d.eventType,
        event_tenant_id: d.eventTenantId,
        payload: JSON.stringify(d.payload),
        status: 'pending' as const,
        next_attempt_at: d.now,
        created_at: d.now,
      })),
    )
    .onConflict((oc) => oc.columns(['endpoint_id', 'message_id']).doNothing())
    .execute();
}

export type ClaimedDelivery = DeliveryRow & { url: string; secret_sealed: string };

/**
 * Due pending deliveries of enabled endpoints, each pushed a lease into the future and counted as an attempt, in one
 * statement (rows another worker is claiming are skipped). The caller is in the system context, in a transaction of
 * its own that commits at once: nothing stays open while talking to receivers.
 */
export async function claimDueDeliveries(trx: Tx, at: { now: Date; leaseUntil: Date; limit: number }): Promise<ClaimedDelivery[]> {
  const { rows } = await sql<ClaimedDelivery>`
    WITH due AS (
      SELECT d.id FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
      WHERE d.status = 'pending' AND d.next_attempt_at <= ${at.now} AND e.enabled
      ORDER BY d.next_attempt_at, d.created_at
      LIMIT ${at.limit}
      FOR UPDATE OF d SKIP LOCKED
    )
    UPDATE webhook_deliveries d SET next_attempt_at = ${at.leaseUntil}, attempts = d.attempts + 1
    FROM due, webhook_endpoints e
    WHERE d.id = due.id AND e.id = d.endpoint_id
    RETURNING d.*, e.url, e.secret_sealed
  `.execute(trx);
  return rows;
}

/** What an attempt came to. `attempts` fences a stale worker whose lease ran out (the row was claimed again since). */
export async function recordAttempt(
  trx: Tx,
  attempt: { id: string; attempts: number; status: 'pending' | 'delivered' | 'dead'; at: Date; nextAttemptAt: Date; lastStatus: number | null; lastError: string | null },
): Promise<void> {
  await trx
    .updateTable('webhook_deliveries')
    .set({
      status: attempt.status,
      last_attempt_at: attempt.at,
      next_attempt_at: attempt.nextAttemptAt,
      last_status: attempt.lastStatus,
      last_error: attempt.lastError,
      ...(attempt.status === 'delivered' ? { delivered_at: attempt.at } : {}),
    })
    .where('id', '=', attempt.id)
    .where('attempts', '=', attempt.attempts)
    .where('status', '=', 'pending')
    .execute();
}

/** An endpoint's deliveries, newest first, one page (keyset on created_at, id). */
export async function listDeliveries(trx: Tx, endpointId: string, page: { after?: KeysetPosition; limit: number }): Promise<{ rows: DeliveryRow[]; next: KeysetPosition | null }> {
  let query = trx
    .selectFrom('webhook_deliveries')
    .selectAll()
    .select(cursorInstant('created_at').as('position'))
    .where('endpoint_id', '=', endpointId)
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(page.limit + 1);
  if (page.after !== undefined) query = query.where(sql<boolean>`(created_at, id) < (${page.after.at}::timestamptz, ${page.after.id})`);
  const found = await query.execute();
  const rows = found.slice(0, page.limit);
  const last = rows.at(-1);
  return { rows, next: found.length > page.limit && last !== undefined ? { at: last.position, id: last.id } : null };
}

export async function findDeliveryForUpdate(trx: Tx, key: { endpointId: string; id: string }): Promise<DeliveryRow | undefined> {
  return trx.selectFrom('webhook_deliveries').selectAll().where('endpoint_id', '=', key.endpointId).where('id', '=', key.id).forUpdate().executeTakeFirst();
}

/** Sends the delivery again, from the first attempt, now (same `webhook-id`: receivers drop what they already had). */
export async function requeueDelivery(trx: Tx, id: string, now: Date): Promise<DeliveryRow> {
  return trx
    .updateTable('webhook_deliveries')
    .set({ status: 'pending', attempts: 0, next_attempt_at: now, delivered_at: null })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
}
