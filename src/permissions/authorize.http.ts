import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AuthErrors } from '../auth/auth.errors.ts';
import { actorOf, type Principal, requirePrincipal } from '../auth/principal.ts';
import { AppError } from '../platform/http/errors.ts';
import type { Access } from './access.ts';
import { explain } from './access.ts';
import { type Authorized, principalAccess } from './authorize.ts';

/** The HTTP edge of authorization: the request's principal, the app's resolver, a 404 or 403 as problem documents. */

/**
 * The gate of every tenant-scoped endpoint: the caller must reach the tenant somehow (else 404, which
 * never reveals that it exists) and, when `permission` is given, hold it there (else 403 with the reason).
 */
export async function authorize(app: FastifyInstance, request: FastifyRequest, tenantId: string, permission?: string): Promise<Authorized & { principal: Principal }> {
  const principal = requirePrincipal(request);
  const access = await accessOf(app, principal, tenantId);
  if (!access.visible) throw new AppError(AuthErrors.TENANT_NOT_FOUND);
  if (permission !== undefined && !access.permissions.has(permission)) {
    throw new AppError(AuthErrors.FORBIDDEN, { detail: explain(app.services.preset, access, permission).reason, permission });
  }
  return {
    principal,
    access,
    audit: { ...actorOf(principal), via: access.via ?? 'direct', requestId: request.id, ip: request.ip },
  };
}

/** What a principal may do in `tenantId`: a person through their roles, a key through its own permissions. */
export function accessOf(app: FastifyInstance, principal: Principal, tenantId: string): Promise<Access> {
  return principalAccess(app.services.access, principal, tenantId);
}
