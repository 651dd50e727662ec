import { randomUUID } from 'node:crypto';
import Fastify from 'fastify';
import { type Caller, fastifyTenantry, TenantryClient, TenantryGuard, verifyTenantryWebhook } from '../../sdk/src/index.ts';

declare module 'fastify' {
  interface FastifyRequest {
    tenantry?: Caller;
  }
}

/**
 * A tenant-scoped IoT devices API behind Tenantry (issue 16): any member of a tenant lists its devices
 * (`tenant.read`), those who manage MQTT clients register them (`mqtt_clients.manage`, the mqtt-portal preset). The
 * wiring is the first block; everything after it is the service's own business.
 */
export function devicesApi(options: { tenantryUrl: string; webhookSecret?: string }) {
  // — wiring —
  const guard = new TenantryGuard(new TenantryClient({ baseUrl: options.tenantryUrl }));
  const { requirePermission } = fastifyTenantry(guard);
  const app = Fastify();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => done(null, body));
  app.post('/tenantry/events', async (request, reply) => {
    if (options.webhookSecret === undefined) return reply.code(404).send();
    const headers = request.headers as Record<string, string>;
    guard.handleEvent(verifyTenantryWebhook(options.webhookSecret, request.body as string, headers) as Parameters<typeof guard.handleEvent>[0]);
    return reply.code(204).send();
  });
  // — the service —
  const devices = new Map<string, Array<{ id: string; name: string; registeredBy: string }>>();
  app.get<{ Params: { tenantId: string } }>('/tenants/:tenantId/devices', { preHandler: requirePermission('tenant.read') }, async (request) => ({
    devices: devices.get(request.params.tenantId) ?? [],
  }));
  app.post<{ Params: { tenantId: string } }>('/tenants/:tenantId/devices', { preHandler: requirePermission('mqtt_clients.manage') }, async (request, reply) => {
    const { name } = JSON.parse(request.body as string) as { name: string };
    const caller = request.tenantry as Caller;
    const device = { id: randomUUID(), name, registeredBy: caller.kind === 'user' ? caller.userId : caller.keyId };
    devices.set(request.params.tenantId, [...(devices.get(request.params.tenantId) ?? []), device]);
    return reply.code(201).send(device);
  });
  return { app, guard };
}
