import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { AdminErrors } from '../admin/admin.errors.ts';
import { requireUser } from '../auth/principal.ts';
import { authorize } from '../permissions/authorize.http.ts';
import { AppError } from '../platform/http/errors.ts';
import { Nullable, Problems, pageOf, pageQuery, TenantId } from '../platform/http/schemas.ts';
import type { FastifyTypebox } from '../platform/http/types.ts';
import { WEBHOOK_EVENT_TYPES } from './events.ts';
import type { EndpointOwner } from './webhooks.repository.ts';
import {
  createEndpoint,
  type DeliveryView,
  type EndpointView,
  getEndpoint,
  listDeliveries,
  listEndpoints,
  removeEndpoint,
  replayDelivery,
  updateEndpoint,
  type WebhookCaller,
  type WebhookDeps,
} from './webhooks.service.ts';

const DateTime = Type.String({ format: 'date-time' });
// Ids in paths are not pattern-checked: an id that is not one is simply not found (404), like any other.
const WebhookId = Type.String({ minLength: 1, maxLength: 100, description: 'A webhook endpoint id (`whk_…`)' });
const DeliveryId = Type.String({ minLength: 1, maxLength: 100, description: 'A delivery id (`whd_…`)' });
const EventTypes = Type.Array(Type.String({ minLength: 1, maxLength: 100 }), {
  maxItems: 100,
  uniqueItems: true,
  description: 'Event types to receive (GET /webhooks/event-types); empty or omitted: every type',
});

