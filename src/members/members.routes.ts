import { Type } from 'typebox';
import { requirePrincipal, requireUser, subjectOf } from '../auth/principal.ts';
import { needsApproval } from '../approvals/approvals.service.ts';
import { AppError } from '../platform/http/errors.ts';
import { TenantErrors } from '../tenants/tenants.errors.ts';
import { getTenant } from '../tenants/tenants.service.ts';
import type { FastifyTypebox } from '../platform/http/types.ts';
import { MemberErrors } from './members.errors.ts';
import type { MemberRecord } from './memberships.repository.ts';
import { addMember, changeMemberRoles, leaveTenant, listMembers, type MemberDeps, removeMember, rolesGrant, transferOwnership } from './members.service.ts';
import { pageOf, pageQuery, Problems, TenantId } from '../platform/http/schemas.ts';
import { ApprovalAccepted, holdForApproval, isHeldFor } from '../approvals/approvals.http.ts';
import { authorize } from '../permissions/authorize.http.ts';

const RoleKey = Type.String({ pattern: '^[a-z][a-z0-9_]{0,62}$', description: 'A built-in role of the preset or a custom role of this tenant or an ancestor' });
// Any text: an id that cannot exist is simply not a member (404), like any other stranger.
const UserId = Type.String({ minLength: 1, maxLength: 100, description: 'A user id' });
const MemberParams = Type.Object({ tenantId: TenantId, userId: UserId });
const Roles = Type.Array(RoleKey, { minItems: 1, maxItems: 50, uniqueItems: true });

const MemberSchema = Type.Object({
  userId: Type.String(),
  email: Type.String(),
  name: Type.Union([Type.String(), Type.Null()]),
  roles: Type.Array(Type.String(), { description: 'Sorted' }),
  kind: Type.Literal('direct', { description: 'Shadow (operator) memberships are never listed' }),
  joinedAt: Type.String({ format: 'date-time' }),
});

function presentMember(member: MemberRecord) {
  return { userId: member.userId, email: member.email, name: member.name, roles: member.roles, kind: 'direct' as const, joinedAt: member.joinedAt.toISOString() };
}

