import type { Tx } from '../platform/db/context.ts';
import { newId } from '../platform/ids.ts';

/**
 * The events a webhook endpoint can receive (issue 16): every audit-worthy change to a tenant, its members,
 * invitations, roles, features, keys and approvals. Each is an audit action (the audit trail and the webhook are
 * written by the same `appendAuditEvent`), so an event and its audit record never disagree. People's own account
 * events (sign-in, password, sessions) and refusals are not webhook events.
 */
export const WEBHOOK_EVENT_TYPES = [
  'tenant.created',
  'tenant.child_created',
  'tenant.updated',
  'tenant.moved',
  'tenant.suspended',
  'tenant.resumed',
  'tenant.deletion_requested',
  'tenant.restored',
  'tenant.purged',
  'tenant.ownership_transferred',
  'member.added',
  'member.joined',
  'member.roles_changed',
  'member.removed',
  'invitation.created',
  'invitation.renewed',
  'invitation.accepted',
  'invitation.revoked',
  'role.created',
  'role.updated',
  'role.deleted',
  'features.updated',
  'api_key.created',
  'api_key.revoked',
  'approval.requested',
  'approval.executed',
  'approval.failed',
  'approval.declined',
  'approval.cancelled',
] as const;

export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

const TYPES: ReadonlySet<string> = new Set(WEBHOOK_EVENT_TYPES);

export function isWebhookEventType(type: string): type is WebhookEventType {
  return TYPES.has(type);
}

/** The outbox topic of events waiting to be fanned out to endpoints (src/webhooks/webhooks.worker.ts). */
export const EVENT_TOPIC = 'webhook-event';

/** An event as endpoints receive it: the Standard Webhooks body is `{type, timestamp, data}`. */
export interface WebhookEvent {
  /** The `webhook-id` every endpoint and every retry of this event carries. */
  messageId: string;
  type: WebhookEventType;
  timestamp: string;
  data: {
    tenantId: string;
    actor: { type: string; id: string | null; via: string };
    target: { type: string | null; id: string | null };
    before: unknown;
    after: unknown;
    requestId: string | null;
  };
}

/**
 * Queues the event in the caller's transaction (the change's own): it is fanned out only if the change commits, and
 * then for certain. Called by `appendAuditEvent` for every action in the catalogue.
 */
export async function queueWebhookEvent(trx: Tx, event: Omit<WebhookEvent, 'messageId'>, now: Date): Promise<void> {
  const payload: WebhookEvent = { messageId: newId('webhookMessage'), ...event };
  await trx
    .insertInto('outbox')
    .values({ id: newId('outbox'), topic: EVENT_TOPIC, payload: JSON.stringify(payload), created_at: now, available_at: now })
    .execute();
}
