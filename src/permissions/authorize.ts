import type { AuditContext } from '../audit/audit.repository.ts';
import { type Principal, subjectOf } from '../auth/principal.ts';
import { AuthErrors } from '../auth/auth.errors.ts';
import { AppError } from '../platform/http/errors.ts';
import type { RoleDefinition } from '../presets/presets.ts';
import type { Access } from './access.ts';
import type { AccessResolver } from './access-resolver.ts';

/**
 * Who is acting, as every service takes it: what they may do in the tenant and how the audit trail names them. A
 * request's caller comes with its `principal`; the operator at the console (`tenantry admin`) and an approved action
 * carried out for its initiator have none.
 */
export interface Authorized {
  principal?: Principal | null;
  access: Access;
  /** The audit context for this request, with how the caller reached the tenant. */
  audit: AuditContext;
}

/** `accessOf` for code without the Fastify instance: the resolver is all it needs. */
export function principalAccess(resolver: Pick<AccessResolver, 'forUser' | 'forKey'>, principal: Principal, tenantId: string): Promise<Access> {
  return principal.kind === 'user' ? resolver.forUser(subjectOf(principal), tenantId) : resolver.forKey(principal, tenantId);
}

/**
 * Nothing granted may exceed the granter's own permissions in that tenant (SPEC 1). Compared with what the
 * granter's roles grant, before feature and status filters: an owner may hand out a role whose add-on
 * permission is off right now (it stays off for the grantee too until the feature is on).
 */
export function assertCanGrant(access: Access, permissions: Iterable<string>): void {
  const missing = [...permissions].filter((p) => !access.roleGrants.has(p));
  if (missing.length > 0) {
    throw new AppError(AuthErrors.FORBIDDEN, {
      detail: `you cannot grant permissions you do not hold here: ${missing.sort().join(', ')}`,
      missingPermissions: missing,
    });
  }
}

/**
 * Roles to be granted: each within what the granter's roles give here, and a `tenant_and_descendants` one also
 * within what they give in the tenants below (`reachBelow`), or the grantee would gain authority below that the
 * granter never had there (issue 10).
 */
export function assertCanGrantRoles(access: Access, roles: Iterable<Pick<RoleDefinition, 'scope' | 'permissions'>>): void {
  const here = new Set<string>();
  const below = new Set<string>();
  for (const role of roles) {
    for (const p of role.permissions) {
      here.add(p);
      if (role.scope === 'tenant_and_descendants') below.add(p);
    }
  }
  assertCanGrant(access, here);
  assertCanGrantBelow(access, below);
}

/** A grant that reaches the tenants below may not exceed what the granter's roles give there. */
export function assertCanGrantBelow(access: Access, permissions: Iterable<string>): void {
  const missing = [...permissions].filter((p) => !access.reachBelow.has(p));
  if (missing.length > 0) {
    throw new AppError(AuthErrors.FORBIDDEN, {
      detail:
        'this grant reaches the tenants below, where you do not hold ' +
        `${missing.sort().join(', ')}: only a role that itself applies to descendants (here or above), or the platform, can give that`,
      missingPermissions: missing,
    });
  }
}
