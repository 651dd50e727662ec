import { Type } from 'typebox';
import { Email, TokenFields } from '../auth/auth.schemas.ts';
import { auditContextOf, requireUser, subjectOf } from '../auth/principal.ts';
import { switchActiveTenant } from '../auth/sessions.service.ts';
import type { FastifyTypebox } from '../platform/http/types.ts';
import { acceptInvitation, createInvitation, listInvitations, previewInvitation, revokeInvitation } from './invitations.service.ts';
import { pageOf, pageQuery, Problems, TenantId } from '../platform/http/schemas.ts';
import { credentialRateLimit, deliverTokens } from '../auth/auth.http.ts';
import { InvitationPreviewSchema, presentInvitation, presentInvitationPreview } from './invitations.http.ts';
import { authorize } from '../permissions/authorize.http.ts';

const RoleKey = Type.String({ pattern: '^[a-z][a-z0-9_]{0,62}$', description: 'A built-in role of the preset or a custom role of this tenant or an ancestor' });
// Any text: a token we never issued is simply not found (404), like a guessed one.
const InvitationToken = Type.String({ minLength: 1, maxLength: 200, description: 'The token from the invitation link `/team-invite/<token>`' });
const InvitationId = Type.String({ minLength: 1, maxLength: 100, description: 'An invitation id' });

const Status = Type.Union([Type.Literal('pending'), Type.Literal('accepted'), Type.Literal('revoked'), Type.Literal('expired')], {
  description: '`expired`: still pending in the database, but past `expiresAt`',
});

const InvitationSchema = Type.Object({
  id: Type.String(),
  email: Type.String(),
  roles: Type.Array(Type.String(), { description: 'Sorted role keys' }),
  status: Status,
  expiresAt: Type.String({ format: 'date-time' }),
  createdAt: Type.String({ format: 'date-time' }),
  invitedBy: Type.Union([Type.String(), Type.Null()], { description: 'The user id of whoever sent (or last renewed) the invitation' }),
  acceptedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  revokedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
});

export async function invitationRoutes(app: FastifyTypebox): Promise<void> {
  const deps = app.services;

  app.post(
    '/tenants/:tenantId/invitations',
    {
      schema: {
        tags: ['invitations'],
        summary: 'Invite an email address into the tenant with roles; the link goes by mail',
        description:
          'Needs `members.invite`. The roles must exist here and give nothing beyond what your roles give. ' +
          'Inviting an address that already has a pending invitation renews it: a new link, roles and expiry, and the old link stops working. ' +
          'The token is never in the response. Inviting a member answers `409 already_member`; a pending invitation holds a seat of the ' +
          "plan's member limit (`409 plan_limit_reached` when none is left; renewing takes no new seat).",
        params: Type.Object({ tenantId: TenantId }),
        body: Type.Object({ email: Email, roles: Type.Array(RoleKey, { minItems: 1, maxItems: 50, uniqueItems: true }) }, { additionalProperties: false }),
        response: { 201: InvitationSchema, ...Problems },
      },
    },
    async (request, reply) => {
      const { tenantId } = request.params;
      const acting = await authorize(app, request, tenantId, 'members.invite');
      const view = await createInvitation(deps, acting, tenantId, request.body);
      reply.code(201);
      return presentInvitation(view);
    },
  );

  app.get(
    '/tenants/:tenantId/invitations',
    {
      schema: {
        tags: ['invitations'],
        summary: "List the tenant's invitations with their status",
        description: 'Needs `members.invite` (invitations name people who are not members yet). Newest first.',
        params: Type.Object({ tenantId: TenantId }),
        querystring: Type.Object(
          {
            status: Type.Optional(Status),
            ...pageQuery({ max: 200, byDefault: 100 }),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object(pageOf('invitations', InvitationSchema)),
          ...Problems,
        },
      },
    },
    async (request) => {
      const { tenantId } = request.params;
      await authorize(app, request, tenantId, 'members.invite');
      const { status, limit, cursor } = request.query;
      const page = await listInvitations(deps, tenantId, { limit, ...(status === undefined ? {} : { status }), ...(cursor === undefined ? {} : { cursor }) });
      return { invitations: page.invitations.map(presentInvitation), nextCursor: page.nextCursor };
    },
  );

  app.delete(
    '/tenants/:tenantId/invitations/:invitationId',
    {
      schema: {
        tags: ['invitations'],
        summary: 'Revoke an invitation: its link stops working',
        description: 'Needs `members.invite`. Revoking a revoked invitation changes nothing; an accepted one answers `409 invitation_not_pending`.',
        params: Type.Object({ tenantId: TenantId, invitationId: InvitationId }),
        response: { 204: Type.Null(), ...Problems },
      },
    },
    async (request, reply) => {
      const { tenantId, invitationId } = request.params;
      const acting = await authorize(app, request, tenantId, 'members.invite');
      await revokeInvitation(deps, acting, { tenantId, invitationId });
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/invitations/:token',
    {
      config: credentialRateLimit(app),
      schema: {
        tags: ['invitations'],
        summary: 'Preview an invitation from its link, without signing in',
        description:
          'Shows the tenant, roles, inviter and expiry. Unknown tokens answer `404 invitation_not_found`; ' +
          'expired, revoked and used ones `410 invitation_expired` / `invitation_revoked` / `invitation_used`, revealing nothing else. Rate limited per client IP.',
        params: Type.Object({ token: InvitationToken }),
        response: { 200: InvitationPreviewSchema, ...Problems },
      },
    },
    async (request) => presentInvitationPreview(await previewInvitation(deps, request.params.token)),
  );

  app.post(
    '/invitations/:token/accept',
    {
      config: credentialRateLimit(app),
      schema: {
        tags: ['invitations'],
        summary: 'Accept an invitation: join the tenant and switch to it',
        description:
          'Needs a signed-in user whose verified email is the invited one (`403 invitation_email_mismatch`, `403 email_not_verified`). ' +
          'Creates the membership with the invited roles and re-issues tokens (and cookies) with the invited tenant active. ' +
          'A direct member gets `409 already_member` and the invitation stays pending. Rate limited per client IP.',
        params: Type.Object({ token: InvitationToken }),
        response: {
          200: Type.Object({ tenantId: Type.String(), roles: Type.Array(Type.String(), { description: 'Your roles in the tenant now' }), ...TokenFields }),
          ...Problems,
        },
      },
    },
    async (request, reply) => {
      const principal = requireUser(request);
      const joined = await acceptInvitation(deps, principal, request.params.token, auditContextOf(request));
      // After the acceptance committed (which dropped this process's cached lists): the token speaks of the new tenant.
      const tokens = await switchActiveTenant(app.services, { subject: subjectOf(principal), sessionId: principal.sessionId, tenantId: joined.tenantId });
      return { tenantId: joined.tenantId, roles: joined.roles, ...deliverTokens(app, reply, tokens, principal.transport === 'cookie') };
    },
  );
}
