import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { requireUser } from '../auth/principal.ts';
import type { ApprovalAction } from '../platform/db/schema.ts';
import { Nullable } from '../platform/http/schemas.ts';
import type { FastifyTypebox } from '../platform/http/types.ts';
import { type ApprovalView, recordApprovalNotRequired, requestApproval } from './approvals.service.ts';
import { authorize } from '../permissions/authorize.http.ts';

/** The HTTP side of holding an action for approval, which the routes of every holdable action share. */

const DateTime = Type.String({ format: 'date-time' });
export const Status = Type.Union([
  Type.Literal('pending'),
  Type.Literal('executed'),
  Type.Literal('failed'),
  Type.Literal('declined'),
  Type.Literal('cancelled'),
  Type.Literal('expired'),
]);

export const ApprovalRequestSchema = Type.Object({
  id: Type.String(),
  tenantId: Type.String(),
  action: Type.String({
    description:
      'tenant.delete, tenant.transfer_ownership, tenant.change_plan, member.remove_admin or role.update (a role change that takes members.manage from its holders, held under the member.remove_admin policy)',
  }),
  params: Type.Record(Type.String(), Type.Unknown(), { description: 'What the action will be called with once approved' }),
  status: Status,
  requestedBy: Type.String(),
  decidedBy: Nullable(Type.String()),
  note: Nullable(Type.String()),
  outcome: Nullable(Type.Record(Type.String(), Type.Unknown(), { description: 'For `failed`: the problem the action answered with' })),
  createdAt: DateTime,
  expiresAt: DateTime,
  decidedAt: Nullable(DateTime),
});

/** The `202` an action held for approval answers with. */
export const ApprovalAccepted = Type.Object({ approvalRequest: ApprovalRequestSchema }, { description: 'Held for approval: nothing happens until a decider approves' });

export function presentApproval(view: ApprovalView) {
  return { ...view, createdAt: view.createdAt.toISOString(), expiresAt: view.expiresAt.toISOString(), decidedAt: view.decidedAt?.toISOString() ?? null };
}

/**
 * For the routes of actions a policy may hold, after `needsApproval(preset, action)` and the route's own
 * conditions: whether the hold applies to this caller. A platform super admin's own actions are never held
 * (nobody is above them to approve; SPEC 4 names the super admin among the deciders): for them this records
 * `approval.not_required` in the tenant's trail and answers false, and the route carries the action out at once.
 * Evaluated last in the route's condition, so the record exists only where the action would have been held.
 */
export async function isHeldFor(app: FastifyTypebox, request: FastifyRequest, tenantId: string, action: ApprovalAction): Promise<boolean> {
  const principal = request.principal;
  if (principal?.kind !== 'user' || principal.platformRole !== 'super_admin') return true;
  const { audit } = await authorize(app, request, tenantId);
  await recordApprovalNotRequired(app.services, audit, tenantId, action);
  return false;
}

/**
 * For the routes of actions a policy holds (SPEC 4): records the request as the signed-in caller, mails those
 * who may decide it, and answers `202 {approvalRequest}`. The caller has passed the route's own checks already.
 */
export async function holdForApproval(
  app: FastifyTypebox,
  request: FastifyRequest,
  reply: FastifyReply,
  tenantId: string,
  action: ApprovalAction,
  params: Record<string, unknown>,
) {
  const person = requireUser(request);
  const { audit } = await authorize(app, request, tenantId);
  const view = await requestApproval(app.services, { userId: person.userId, audit }, tenantId, action, params);
  reply.code(202);
  return { approvalRequest: presentApproval(view) };
}
