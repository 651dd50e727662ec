import { Type } from 'typebox';
import type { FastifyTypebox } from '../platform/http/types.ts';
import { needsApproval } from '../approvals/approvals.service.ts';
import { assertKnownPlan, changePlan, getPlan, type PlanDeps, type PlanView } from './plans.service.ts';
import { Nullable, Problems, TenantId } from '../platform/http/schemas.ts';
import { ApprovalAccepted, holdForApproval, isHeldFor } from '../approvals/approvals.http.ts';
import { authorize } from '../permissions/authorize.http.ts';

const TenantParams = Type.Object({ tenantId: TenantId });
const Limit = Nullable(Type.Integer({ minimum: 0, description: 'null: unlimited' }));
const PlanSchema = Type.Object({
  key: Type.String(),
  name: Type.String(),
  limits: Type.Object({
    members: Type.Union([Limit], { description: 'Direct members plus pending invitations' }),
    childTenants: Limit,
    apiKeys: Type.Union([Limit], { description: 'Keys neither revoked nor expired' }),
  }),
});
const LimitedResource = Type.Union([Type.Literal('members'), Type.Literal('childTenants'), Type.Literal('apiKeys')]);

const PlanViewSchema = Type.Object({
  plan: Type.Union([PlanSchema, Type.Null()], { description: 'The plan in force; null only when the preset has no plans' }),
  scheduledChange: Nullable(Type.Object({ plan: PlanSchema, at: Type.String({ format: 'date-time' }) }, { description: 'A downgrade waiting for the end of the billing period' })),
  periodEndsAt: Type.String({ format: 'date-time', description: "End of the current billing period (monthly from the tenant's creation)" }),
  usage: Type.Object({
    members: Type.Integer({ description: 'Direct members; shadow memberships never count' }),
    pendingInvitations: Type.Integer({ description: 'Pending, unexpired invitations: they count toward the member limit' }),
    childTenants: Type.Integer(),
    apiKeys: Type.Integer(),
  }),
  overLimit: Type.Array(LimitedResource, { description: 'Limits the tenant is over after a downgrade: it keeps what it has and cannot add more' }),
  plans: Type.Array(PlanSchema, { description: 'Every plan of the installation, lowest tier first' }),
});

function presentPlan(view: PlanView) {
  return {
    ...view,
    scheduledChange: view.scheduledChange === null ? null : { plan: view.scheduledChange.plan, at: view.scheduledChange.at.toISOString() },
    periodEndsAt: view.periodEndsAt.toISOString(),
  };
}

/** SPEC 4 "Plans": tiers with limits on members (pending invitations included), child tenants and API keys. */
export async function planRoutes(app: FastifyTypebox): Promise<void> {
  const deps: PlanDeps = app.services;

  app.get(
    '/tenants/:tenantId/plan',
    {
      schema: {
        tags: ['plans'],
        summary: "The tenant's plan, its limits and what counts against them",
        description: 'Needs `tenant.read`.',
        params: TenantParams,
        response: { 200: PlanViewSchema, ...Problems },
      },
    },
    async (request) => {
      const { tenantId } = request.params;
      await authorize(app, request, tenantId, 'tenant.read');
      return presentPlan(await getPlan(deps, tenantId));
    },
  );

  app.put(
    '/tenants/:tenantId/plan',
    {
      schema: {
        tags: ['plans'],
        summary: 'Change the plan: upgrades apply now, downgrades at the end of the billing period',
        description:
          'Needs `billing.manage`. A higher tier applies at once; a lower one is scheduled for `periodEndsAt` (see `scheduledChange`); ' +
          'asking for the plan in force cancels a scheduled change. A downgrade removes nothing: over a lower limit, the tenant keeps ' +
          'what it has and further additions answer `409 plan_limit_reached`. `422 unknown_plan` for a plan the installation does not have. ' +
          'Where the policy holds plan changes for approval, `202` with an approval request.',
        params: TenantParams,
        body: Type.Object({ plan: Type.String({ minLength: 1, maxLength: 63 }) }, { additionalProperties: false }),
        response: { 200: PlanViewSchema, 202: ApprovalAccepted, ...Problems },
      },
    },
    async (request, reply) => {
      const { tenantId } = request.params;
      const caller = await authorize(app, request, tenantId, 'billing.manage');
      if (needsApproval(deps.preset, 'tenant.change_plan') && (await isHeldFor(app, request, tenantId, 'tenant.change_plan'))) {
        assertKnownPlan(deps.preset, request.body.plan);
        return holdForApproval(app, request, reply, tenantId, 'tenant.change_plan', { plan: request.body.plan });
      }
      return presentPlan(await changePlan(deps, caller, tenantId, request.body.plan));
    },
  );
}
