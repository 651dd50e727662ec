import type { Caller, TenantryGuard } from './guard.ts';
import { TenantryError } from './errors.ts';

/**
 * `requirePermission(p)` for Fastify, Express and Hono: verify the caller's token, ask whether they hold `p` in the
 * tenant the route names (`:tenantId` unless `tenantOf` says otherwise), and either hand the caller to the handler
 * (`request.tenantry`, `req.tenantry`, `c.get('tenantry')`) or answer a problem document (RFC 9457): `401` without a
 * valid token, `403 forbidden` without the permission. The frameworks' types are not imported (the SDK depends on
 * none of them); each adapter takes what it touches.
 */
type Outcome = { ok: true; caller: Caller } | { ok: false; status: number; problem: Record<string, unknown> };

async function decide(guard: TenantryGuard, authorization: string | undefined, tenantId: string | undefined, permission: string): Promise<Outcome> {
  let caller: Caller;
  try {
    caller = await guard.authenticate(authorization);
  } catch (error) {
    if (error instanceof TenantryError && error.status === 401) return { ok: false, status: 401, problem: { status: 401, ...error.problem, title: 'Unauthenticated' } };
    throw error;
  }
  if (tenantId === undefined || tenantId === '') return { ok: false, status: 400, problem: { status: 400, code: 'tenant_required', title: 'The route names no tenant' } };
  if (!(await guard.allowed(caller, tenantId, permission))) {
    return { ok: false, status: 403, problem: { status: 403, code: 'forbidden', title: 'Forbidden', detail: `needs ${permission} in tenant ${tenantId}`, permission } };
  }
  return { ok: true, caller };
}

export interface RequireOptions<R> {
  /** The tenant a request acts in; default: its `tenantId` route parameter. */
  tenantOf?: (request: R) => string | undefined;
}

interface FastifyLikeRequest {
  headers: { authorization?: string | undefined };
  params: unknown;
  tenantry?: Caller;
}
interface FastifyLikeReply {
  code(status: number): FastifyLikeReply;
  type(contentType: string): FastifyLikeReply;
  send(payload: unknown): unknown;
}

/** Fastify: a `preHandler` per route. `request.tenantry` is the caller (declare it on FastifyRequest in your app). */
export function fastifyTenantry(guard: TenantryGuard) {
  return {
    requirePermission<R extends FastifyLikeRequest>(permission: string, options: RequireOptions<R> = {}) {
      return async (request: R, reply: FastifyLikeReply): Promise<void> => {
        const tenantId = options.tenantOf?.(request) ?? (request.params as { tenantId?: string } | undefined)?.tenantId;
        const outcome = await decide(guard, request.headers.authorization, tenantId, permission);
        if (outcome.ok) {
          request.tenantry = outcome.caller;
          return;
        }
        await reply.code(outcome.status).type('application/problem+json').send(outcome.problem);
      };
    },
  };
}

interface ExpressLikeRequest {
  headers: { authorization?: string | undefined };
  params: Record<string, string>;
  tenantry?: Caller;
}
interface ExpressLikeResponse {
  status(code: number): ExpressLikeResponse;
  type(contentType: string): ExpressLikeResponse;
  send(body: unknown): unknown;
}

/** Express: a middleware per route. `req.tenantry` is the caller. */
export function expressTenantry(guard: TenantryGuard) {
  return {
    requirePermission<R extends ExpressLikeRequest>(permission: string, options: RequireOptions<R> = {}) {
      return (req: R, res: ExpressLikeResponse, next: (error?: unknown) => void): void => {
        decide(guard, req.headers.authorization, options.tenantOf?.(req) ?? req.params.tenantId, permission).then((outcome) => {
          if (outcome.ok) {
            req.tenantry = outcome.caller;
            next();
          } else {
            res.status(outcome.status).type('application/problem+json').send(JSON.stringify(outcome.problem));
          }
        }, next);
      };
    },
  };
}

interface HonoLikeContext {
  req: { header(name: string): string | undefined; param(name: string): string | undefined };
  set(key: 'tenantry', value: Caller): void;
  body(data: string, status: number, headers: Record<string, string>): Response;
}

/** Hono: a middleware per route. `c.get('tenantry')` is the caller (type it with `Variables: { tenantry: Caller }`). */
export function honoTenantry(guard: TenantryGuard) {
  return {
    requirePermission<C extends HonoLikeContext>(permission: string, options: RequireOptions<C> = {}) {
      return async (c: C, next: () => Promise<void>): Promise<Response | undefined> => {
        const outcome = await decide(guard, c.req.header('authorization'), options.tenantOf?.(c) ?? c.req.param('tenantId'), permission);
        if (!outcome.ok) return c.body(JSON.stringify(outcome.problem), outcome.status, { 'content-type': 'application/problem+json' });
        c.set('tenantry', outcome.caller);
        await next();
        return undefined;
      };
    },
  };
}
