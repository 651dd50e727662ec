import { Type } from 'typebox';
import { type Principal, requireUser } from '../auth/principal.ts';

import { AppError } from '../platform/http/errors.ts';
import type { FastifyTypebox } from '../platform/http/types.ts';
import { executorFor } from './actions.ts';
import { ApprovalErrors } from './approvals.errors.ts';
import { cancelApproval, decideApproval, getApproval, listApprovals } from './approvals.service.ts';
import { type AccessTo, approvalDeciders, decisionScope, standingIn, visibleBelow } from './deciders.ts';
import { AuthErrors } from '../auth/auth.errors.ts';
import { pageOf, pageQuery, Problems, TenantId } from '../platform/http/schemas.ts';
import { ApprovalRequestSchema, presentApproval, Status } from './approvals.http.ts';
import { accessOf, authorize } from '../permissions/authorize.http.ts';

const ListQuery = Type.Object(
  {
    status: Type.Optional(Status),
    ...pageQuery({ max: 200, byDefault: 50 }),
  },
  { additionalProperties: false },
);
const ListResponse = Type.Object(pageOf('approvalRequests', ApprovalRequestSchema));

/** SPEC 4 "Approvals": list, decide (approve/decline) and cancel requests held by the preset's policy. */
export async function approvalRoutes(app: FastifyTypebox): Promise<void> {
  const deps = app.services;
  const Params = Type.Object({ tenantId: TenantId, requestId: Type.String({ minLength: 1, maxLength: 100 }) });

  const policy = approvalDeciders(app.services.preset);
  const accessTo =
    (principal: Principal): AccessTo =>
    (tenantId) =>
      accessOf(app, principal, tenantId);

  app.get(
    '/approval-requests',
    {
      schema: {
        tags: ['approvals'],
        summary: 'Your decision inbox: the requests you may decide, across every tenant you decide for, newest first',
        description:
          'For a person: the requests of every tenant where you may decide (`approvals.decide` there or in a tenant above it, and — where the ' +
          "preset's policy says deciders come from above, as company-tree's does — not only in that tenant itself) and of every tenant below " +
          'those, leaving out your own requests and those about you (removing you, transferring ownership to you). A platform super admin ' +
          "sees every tenant's. Use `status=pending` for what waits for you; paged with `limit` and `cursor` like other listings.",
        querystring: ListQuery,
        response: { 200: ListResponse, ...Problems },
      },
    },
    async (request) => {
      const person = requireUser(request);
      const scope = await decisionScope(deps.db, policy, { userId: person.userId, isSuperAdmin: person.platformRole === 'super_admin', accessTo: accessTo(person) });
      const { status, cursor, limit } = request.query;
      const page = await listApprovals(deps, scope, {
        decidableBy: person.userId,
        ...(status === undefined ? {} : { status }),
        ...(cursor === undefined ? {} : { cursor }),
        limit,
      });
      return { approvalRequests: page.approvalRequests.map(presentApproval), nextCursor: page.nextCursor };
    },
  );

  app.get(
    '/tenants/:tenantId/approval-requests',
    {
      schema: {
        tags: ['approvals'],
        summary: 'Approval requests of the tenant and, for a decider, of every tenant below it, newest first',
        description:
          'Needs `tenant.read`. Holders of `approvals.decide` here or above see every request of this tenant and of each tenant below it that ' +
          'they can see (a decide grant here or above is above each of those); anyone else sees only the requests they made here. ' +
          '`GET /approval-requests` is the inbox of what you may decide, across every tenant.',
        params: Type.Object({ tenantId: TenantId }),
        querystring: ListQuery,
        response: { 200: ListResponse, ...Problems },
      },
    },
    async (request) => {
      const { tenantId } = request.params;
      const person = requireUser(request);
      await authorize(app, request, tenantId, 'tenant.read');
      const sees = (await standingIn(policy, accessTo(person), tenantId)) !== 'none';
      const tenants = sees ? [tenantId, ...(await visibleBelow(deps.db, accessTo(person), tenantId))] : [tenantId];
      const { status, cursor, limit } = request.query;
      const page = await listApprovals(deps, tenants, {
        ...(sees ? {} : { requestedBy: person.userId }),
        ...(status === undefined ? {} : { status }),
        ...(cursor === undefined ? {} : { cursor }),
        limit,
      });
      return { approvalRequests: page.approvalRequests.map(presentApproval), nextCursor: page.nextCursor };
    },
  );

  app.get(
    '/tenants/:tenantId/approval-requests/:requestId',
    {
      schema: {
        tags: ['approvals'],
        summary: "One approval request and its status (the initiator's, or any for a decider)",
        params: Params,
        response: { 200: ApprovalRequestSchema, ...Problems },
      },
    },
    async (request) => {
      const { tenantId, requestId } = request.params;
      const person = requireUser(request);
      await authorize(app, request, tenantId, 'tenant.read');
      const view = await getApproval(deps, tenantId, requestId);
      if (view.requestedBy !== person.userId && (await standingIn(policy, accessTo(person), tenantId)) === 'none') throw new AppError(ApprovalErrors.APPROVAL_NOT_FOUND);
      return presentApproval(view);
    },
  );

  for (const verb of ['approve', 'decline'] as const) {
    app.post(
      `/tenants/:tenantId/approval-requests/:requestId/${verb}`,
      {
        schema: {
          tags: ['approvals'],
          summary: verb === 'approve' ? 'Approve: the action runs now, as its initiator, and the request says whether it executed or failed' : 'Decline: nothing happens',
          description:
            'Needs `approvals.decide` in the tenant or a tenant above it (or platform super_admin). Where the preset says deciders come from above ' +
            "(company-tree), holding it in the request's own tenant only is not enough (`403 approval_not_from_above`): it must come from an " +
            'ancestor, operator access or the platform. Never the initiator (`403 approval_by_initiator`), never the person the action is about ' +
            '(the admin to be removed, the new owner: `403 approval_by_target`). ' +
            '`409 approval_request_not_pending` once decided, cancelled or expired (requests expire after 7 days). The initiator is mailed the decision.' +
            (verb === 'approve' ? ' The action and the `executed` mark commit together; if the action is refused, the request is `failed` with the reason in `outcome`.' : ''),
          params: Params,
          body: Type.Object(
            { note: Type.Optional(Type.String({ maxLength: 500, description: 'Kept with the decision' })) },
            { additionalProperties: false, description: 'Optional' },
          ),
          response: { 200: ApprovalRequestSchema, ...Problems },
        },
        preValidation: async (request) => {
          request.body ??= {};
        },
      },
      async (request) => {
        const { tenantId, requestId } = request.params;
        const person = requireUser(request);
        const { audit } = await authorize(app, request, tenantId);
        const standing = await standingIn(policy, accessTo(person), tenantId);
        if (standing === 'none') throw new AppError(AuthErrors.FORBIDDEN, { detail: 'deciding needs approvals.decide in this tenant or above it', permission: 'approvals.decide' });
        const execute = executorFor({ db: deps.db, clock: deps.clock, access: app.services.access }, { requestId: request.id, ip: request.ip });
        const view = await decideApproval(
          deps,
          { userId: person.userId, audit, standing },
          { tenantId, id: requestId },
          { approve: verb === 'approve', note: request.body.note ?? null },
          execute,
        );
        return presentApproval(view);
      },
    );
  }

  app.post(
    '/tenants/:tenantId/approval-requests/:requestId/cancel',
    {
      schema: {
        tags: ['approvals'],
        summary: 'Withdraw your own pending request',
        description: 'Only the initiator (`403 approval_not_initiator`); `409 approval_request_not_pending` once it is no longer pending.',
        params: Params,
        response: { 200: ApprovalRequestSchema, ...Problems },
      },
    },
    async (request) => {
      const { tenantId, requestId } = request.params;
      const person = requireUser(request);
      const { audit } = await authorize(app, request, tenantId);
      return presentApproval(await cancelApproval(deps, { userId: person.userId, audit }, { tenantId, id: requestId }));
    },
  );
}
