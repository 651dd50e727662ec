import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import type { AuditContext } from '../audit/audit.repository.ts';
import { actorOf, requirePrincipal, requireUser } from '../auth/principal.ts';
import { AppError } from '../platform/http/errors.ts';
import type { FastifyTypebox } from '../platform/http/types.ts';
import { AdminErrors } from './admin.errors.ts';
import {
  type AdminDeps,
  adminTenancyId,
  designatedStaffTenancy,
  endShadowMembership,
  listInstall,
  listShadowMemberships,
  makeAdminTenancy,
  setDefaultTenant,
  tenantsInUse,
} from './admin.service.ts';
import { Nullable, pageOf, pageQuery, Problems, TenantId, UserId } from '../platform/http/schemas.ts';
import { accessOf, authorize } from '../permissions/authorize.http.ts';

const InstallTenantSchema = Type.Object({
  id: Type.String(),
  slug: Type.String(),
  name: Type.String(),
  status: Type.String(),
  parentId: Nullable(Type.String()),
  createdAt: Type.String({ format: 'date-time' }),
  isAdminTenancy: Type.Boolean({ description: 'The "ADMIN TENANCY" marker' }),
  youAreHere: Type.Boolean({ description: 'The caller\'s active tenant (the "YOU ARE HERE" marker)' }),
});

const ShadowMembershipSchema = Type.Object({
  tenantId: Type.String(),
  slug: Type.String(),
  name: Type.String(),
  status: Type.String(),
  roles: Type.Array(Type.String(), { description: "The roles the shadow membership gives, sorted: the person's roles in the admin tenancy" }),
  adminTenancyId: Nullable(Type.String({ description: 'The admin tenancy whose staff membership it follows' })),
  since: Type.String({ format: 'date-time' }),
});

const StaffRule =
  "Operator staff are the direct members of the admin tenancy who hold one of the preset's staff roles there (`adminTenancy.staffRoles`), " +
  'or whose default tenant an administrator has made the admin tenancy (PUT /admin/users/:userId/default-tenant); never anyone by fallback.';

/**
 * The operator's view of the install (SPEC 4, seed 001's Admin → Tenants): every tenant, the admin
 * tenancy, and people's landing tenants. Operators are platform super_admins and the admin tenancy's
 * members holding `members.manage` there (seed 001's ADMIN and SUPER_ADMIN).
 */
