import { appendAuditEvent, type AuditContext } from '../audit/audit.repository.ts';
import type { Clock } from '../platform/clock.ts';
import type { Config } from '../platform/config.ts';
import { type Db, readSystem, readTenant, type Tx, withSystem, withTenant } from '../platform/db/context.ts';
import { decodeKeysetCursor, encodeKeysetCursor } from '../platform/http/cursor.ts';
import { AppError, HttpErrors } from '../platform/http/errors.ts';
import { newId } from '../platform/ids.ts';
import { sealSecret } from '../platform/secret-box.ts';
import { isWebhookEventType, WEBHOOK_EVENT_TYPES } from './events.ts';
import { newWebhookSecret } from './signing.ts';
import { checkWebhookUrl } from './url-guard.ts';
import { WebhookErrors } from './webhooks.errors.ts';
import {
  type DeliveryRow,
  deleteEndpoint,
  type EndpointOwner,
  type EndpointRow,
  findDeliveryForUpdate,
  findEndpoint,
  insertEndpoint,
  listDeliveries as listDeliveryRows,
  listEndpoints as listEndpointRows,
  requeueDelivery,
  updateEndpoint as updateEndpointRow,
} from './webhooks.repository.ts';

export interface WebhookDeps {
  db: Db;
  clock: Clock;
  secretKey: Buffer;
  config: Pick<Config, 'webhookAllowPrivate'>;
  /** Asked to deliver soon once a replay is committed. */
  webhooks?: { poke(): void };
}

export interface EndpointView {
  id: string;
  tenantId: string | null;
  url: string;
  description: string;
  /** Empty: every event type. */
  eventTypes: string[];
  enabled: boolean;
  createdAt: Date;
  updatedAt: Date;
}

export interface DeliveryView {
  id: string;
  endpointId: string;
  messageId: string;
  eventType: string;
  tenantId: string;
  status: 'pending' | 'delivered' | 'dead';
  attempts: number;
  nextAttemptAt: Date | null;
  lastAttemptAt: Date | null;
  lastStatus: number | null;
  lastError: string | null;
  createdAt: Date;
  deliveredAt: Date | null;
  payload: unknown;
}

export interface EndpointInput {
  url: string;
  description?: string;
  eventTypes?: string[];
  enabled?: boolean;
}

/** Who is changing endpoints: for a tenant's, the audit context of its trail; the platform's are the operators'. */
export type WebhookCaller = { owner: EndpointOwner; audit: AuditContext };

/** Runs `fn` in the owner's context: the tenant's, or the system's for the platform's endpoints. */
function inOwner<T>(deps: WebhookDeps, owner: EndpointOwner, fn: (trx: Tx) => Promise<T>, write: boolean): Promise<T> {
  if (owner === 'platform') return write ? withSystem(deps.db, fn) : readSystem(deps.db, fn);
  return write ? withTenant(deps.db, owner.tenantId, fn) : readTenant(deps.db, owner.tenantId, fn);
}

/** A tenant's changes go into its audit trail; the platform's have no tenant trail (operators' actions are logged). */
async function audit(
  trx: Tx,
  caller: WebhookCaller,
  action: string,
  targetId: string,
  change: { before?: Record<string, unknown>; after?: Record<string, unknown> },
  now: Date,
): Promise<void> {
  if (caller.owner === 'platform') return;
  await appendAuditEvent(trx, caller.audit, { tenantId: caller.owner.tenantId, action, targetType: 'webhook', targetId, ...change }, now);
}

async function validUrl(deps: WebhookDeps, url: string): Promise<string> {
  const verdict = await checkWebhookUrl(url, { allowPrivate: deps.config.webhookAllowPrivate });
  if (!verdict.ok) throw new AppError(WebhookErrors.URL_NOT_ALLOWED, { detail: `${url}: ${verdict.reason}` });
  return verdict.url.toString();
}

function validTypes(types: readonly string[] | undefined): string[] {
  const wanted = [...new Set(types ?? [])].sort();
  const unknown = wanted.filter((t) => !isWebhookEventType(t));
  if (unknown.length > 0) {
    throw new AppError(WebhookErrors.UNKNOWN_EVENT_TYPE, {
      detail: `not webhook events: ${unknown.join(', ')} (see ${WEBHOOK_EVENT_TYPES.length} in docs/webhooks.md)`,
      eventTypes: unknown,
    });
  }
  return wanted;
}

/** Creates an endpoint; its signing secret is returned this once (Standard Webhooks `whsec_…`). */
export async function createEndpoint(deps: WebhookDeps, caller: WebhookCaller, input: EndpointInput): Promise<{ endpoint: EndpointView; secret: string }> {
  const url = await validUrl(deps, input.url);
  const eventTypes = validTypes(input.eventTypes);
  const secret = newWebhookSecret();
  const now = deps.clock.now();
  const row = await inOwner(
    deps,
    caller.owner,
    async (trx) => {
      const inserted = await insertEndpoint(trx, {
        id: newId('webhook'),
        tenant_id: caller.owner === 'platform' ? null : caller.owner.tenantId,
        url,
        description: input.description ?? '',
        event_types: eventTypes,
        secret_sealed: sealSecret(deps.secretKey, secret),
        enabled: input.enabled ?? true,
        created_at: now,
        updated_at: now,
      });
      await audit(trx, caller, 'webhook.created', inserted.id, { after: { url, eventTypes, enabled: inserted.enabled } }, now);
      return inserted;
    },
    true,
  );
  return { endpoint: present(row), secret };
}

export async function listEndpoints(deps: WebhookDeps, owner: EndpointOwner): Promise<EndpointView[]> {
  return (await inOwner(deps, owner, (trx) => listEndpointRows(trx, owner), false)).map(present);
}

