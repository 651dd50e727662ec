import { findUserById } from '../accounts/users.repository.ts';
import type { AuditContext } from '../audit/audit.repository.ts';
import { changeMemberRoles, removeMember, transferOwnership } from '../members/members.service.ts';
import type { Access } from '../permissions/access.ts';
import type { AccessResolver } from '../permissions/access-resolver.ts';
import { AuthErrors } from '../auth/auth.errors.ts';
import type { Clock } from '../platform/clock.ts';
import type { Db } from '../platform/db/context.ts';
import { AppError } from '../platform/http/errors.ts';
import { changePlan } from '../plans/plans.service.ts';
import type { RolePatch } from '../roles/roles.repository.ts';
import { updateRole } from '../roles/roles.service.ts';
import { requestDeletion } from '../tenants/deletion.service.ts';
import type { ApprovalView, Execute } from './approvals.service.ts';

export interface ActionDeps {
  db: Db;
  clock: Clock;
  access: AccessResolver;
}

/**
 * Carries out an approved request as its initiator: their access is resolved again now, and each action runs
 * through the same service as when no approval is needed, with every check it makes (so an initiator who has
 * since lost the permission, or a tenant that has since changed, makes the request fail with the reason).
 * The audit trail shows the initiator as the actor, under the decider's request id.
 */
export function executorFor(deps: ActionDeps, decision: { requestId: string; ip: string | null }): Execute {
  return async (request: ApprovalView) => {
    const initiator = await findUserById(deps.db, request.requestedBy);
    if (initiator === undefined) throw new AppError(AuthErrors.FORBIDDEN, { detail: 'the person who asked for this no longer has an account' });
    const subject = { userId: initiator.id, isSuperAdmin: initiator.platform_role === 'super_admin' };
    const accessTo = (tenantId: string): Promise<Access> => deps.access.forUser(subject, tenantId);
    const access = await accessTo(request.tenantId);
    const audit: AuditContext = { actorType: 'user', actorId: initiator.id, via: access.via ?? 'direct', requestId: decision.requestId, ip: decision.ip };
    const need = (permission: string) => {
      if (!access.visible || !access.permissions.has(permission)) {
        throw new AppError(AuthErrors.FORBIDDEN, { detail: `the person who asked for this no longer holds ${permission} here`, permission });
      }
    };
    const params = request.params;
    const base = { db: deps.db, clock: deps.clock, preset: deps.access.preset };
    switch (request.action) {
      case 'tenant.delete':
        return requestDeletion({ ...base, preset: deps.access.preset }, { audit, activeTenantId: null, accessTo }, request.tenantId, {
          confirm: String(params.confirm),
          ...(params.includeDescendants === true ? { includeDescendants: true } : {}),
        });
      case 'tenant.transfer_ownership':
        need('tenant.transfer_ownership');
        return transferOwnership(base, { access, audit, userId: initiator.id }, { tenantId: request.tenantId, userId: String(params.userId) }, String(params.confirm));
      case 'tenant.change_plan':
        need('billing.manage');
        return changePlan(base, { audit }, request.tenantId, String(params.plan));
      case 'member.remove_admin':
        need('members.manage');
        // Taking the admin's rights away by changing their roles is held the same way as removing them.
        if (Array.isArray(params.roles)) return changeMemberRoles(base, { access, audit }, { tenantId: request.tenantId, userId: String(params.userId) }, params.roles.map(String));
        return removeMember(base, { access, audit }, { tenantId: request.tenantId, userId: String(params.userId) });
      case 'role.update': {
        // Held because the change took `members.manage` from the role's holders (the member.remove_admin policy).
        need('roles.manage');
        const { key, ...patch } = params;
        return updateRole(base, { access, audit }, String(key), patch as RolePatch);
      }
    }
  };
}
