import type { FastifyRequest } from 'fastify';
import type { UserRow } from '../accounts/users.repository.ts';
import type { AuditContext } from '../audit/audit.repository.ts';
import { AppError } from '../platform/http/errors.ts';
import type { Subject } from '../permissions/access-resolver.ts';
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

/**
 * A tenant's API key, re-validated on this request (not revoked, not expired, its tenant active), acting
 * only in its own tenant with only its permissions.
 */
export interface ApiKeyPrincipal {
  kind: 'api_key';
  keyId: string;
  name: string;
  tenantId: string;
  /** What this request may use: the key's permissions, narrowed to the token's scope for a machine token. */
  permissions: readonly string[];
  /** The key's secret itself as the bearer, or a client-credentials access token minted from it. */
  credential: 'secret' | 'token';
}

export type Principal = UserPrincipal | ApiKeyPrincipal;

/** The principal for a person whose session was found live. */
/** What a person's principal (and `/auth/me`) is built from: the user as the credential cache holds it, without the password hash. */
export type PrincipalUser = Omit<UserRow, 'password_hash'>;

export function userPrincipal(user: PrincipalUser, session: { sessionId: string; tenantId: string | null; transport: UserPrincipal['transport'] }): UserPrincipal {
  return {
    kind: 'user',
    userId: user.id,
    sessionId: session.sessionId,
    email: user.email,
    emailVerified: user.email_verified_at !== null,
    platformRole: user.platform_role,
    tenantId: session.tenantId,
    transport: session.transport,
  };
}

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
  }
}

export function requirePrincipal(request: FastifyRequest): Principal {
  if (request.principal === null) throw new AppError(AuthErrors.UNAUTHENTICATED);
  return request.principal;
}

/** For endpoints that act for a person (their profile, sessions, invitations they accept): never for a key. */
/** The person as the permission resolver and tenant lists know them. */
export function subjectOf(principal: UserPrincipal): Subject {
  return { userId: principal.userId, isSuperAdmin: principal.platformRole === 'super_admin' };
}

export function requireUser(request: FastifyRequest): UserPrincipal {
  const principal = requirePrincipal(request);
  if (principal.kind !== 'user') throw new AppError(AuthErrors.USER_REQUIRED);
  return principal;
}

/** Who is acting on this request, for the audit trail. */
export function auditContextOf(request: FastifyRequest): AuditContext {
  const principal = request.principal;
  const actor = principal === null ? { actorType: 'system' as const, actorId: null } : actorOf(principal);
  return { ...actor, requestId: request.id, ip: request.ip };
}

export function actorOf(principal: Principal): Pick<AuditContext, 'actorType' | 'actorId'> {
  return principal.kind === 'user' ? { actorType: 'user', actorId: principal.userId } : { actorType: 'api_key', actorId: principal.keyId };
}