export async function memberRoutes(app: FastifyTypebox): Promise<void> {
  const deps: MemberDeps = app.services;

  /** A direct member who administers the tenant (holds `members.manage` there): removing one may need approval. */
  const isAdministrator = async (userId: string, tenantId: string) => {
    const theirs = await app.services.access.forUser({ userId, isSuperAdmin: false }, tenantId);
    return theirs.membership?.kind === 'direct' && theirs.permissions.has('members.manage');
  };
  /** Checked before a request is held for approval, so a typo is answered now rather than after a decider's approval. */
  const assertSlug = async (tenantId: string, confirm: string) => {
    const tenant = await getTenant(deps, tenantId);
    if (tenant.slug !== confirm) throw new AppError(TenantErrors.CONFIRMATION_MISMATCH, { detail: "type the tenant's slug in confirm" });
  };

  app.get(
    '/tenants/:tenantId/members',
    {
      schema: {
        tags: ['members'],
        summary: "List the tenant's members and their roles",
        description: 'Needs `members.read`. Oldest membership first. Shadow (operator) memberships never appear.',
        params: Type.Object({ tenantId: TenantId }),
        querystring: Type.Object(
          {
            ...pageQuery({ max: 200, byDefault: 100 }),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object(pageOf('members', MemberSchema)),
          ...Problems,
        },
      },
    },
    async (request) => {
      const { tenantId } = request.params;
      await authorize(app, request, tenantId, 'members.read');
      const page = await listMembers(deps, tenantId, { limit: request.query.limit, ...(request.query.cursor === undefined ? {} : { cursor: request.query.cursor }) });
      return { members: page.members.map(presentMember), nextCursor: page.nextCursor };
    },
  );

  app.post(
    '/tenants/:tenantId/members',
    {
      schema: {
        tags: ['members'],
        summary: 'Add a person who already has an account, without an invitation (API keys and platform operators)',
        description:
          'For automation (seed 000\'s Mgmt REST API, "manage members programmatically") and the platform\'s operators: an API key with ' +
          '`members.manage`, or a platform super admin. Everyone else invites (`POST /tenants/{tenantId}/invitations`), and is told so with ' +
          '`403 direct_add_not_allowed`: a person joins a tenant by accepting. Name the person by `userId` or `email` (`404 user_not_found` if ' +
          "there is no such account). The roles must exist here (`422 unknown_role`) and give nothing beyond the caller's; `409 already_member`; " +
          "`409 plan_limit_reached` when the plan has no room. An operator's shadow membership becomes a direct one with exactly these roles.",
        params: Type.Object({ tenantId: TenantId }),
        body: Type.Union([
          Type.Object({ userId: UserId, roles: Roles }, { additionalProperties: false }),
          Type.Object({ email: Type.String({ minLength: 3, maxLength: 254 }), roles: Roles }, { additionalProperties: false }),
        ]),
        response: { 201: Type.Object({ member: MemberSchema }), ...Problems },
      },
    },
    async (request, reply) => {
      const { tenantId } = request.params;
      const { access, audit } = await authorize(app, request, tenantId, 'members.manage');
      const principal = requirePrincipal(request);
      if (principal.kind === 'user' && !subjectOf(principal).isSuperAdmin) {
        throw new AppError(MemberErrors.DIRECT_ADD_NOT_ALLOWED, { detail: 'invite them: POST /api/v1/tenants/{tenantId}/invitations' });
      }
      const { roles, ...who } = request.body;
      const member = await addMember(deps, { access, audit }, tenantId, who, roles);
      reply.code(201);
      return { member: presentMember(member) };
    },
  );

  app.patch(
    '/tenants/:tenantId/members/:userId',
    {
      schema: {
        tags: ['members'],
        summary: "Replace a member's roles",
        description:
          'Needs `members.manage`. You can grant only permissions you hold, and change only a member whose current roles give nothing beyond yours. ' +
          'The tenant always keeps at least one owner (`409 last_owner`). Where the policy holds `member.remove_admin` (company-tree), taking ' +
          '`members.manage` away from a member who administers the tenant answers `202` with an approval request, as removing them would.',
        params: MemberParams,
        body: Type.Object({ roles: Roles }, { additionalProperties: false }),
        response: { 200: Type.Object({ member: MemberSchema }), 202: ApprovalAccepted, ...Problems },
      },
    },
    async (request, reply) => {
      const { tenantId, userId } = request.params;
      const { access, audit } = await authorize(app, request, tenantId, 'members.manage');
      const { roles } = request.body;
      if (
        needsApproval(deps.preset, 'member.remove_admin') &&
        (await isAdministrator(userId, tenantId)) &&
        !(await rolesGrant(deps, access, tenantId, roles, 'members.manage')) &&
        (await isHeldFor(app, request, tenantId, 'member.remove_admin'))
      ) {
        return holdForApproval(app, request, reply, tenantId, 'member.remove_admin', { userId, roles });
      }
      const member = await changeMemberRoles(deps, { access, audit }, { tenantId, userId }, roles);
      return { member: presentMember(member) };
    },
  );

  app.delete(
    '/tenants/:tenantId/members/:userId',
    {
      schema: {
        tags: ['members'],
        summary: 'Remove a member, or leave the tenant (your own user id)',
        description:
          'Removing someone else needs `members.manage` and at least their permissions; leaving needs only your own direct membership. ' +
          'The tenant always keeps at least one owner (`409 last_owner`). The user account itself stays. Where the policy holds ' +
          '`member.remove_admin` (company-tree), removing a member who administers the tenant (`members.manage`) answers `202` with an approval request.',
        params: MemberParams,
        response: { 202: ApprovalAccepted, 204: Type.Null(), ...Problems },
      },
    },
    async (request, reply) => {
      const { tenantId, userId } = request.params;
      const principal = requirePrincipal(request);
      const isSelf = principal.kind === 'user' && principal.userId === userId;
      const { access, audit } = await authorize(app, request, tenantId, isSelf ? undefined : 'members.manage');
      if (isSelf) await leaveTenant(deps, { access, audit }, { tenantId, userId });
      else if (needsApproval(deps.preset, 'member.remove_admin') && (await isAdministrator(userId, tenantId)) && (await isHeldFor(app, request, tenantId, 'member.remove_admin'))) {
        return holdForApproval(app, request, reply, tenantId, 'member.remove_admin', { userId });
      } else await removeMember(deps, { access, audit }, { tenantId, userId });
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/tenants/:tenantId/transfer-ownership',
    {
      schema: {
        tags: ['members'],
        summary: 'Transfer ownership to an existing member, confirmed by typing the tenant slug',
        description:
          'Needs `tenant.transfer_ownership`; a person only, never an API key. The member becomes the owner; if you are a direct owner you swap ' +
          'places (you take their former roles and keep your others). `404 member_not_found` for anyone who is not a direct member, ' +
          '`409 already_owner` if they own it already, `422 confirmation_mismatch` if `confirm` is not the slug. Where the policy holds ' +
          'transfers for approval (company-tree), `202` with an approval request; it runs, as you, once approved.',
        params: Type.Object({ tenantId: TenantId }),
        body: Type.Object({ userId: UserId, confirm: Type.String({ minLength: 1, maxLength: 100, description: "The tenant's slug" }) }, { additionalProperties: false }),
        response: { 200: Type.Object({ owner: MemberSchema, previousOwner: Type.Union([MemberSchema, Type.Null()]) }), 202: ApprovalAccepted, ...Problems },
      },
    },
    async (request, reply) => {
      const { tenantId } = request.params;
      const person = requireUser(request);
      const { access, audit } = await authorize(app, request, tenantId, 'tenant.transfer_ownership');
      if (needsApproval(deps.preset, 'tenant.transfer_ownership') && (await isHeldFor(app, request, tenantId, 'tenant.transfer_ownership'))) {
        await assertSlug(tenantId, request.body.confirm);
        return holdForApproval(app, request, reply, tenantId, 'tenant.transfer_ownership', { userId: request.body.userId, confirm: request.body.confirm });
      }
      const result = await transferOwnership(deps, { access, audit, userId: person.userId }, { tenantId, userId: request.body.userId }, request.body.confirm);
      return { owner: presentMember(result.owner), previousOwner: result.previousOwner === null ? null : presentMember(result.previousOwner) };
    },
  );
}
