import type { FastifyRequest } from 'fastify';
import type { AuditContext } from '../audit/audit.repository.ts';
import { AppError } from '../platform/http/errors.ts';
import { AuthErrors } from './auth.errors.ts';

/** A signed-in person, re-validated on this request (session live, user present). */
export interface UserPrincipal {
  kind: 'user';
  userId: string;
  sessionId: string;
  email: string;
  emailVerified: boolean;
  platformRole: 'super_admin' | null;
  /** The active tenant the access token was issued for, if any. */
  tenantId: string | null;
  /** How the credentials arrived; cookie-authenticated writes need a CSRF token. */
  transport: 'bearer' | 'cookie';
}

export type Principal = UserPrincipal;

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
  }
}

export function requireUser(request: FastifyRequest): UserPrincipal {
  const principal = request.principal;
  if (principal === null || principal.kind !== 'user') throw new AppError(AuthErrors.UNAUTHENTICATED);
  return principal;
}

/** Who is acting on this request, for the audit trail. */
export function auditContextOf(request: FastifyRequest): AuditContext {
  const principal = request.principal;
  return {
    actorType: principal === null ? 'system' : 'user',
    actorId: principal?.userId ?? null,
    requestId: request.id,
    ip: request.ip,
  };
}
