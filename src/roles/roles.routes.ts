import { Type } from 'typebox';
import { requirePrincipal } from '../auth/principal.ts';
import { needsApproval } from '../approvals/approvals.service.ts';
import type { FastifyTypebox } from '../platform/http/types.ts';
import { createRole, deleteRole, listPermissions, listRoles, type RoleDeps, roleChangeTakesAway, updateRole } from './roles.service.ts';
import { Problems, TenantId } from '../platform/http/schemas.ts';
import { ApprovalAccepted, holdForApproval, isHeldFor } from '../approvals/approvals.http.ts';
import { authorize } from '../permissions/authorize.http.ts';

const TenantParams = Type.Object({ tenantId: TenantId });
const RoleParams = Type.Object({ tenantId: TenantId, roleKey: Type.String({ minLength: 1, maxLength: 100 }) });

const RoleKey = Type.String({ pattern: '^[a-z][a-z0-9_]{0,62}$', description: 'Lowercase letters, digits and underscores; unique among the roles usable here' });
const RoleName = Type.String({ minLength: 1, maxLength: 100, pattern: '\\S' });
const RoleDescription = Type.String({ maxLength: 500 });
const Scope = Type.Union([Type.Literal('tenant'), Type.Literal('tenant_and_descendants')], {
  description: '`tenant_and_descendants` roles also apply in every tenant below the one where they are held',
});
const PermissionList = Type.Array(Type.String({ minLength: 1, maxLength: 200 }), { maxItems: 500, description: 'Keys from GET /permissions' });

const RoleSchema = Type.Object({
  key: Type.String(),
  name: Type.String(),
  description: Type.Union([Type.String(), Type.Null()]),
  scope: Scope,
  permissions: Type.Array(Type.String()),
  builtIn: Type.Boolean(),
  definedIn: Type.Union([Type.String(), Type.Null()], { description: 'The tenant that defines a custom role; null for built-in roles' }),
  isOwnerRole: Type.Boolean(),
});

const PermissionSchema = Type.Object({
  key: Type.String(),
  description: Type.String(),
  source: Type.Union([Type.Literal('platform'), Type.Literal('application')]),
  requiresFeature: Type.Union([Type.String(), Type.Null()], { description: 'The feature that must be on in a tenant for this permission to count there' }),
});

export async function roleRoutes(app: FastifyTypebox): Promise<void> {
  const deps: RoleDeps = app.services;

  app.get(
    '/permissions',
    {
      schema: {
        tags: ['permissions'],
        summary: 'The permission catalogue: platform permissions and the application permissions of the active preset',
        response: { 200: Type.Object({ permissions: Type.Array(PermissionSchema) }), ...Problems },
      },
    },
    async (request) => {
      requirePrincipal(request);
      return { permissions: listPermissions(deps.preset) };
    },
  );

  app.get(
    '/tenants/:tenantId/roles',
    {
      schema: {
        tags: ['roles'],
        summary: "The roles usable in a tenant: the preset's built-in roles and the custom roles of the tenant and its ancestors",
        params: TenantParams,
        response: { 200: Type.Object({ roles: Type.Array(RoleSchema) }), ...Problems },
      },
    },
    async (request) => {
      const { access } = await authorize(app, request, request.params.tenantId, 'tenant.read');
      return { roles: await listRoles(deps, access) };
    },
  );

  app.post(
    '/tenants/:tenantId/roles',
    {
      schema: {
        tags: ['roles'],
        summary: 'Create a custom role, usable in this tenant and the tenants below it',
        description: 'Needs `roles.manage`; the role may grant only permissions the caller holds here.',
        params: TenantParams,
        body: Type.Object(
          { key: RoleKey, name: RoleName, description: Type.Optional(RoleDescription), scope: Scope, permissions: PermissionList },
          { additionalProperties: false },
        ),
        response: { 201: RoleSchema, ...Problems },
      },
    },
    async (request, reply) => {
      const caller = await authorize(app, request, request.params.tenantId, 'roles.manage');
      const role = await createRole(deps, caller, request.body);
      reply.code(201);
      return role;
    },
  );

  app.patch(
    '/tenants/:tenantId/roles/:roleKey',
    {
      schema: {
        tags: ['roles'],
        summary: 'Change a custom role defined in this tenant',
        description:
          "Takes effect on the next request of everyone holding it. The resulting permissions may not exceed the caller's own, and what the " +
          'change adds in the tenants below (a scope widened to `tenant_and_descendants`, or new permissions of a role that applies or is held ' +
          'below) may not exceed what the caller holds there (`403`). Where the policy holds `member.remove_admin` (company-tree), a change that ' +
          'takes `members.manage` away from people holding the role answers `202` with a `role.update` approval request, as removing them would.',
        params: RoleParams,
        body: Type.Object(
          {
            name: Type.Optional(RoleName),
            description: Type.Optional(Type.Union([RoleDescription, Type.Null()])),
            scope: Type.Optional(Scope),
            permissions: Type.Optional(PermissionList),
          },
          { additionalProperties: false },
        ),
        response: { 200: RoleSchema, 202: ApprovalAccepted, ...Problems },
      },
    },
    async (request, reply) => {
      const { tenantId, roleKey } = request.params;
      const caller = await authorize(app, request, tenantId, 'roles.manage');
      if (
        needsApproval(deps.preset, 'member.remove_admin') &&
        (await roleChangeTakesAway(deps, caller.access, roleKey, request.body, 'members.manage')) &&
        (await isHeldFor(app, request, tenantId, 'role.update'))
      ) {
        return holdForApproval(app, request, reply, tenantId, 'role.update', { key: roleKey, ...request.body });
      }
      return updateRole(deps, caller, roleKey, request.body);
    },
  );

  app.delete(
    '/tenants/:tenantId/roles/:roleKey',
    {
      schema: {
        tags: ['roles'],
        summary: 'Delete a custom role defined in this tenant',
        description: 'Refused with `409 role_in_use` while a member of this tenant or a tenant below it holds the role.',
        params: RoleParams,
        response: { 204: Type.Null(), ...Problems },
      },
    },
    async (request, reply) => {
      const caller = await authorize(app, request, request.params.tenantId, 'roles.manage');
      await deleteRole(deps, caller, request.params.roleKey);
      return reply.code(204).send(null);
    },
  );
}