export async function adminRoutes(app: FastifyTypebox): Promise<void> {
  const deps: AdminDeps = app.services;

  async function authorizeOperator(request: FastifyRequest): Promise<AuditContext> {
    const principal = requirePrincipal(request);
    const base = { ...actorOf(principal), requestId: request.id, ip: request.ip };
    if (principal.kind === 'user' && principal.platformRole === 'super_admin') return { ...base, via: 'platform_admin' };
    const adminTenancy = await adminTenancyId(deps);
    if (adminTenancy !== undefined && (await accessOf(app, principal, adminTenancy)).permissions.has('members.manage')) return { ...base, via: 'direct' };
    throw new AppError(AdminErrors.NOT_AN_OPERATOR);
  }

  app.get(
    '/admin/tenants',
    {
      schema: {
        tags: ['admin'],
        summary: 'Every tenant of the install, with the admin tenancy and your active tenant marked, and how many are in use',
        description: "Operators only. Oldest first; every status but deleted. `limit` is the licence's tenant limit, null while there is none.",
        querystring: Type.Object(
          {
            ...pageQuery({ max: 500, byDefault: 100 }),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            ...pageOf('tenants', InstallTenantSchema),
            inUse: Type.Integer({ description: 'Tenants in use (every status but deleted)' }),
            limit: Nullable(Type.Integer({ description: 'The licensed tenant limit; null = unlimited' })),
          }),
          ...Problems,
        },
      },
    },
    async (request) => {
      await authorizeOperator(request);
      const principal = requirePrincipal(request);
      const here = principal.tenantId;
      const page = await listInstall(deps, { limit: request.query.limit, ...(request.query.cursor === undefined ? {} : { cursor: request.query.cursor }) });
      return {
        tenants: page.tenants.map((t) => ({ ...t, createdAt: t.createdAt.toISOString(), youAreHere: t.id === here })),
        inUse: page.inUse,
        limit: app.services.licence.current.tenantLimit,
        nextCursor: page.nextCursor,
      };
    },
  );

  app.get(
    '/admin/licence',
    {
      schema: {
        tags: ['admin'],
        summary: 'The licence in force: licensee, licensed features and the tenant limit, with how many tenants are in use',
        description:
          'Operators only. The licence is the file TENANTRY_LICENCE_FILE names, re-read within a second or two of changing; without one, ' +
          'every feature is licensed and there is no limit. `fileError` says why the file on disk is not in force (the previous licence stays).',
        response: {
          200: Type.Object({
            source: Nullable(Type.String({ description: 'The licence file; null when none is configured' })),
            licensee: Nullable(Type.String()),
            tenantLimit: Nullable(Type.Integer({ description: 'null = unlimited' })),
            tenantsInUse: Type.Integer({ description: 'Every status but deleted' }),
            features: Type.Array(Type.Object({ key: Type.String(), name: Type.String(), licensed: Type.Boolean() })),
            loadedAt: Type.String({ format: 'date-time' }),
            fileError: Nullable(Type.String()),
          }),
          ...Problems,
        },
      },
    },
    async (request) => {
      await authorizeOperator(request);
      const licence = app.services.licence.current;
      return {
        source: licence.source,
        licensee: licence.licensee,
        tenantLimit: licence.tenantLimit,
        tenantsInUse: await tenantsInUse(deps),
        features: [...app.services.preset.features.values()].map((f) => ({ key: f.key, name: f.name, licensed: app.services.licence.isLicensed(f.key) })),
        loadedAt: licence.loadedAt.toISOString(),
        fileError: app.services.licence.lastError,
      };
    },
  );

  app.post(
    '/admin/tenants/:tenantId/make-admin-tenancy',
    {
      schema: {
        tags: ['admin'],
        summary: 'Designate the admin tenancy; affects only tenants created afterwards',
        description:
          "Platform super_admin only. From now on, this tenancy's operator staff get a shadow membership in every new tenant. " +
          StaffRule +
          ' Existing tenants keep the shadow memberships they have; those the previous admin tenancy granted last while their holders remain ' +
          'staff there, and can only narrow. The tenant must be active.',
        params: Type.Object({ tenantId: TenantId }),
        response: { 200: Type.Object({ tenantId: Type.String(), previous: Nullable(Type.String()) }), ...Problems },
      },
    },
    async (request) => {
      const principal = requireUser(request);
      if (principal.platformRole !== 'super_admin') throw new AppError(AdminErrors.SUPER_ADMIN_REQUIRED);
      const audit = { actorType: 'user' as const, actorId: principal.userId, via: 'platform_admin' as const, requestId: request.id, ip: request.ip };
      return makeAdminTenancy(deps, request.params.tenantId, audit);
    },
  );

  app.put(
    '/admin/users/:userId/default-tenant',
    {
      schema: {
        tags: ['admin'],
        summary: "Set a person's default (landing) tenant, which is also their primary tenant",
        description:
          'Needs `members.manage` in that tenant (or platform super_admin). The person must belong to it (`404 member_not_found` otherwise). ' +
          'Set here, the default tenant is explicit: making it the admin tenancy makes a direct member of it operator staff whatever their ' +
          'roles there, and moving it away from the admin tenancy ends the shadow access that gave (each end audited in its tenant). ' +
          'A default tenant the platform re-points (when one is deleted) never designates anyone. Moving the default tenant of someone ' +
          'designated this way away from the admin tenancy also needs an operator (`403 not_an_operator`).',
        params: Type.Object({ userId: UserId }),
        body: Type.Object({ tenantId: TenantId }, { additionalProperties: false }),
        response: { 200: Type.Object({ userId: Type.String(), defaultTenantId: Type.String() }), ...Problems },
      },
    },
    async (request) => {
      const { userId } = request.params;
      const { tenantId } = request.body;
      const { audit } = await authorize(app, request, tenantId, 'members.manage');
      // Moving the default tenant of someone designated staff this way away from the admin tenancy ends their operator
      // access: an operator's decision, never that of the tenant it moves to.
      const designatedIn = await designatedStaffTenancy(deps, userId);
      if (designatedIn !== undefined && designatedIn !== tenantId) await authorizeOperator(request);
      await setDefaultTenant(deps, userId, tenantId, audit);
      return { userId, defaultTenantId: tenantId };
    },
  );

  app.get(
    '/admin/users/:userId/shadow-memberships',
    {
      schema: {
        tags: ['admin'],
        summary: "A person's shadow (operator) memberships: every tenant they reach as operator staff",
        description:
          'Operators only. Oldest first. A shadow membership is granted when a tenant is created and lasts while its holder is operator staff ' +
          'of the admin tenancy that granted it, with their current roles there. ' +
          StaffRule +
          ' Tenant administrators never see shadow memberships.',
        params: Type.Object({ userId: UserId }),
        querystring: Type.Object(
          {
            ...pageQuery({ max: 500, byDefault: 100 }),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ userId: Type.String(), ...pageOf('shadowMemberships', ShadowMembershipSchema) }),
          ...Problems,
        },
      },
    },
    async (request) => {
      await authorizeOperator(request);
      const { userId } = request.params;
      const page = await listShadowMemberships(deps, userId, { limit: request.query.limit, ...(request.query.cursor === undefined ? {} : { cursor: request.query.cursor }) });
      return { userId, shadowMemberships: page.memberships.map((m) => ({ ...m, since: m.since.toISOString() })), nextCursor: page.nextCursor };
    },
  );

  app.delete(
    '/admin/tenants/:tenantId/shadow-members/:userId',
    {
      schema: {
        tags: ['admin'],
        summary: "End a person's shadow (operator) membership in one tenant",
        description:
          "Platform super_admin only. Recorded in the tenant's audit chain (`member.removed`, kind shadow). The person keeps their other " +
          'shadow memberships and their staff membership; to end them all, remove them from the admin tenancy or take its staff roles away. ' +
          "`404 shadow_membership_not_found` when they have none there (a direct member is removed through the tenant's members instead).",
        params: Type.Object({ tenantId: TenantId, userId: UserId }),
        response: { 204: Type.Null(), ...Problems },
      },
    },
    async (request, reply) => {
      const principal = requireUser(request);
      if (principal.platformRole !== 'super_admin') throw new AppError(AdminErrors.SUPER_ADMIN_REQUIRED);
      const audit = { actorType: 'user' as const, actorId: principal.userId, via: 'platform_admin' as const, requestId: request.id, ip: request.ip };
      await endShadowMembership(deps, { tenantId: request.params.tenantId, userId: request.params.userId }, audit);
      return reply.code(204).send(null);
    },
  );
}