export async function getEndpoint(deps: WebhookDeps, owner: EndpointOwner, id: string): Promise<EndpointView> {
  const row = await inOwner(deps, owner, (trx) => findEndpoint(trx, owner, id), false);
  if (row === undefined) throw new AppError(WebhookErrors.WEBHOOK_NOT_FOUND);
  return present(row);
}

export async function updateEndpoint(
  deps: WebhookDeps,
  caller: WebhookCaller,
  id: string,
  patch: Partial<EndpointInput> & { rotateSecret?: boolean },
): Promise<{ endpoint: EndpointView; secret?: string }> {
  const url = patch.url === undefined ? undefined : await validUrl(deps, patch.url);
  const eventTypes = patch.eventTypes === undefined ? undefined : validTypes(patch.eventTypes);
  const secret = patch.rotateSecret === true ? newWebhookSecret() : undefined;
  const now = deps.clock.now();
  const row = await inOwner(
    deps,
    caller.owner,
    async (trx) => {
      const before = await findEndpoint(trx, caller.owner, id, { forUpdate: true });
      if (before === undefined) throw new AppError(WebhookErrors.WEBHOOK_NOT_FOUND);
      const after = await updateEndpointRow(trx, id, {
        ...(url === undefined ? {} : { url }),
        ...(eventTypes === undefined ? {} : { event_types: eventTypes }),
        ...(patch.description === undefined ? {} : { description: patch.description }),
        ...(patch.enabled === undefined ? {} : { enabled: patch.enabled }),
        ...(secret === undefined ? {} : { secret_sealed: sealSecret(deps.secretKey, secret) }),
        updated_at: now,
      });
      await audit(
        trx,
        caller,
        'webhook.updated',
        id,
        {
          before: { url: before.url, eventTypes: before.event_types, enabled: before.enabled },
          after: { url: after.url, eventTypes: after.event_types, enabled: after.enabled, secretRotated: secret !== undefined },
        },
        now,
      );
      return after;
    },
    true,
  );
  return { endpoint: present(row), ...(secret === undefined ? {} : { secret }) };
}

export async function removeEndpoint(deps: WebhookDeps, caller: WebhookCaller, id: string): Promise<void> {
  const now = deps.clock.now();
  await inOwner(
    deps,
    caller.owner,
    async (trx) => {
      const row = await findEndpoint(trx, caller.owner, id, { forUpdate: true });
      if (row === undefined) throw new AppError(WebhookErrors.WEBHOOK_NOT_FOUND);
      await deleteEndpoint(trx, id);
      await audit(trx, caller, 'webhook.deleted', id, { before: { url: row.url } }, now);
    },
    true,
  );
}

/** The endpoint's delivery log, newest first. */
export async function listDeliveries(
  deps: WebhookDeps,
  owner: EndpointOwner,
  endpointId: string,
  page: { limit: number; cursor?: string },
): Promise<{ deliveries: DeliveryView[]; nextCursor: string | null }> {
  const after = page.cursor === undefined ? undefined : decodeKeysetCursor(page.cursor, HttpErrors.INVALID_CURSOR);
  const found = await inOwner(
    deps,
    owner,
    async (trx) => {
      if ((await findEndpoint(trx, owner, endpointId)) === undefined) throw new AppError(WebhookErrors.WEBHOOK_NOT_FOUND);
      return listDeliveryRows(trx, endpointId, { limit: page.limit, ...(after === undefined ? {} : { after }) });
    },
    false,
  );
  return { deliveries: found.rows.map(presentDelivery), nextCursor: found.next === null ? null : encodeKeysetCursor(found.next) };
}

/** Sends a delivery again from its first attempt (a dead letter, or one delivered that the receiver lost). */
export async function replayDelivery(deps: WebhookDeps, caller: WebhookCaller, endpointId: string, deliveryId: string): Promise<DeliveryView> {
  const now = deps.clock.now();
  const row = await inOwner(
    deps,
    caller.owner,
    async (trx) => {
      if ((await findEndpoint(trx, caller.owner, endpointId)) === undefined) throw new AppError(WebhookErrors.WEBHOOK_NOT_FOUND);
      const delivery = await findDeliveryForUpdate(trx, { endpointId, id: deliveryId });
      if (delivery === undefined) throw new AppError(WebhookErrors.DELIVERY_NOT_FOUND);
      if (delivery.status === 'pending') throw new AppError(WebhookErrors.DELIVERY_PENDING, { detail: `${deliveryId} is still being delivered (attempt ${delivery.attempts})` });
      const requeued = await requeueDelivery(trx, deliveryId, now);
      await audit(trx, caller, 'webhook.delivery_replayed', endpointId, { after: { deliveryId, messageId: delivery.message_id, was: delivery.status } }, now);
      return requeued;
    },
    true,
  );
  deps.webhooks?.poke();
  return presentDelivery(row);
}

function present(row: EndpointRow): EndpointView {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    url: row.url,
    description: row.description,
    eventTypes: row.event_types,
    enabled: row.enabled,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function presentDelivery(row: DeliveryRow): DeliveryView {
  return {
    id: row.id,
    endpointId: row.endpoint_id,
    messageId: row.message_id,
    eventType: row.event_type,
    tenantId: row.event_tenant_id,
    status: row.status,
    attempts: row.attempts,
    nextAttemptAt: row.status === 'pending' ? row.next_attempt_at : null,
    lastAttemptAt: row.last_attempt_at,
    lastStatus: row.last_status,
    lastError: row.last_error,
    createdAt: row.created_at,
    deliveredAt: row.delivered_at,
    payload: row.payload,
  };
}