const EndpointSchema = Type.Object({
  id: Type.String(),
  tenantId: Nullable(Type.String({ description: 'null: a platform-wide endpoint (operators)' })),
  url: Type.String(),
  description: Type.String(),
  eventTypes: Type.Array(Type.String()),
  enabled: Type.Boolean(),
  createdAt: DateTime,
  updatedAt: DateTime,
});
const DeliverySchema = Type.Object({
  id: Type.String(),
  endpointId: Type.String(),
  messageId: Type.String({ description: 'The `webhook-id` header: the same on every retry and replay' }),
  eventType: Type.String(),
  tenantId: Type.String({ description: 'The tenant the event happened in' }),
  status: Type.Union([Type.Literal('pending'), Type.Literal('delivered'), Type.Literal('dead')], { description: '`dead`: every attempt failed (replay it)' }),
  attempts: Type.Integer(),
  nextAttemptAt: Nullable(DateTime),
  lastAttemptAt: Nullable(DateTime),
  lastStatus: Nullable(Type.Integer({ description: "The receiver's HTTP status at the last attempt; null: no answer" })),
  lastError: Nullable(Type.String()),
  createdAt: DateTime,
  deliveredAt: Nullable(DateTime),
  payload: Type.Unknown({ description: 'The body sent: {type, timestamp, data}' }),
});
const CreateBody = Type.Object(
  {
    url: Type.String({ minLength: 8, maxLength: 2000, description: 'http(s); private and link-local addresses only where the operator allows them' }),
    description: Type.Optional(Type.String({ maxLength: 500 })),
    eventTypes: Type.Optional(EventTypes),
    enabled: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
const PatchBody = Type.Object(
  {
    url: Type.Optional(Type.String({ minLength: 8, maxLength: 2000 })),
    description: Type.Optional(Type.String({ maxLength: 500 })),
    eventTypes: Type.Optional(EventTypes),
    enabled: Type.Optional(Type.Boolean()),
    rotateSecret: Type.Optional(Type.Boolean({ description: 'true: a new signing secret, returned in this response only' })),
  },
  { additionalProperties: false },
);
const Secret = Type.String({ description: 'The Standard Webhooks signing secret (`whsec_…`); shown once, store it now' });

function presentEndpoint(e: EndpointView) {
  return { ...e, createdAt: e.createdAt.toISOString(), updatedAt: e.updatedAt.toISOString() };
}

function presentDelivery(d: DeliveryView) {
  return {
    ...d,
    nextAttemptAt: d.nextAttemptAt?.toISOString() ?? null,
    lastAttemptAt: d.lastAttemptAt?.toISOString() ?? null,
    createdAt: d.createdAt.toISOString(),
    deliveredAt: d.deliveredAt?.toISOString() ?? null,
  };
}

/**
 * Issue 16, webhooks: endpoints per tenant (`webhooks.manage`) under `/tenants/{tenantId}/webhooks`, and
 * platform-wide ones (platform super_admins) under `/admin/webhooks`, which receive every tenant's events. The same
 * routes serve both: `owner` says whose endpoints a request reaches and what it needs.
 */
export async function webhookRoutes(app: FastifyTypebox): Promise<void> {
  const deps: WebhookDeps = app.services;

  app.get(
    '/webhooks/event-types',
    {
      schema: {
        tags: ['webhooks'],
        summary: 'The event types webhook endpoints can receive',
        response: { 200: Type.Object({ eventTypes: Type.Array(Type.String()) }), ...Problems },
      },
    },
    async (request) => {
      requireUser(request);
      return { eventTypes: [...WEBHOOK_EVENT_TYPES] };
    },
  );

  /** The tenant's endpoints, for callers holding `webhooks.manage` there. */
  const tenantCaller = async (request: FastifyRequest, tenantId: string): Promise<WebhookCaller> => {
    const { audit } = await authorize(app, request, tenantId, 'webhooks.manage');
    return { owner: { tenantId }, audit };
  };
  /** The platform's endpoints, for platform super_admins only. */
  const platformCaller = (request: FastifyRequest): WebhookCaller => {
    const principal = requireUser(request);
    if (principal.platformRole !== 'super_admin') throw new AppError(AdminErrors.SUPER_ADMIN_REQUIRED);
    return { owner: 'platform', audit: { actorType: 'user', actorId: principal.userId, via: 'platform_admin', requestId: request.id, ip: request.ip } };
  };

  for (const scope of ['tenant', 'platform'] as const) {
    const base = scope === 'tenant' ? '/tenants/:tenantId/webhooks' : '/admin/webhooks';
    const tags = ['webhooks'];
    const needs = scope === 'tenant' ? 'Needs `webhooks.manage` in the tenant.' : 'Platform super_admin only; these endpoints receive the events of every tenant.';
    const Params = scope === 'tenant' ? Type.Object({ tenantId: TenantId }) : Type.Object({});
    const OneParams = scope === 'tenant' ? Type.Object({ tenantId: TenantId, webhookId: WebhookId }) : Type.Object({ webhookId: WebhookId });
    const DeliveryParams =
      scope === 'tenant' ? Type.Object({ tenantId: TenantId, webhookId: WebhookId, deliveryId: DeliveryId }) : Type.Object({ webhookId: WebhookId, deliveryId: DeliveryId });
    const callerOf = (request: FastifyRequest): Promise<WebhookCaller> | WebhookCaller =>
      scope === 'tenant' ? tenantCaller(request, (request.params as { tenantId: string }).tenantId) : platformCaller(request);
    const ownerOf = async (request: FastifyRequest): Promise<EndpointOwner> => (await callerOf(request)).owner;
    const webhookIdOf = (request: FastifyRequest) => (request.params as { webhookId: string }).webhookId;

    app.post(
      base,
      {
        schema: {
          tags,
          summary: `Create a ${scope === 'tenant' ? "tenant's" : 'platform-wide'} webhook endpoint; its signing secret is in this response only`,
          description: `${needs} Deliveries are signed per Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature). \`422 webhook_url_not_allowed\`, \`422 unknown_event_type\`.`,
          params: Params,
          body: CreateBody,
          response: { 201: Type.Object({ ...EndpointSchema.properties, secret: Secret }), ...Problems },
        },
      },
      async (request, reply) => {
        const { endpoint, secret } = await createEndpoint(deps, await callerOf(request), request.body);
        reply.code(201).header('cache-control', 'no-store');
        return { ...presentEndpoint(endpoint), secret };
      },
    );

    app.get(
      base,
      {
        schema: {
          tags,
          summary: 'Webhook endpoints, oldest first (never a secret)',
          description: needs,
          params: Params,
          response: { 200: Type.Object({ webhooks: Type.Array(EndpointSchema) }), ...Problems },
        },
      },
      async (request) => ({ webhooks: (await listEndpoints(deps, await ownerOf(request))).map(presentEndpoint) }),
    );

    app.get(
      `${base}/:webhookId`,
      { schema: { tags, summary: 'One webhook endpoint', description: needs, params: OneParams, response: { 200: EndpointSchema, ...Problems } } },
      async (request) => presentEndpoint(await getEndpoint(deps, await ownerOf(request), webhookIdOf(request))),
    );

    app.patch(
      `${base}/:webhookId`,
      {
        schema: {
          tags,
          summary: 'Change a webhook endpoint: URL, description, event types, enabled; or rotate its secret',
          description: `${needs} A disabled endpoint receives nothing; its pending deliveries wait until it is enabled again.`,
          params: OneParams,
          body: PatchBody,
          response: { 200: Type.Object({ ...EndpointSchema.properties, secret: Type.Optional(Secret) }), ...Problems },
        },
      },
      async (request, reply) => {
        const { endpoint, secret } = await updateEndpoint(deps, await callerOf(request), webhookIdOf(request), request.body);
        if (secret !== undefined) reply.header('cache-control', 'no-store');
        return { ...presentEndpoint(endpoint), ...(secret === undefined ? {} : { secret }) };
      },
    );

    app.delete(
      `${base}/:webhookId`,
      { schema: { tags, summary: 'Delete a webhook endpoint and its delivery log', description: needs, params: OneParams, response: { 204: Type.Null(), ...Problems } } },
      async (request, reply) => {
        await removeEndpoint(deps, await callerOf(request), webhookIdOf(request));
        return reply.code(204).send(null);
      },
    );

    app.get(
      `${base}/:webhookId/deliveries`,
      {
        schema: {
          tags,
          summary: "The endpoint's delivery log, newest first: every event sent to it, its attempts and the last answer",
          description: needs,
          params: OneParams,
          querystring: Type.Object(pageQuery({ max: 200, byDefault: 50 })),
          response: { 200: Type.Object(pageOf('deliveries', DeliverySchema)), ...Problems },
        },
      },
      async (request) => {
        const { limit, cursor } = request.query as { limit: number; cursor?: string };
        const page = await listDeliveries(deps, await ownerOf(request), webhookIdOf(request), { limit, ...(cursor === undefined ? {} : { cursor }) });
        return { deliveries: page.deliveries.map(presentDelivery), nextCursor: page.nextCursor };
      },
    );

    app.post(
      `${base}/:webhookId/deliveries/:deliveryId/replay`,
      {
        schema: {
          tags,
          summary: 'Send a delivery again, from its first attempt (a dead letter, or one the receiver lost)',
          description: `${needs} The same \`webhook-id\`: receivers that already have it drop it. \`409 delivery_pending\` while it is still being attempted.`,
          params: DeliveryParams,
          response: { 200: DeliverySchema, ...Problems },
        },
      },
      async (request) => {
        const { deliveryId } = request.params as { deliveryId: string };
        return presentDelivery(await replayDelivery(deps, await callerOf(request), webhookIdOf(request), deliveryId));
      },
    );
  }
}
