import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { CompatErrors } from './compat.errors.ts';
import { requirePrincipal } from '../auth/principal.ts';
import { AppError } from '../platform/http/errors.ts';
import type { FastifyTypebox } from '../platform/http/types.ts';
import type { RouteAlias } from '../presets/presets.ts';

/** Response headers an alias passes on from the route it stands for. */
const RELAYED = ['content-type', 'set-cookie', 'retry-after', 'location', 'idempotency-replayed', 'www-authenticate', 'cache-control'];
/** Request headers that describe the outer request's framing, not its meaning. */
const DROPPED = new Set(['host', 'content-length', 'connection', 'transfer-encoding']);

/**
 * A seed system's own paths, kept for integrators migrating from it (seed 000's `POST /api/auth/active-tenant` and
 * `/api/v1/subscriber/…`): each alias forwards the request, headers and body unchanged, to the real route it
 * names and answers with that route's answer, so authentication, validation, authorization, idempotency and audit
 * are the real route's own. `{activeTenantId}` in a target is the caller's tenant: an API key's own, or the
 * tenant a person's token was issued for. The aliases come from the preset's data; other presets have none.
 */
export async function aliasRoutes(app: FastifyTypebox): Promise<void> {
  for (const alias of app.services.preset.aliases) {
    app.route({
      method: alias.method,
      url: alias.path,
      // The real route stores and replays idempotent answers; the alias must not do it a second time.
      config: { idempotency: false },
      schema: {
        tags: ['compatibility'],
        summary: `Alias of ${alias.method} ${alias.target} (${app.services.preset.name} preset)`,
        description: `${alias.description} Forwards to \`${alias.method} ${alias.target}\` and answers exactly as it does; documented there.`,
        ...(alias.path.includes(':userId') ? { params: Type.Object({ userId: Type.String({ minLength: 1, maxLength: 100 }) }) } : {}),
      },
      handler: (request, reply) => forward(app, alias, request, reply),
    });
  }
}

async function forward(app: FastifyTypebox, alias: RouteAlias, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  let url = alias.target;
  if (url.includes('{activeTenantId}')) {
    const tenantId = requirePrincipal(request).tenantId;
    if (tenantId === null)
      throw new AppError(CompatErrors.NO_ACTIVE_TENANT, { detail: 'choose a tenant first (POST /api/v1/auth/active-tenant): this path acts in your active tenant' });
    url = url.replace('{activeTenantId}', encodeURIComponent(tenantId));
  }
  for (const [name, value] of Object.entries((request.params ?? {}) as Record<string, string>)) url = url.replace(`:${name}`, encodeURIComponent(value));
  const query = request.url.indexOf('?');
  if (query !== -1) url += request.url.slice(query);

  const headers: Record<string, string | string[]> = { 'x-request-id': request.id };
  for (const [name, value] of Object.entries(request.headers)) if (value !== undefined && !DROPPED.has(name)) headers[name] = value;
  const res = await app.inject({
    method: alias.method,
    url,
    headers,
    remoteAddress: request.ip,
    ...(request.body === undefined || request.body === null ? {} : { payload: JSON.stringify(request.body) }),
  });
  for (const name of RELAYED) {
    const value = res.headers[name];
    if (value !== undefined) reply.header(name, value);
  }
  return reply.code(res.statusCode).send(res.rawPayload.length === 0 ? null : res.rawPayload);
}
