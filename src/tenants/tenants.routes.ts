import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { findUserById } from '../accounts/users.repository.ts';
import { keyAuthority } from '../api-keys/api-keys.service.ts';
import { needsApproval } from '../approvals/approvals.service.ts';
import type { AuditContext } from '../audit/audit.repository.ts';
import { AuthErrors } from '../auth/auth.errors.ts';
import { presentStanding as presentListStanding, TenantStandingFields } from '../auth/auth.schemas.ts';
import { type ApiKeyPrincipal, auditContextOf, type Principal, requirePrincipal, subjectOf } from '../auth/principal.ts';
import type { Access } from '../permissions/access.ts';
import { AppError } from '../platform/http/errors.ts';
import { LicenceErrors } from '../licence/licence.errors.ts';
import { isOperatorStaff } from './operator-access.ts';
import { TenantErrors } from './tenants.errors.ts';
import type { FastifyTypebox } from '../platform/http/types.ts';
import { assertDeletable, type DeletionCaller, type DeletionDeps, mayGiveAway, requestDeletion, restoreTenant } from './deletion.service.ts';
import type { TenantDetails, TenantStanding, TreeNode } from './tenants.repository.ts';
import { SLUG_PATTERN } from './tenants.repository.ts';
import type { UserTenant } from '../members/memberships.repository.ts';
import { listTenantsToChoose } from './tenant-list.service.ts';
import { createTenant, getTenant, listTree, setSuspended, type TenantDeps, updateTenantDetails } from './tenants.service.ts';
import { Nullable, Problems, TenantId } from '../platform/http/schemas.ts';
import { ApprovalAccepted, holdForApproval, isHeldFor } from '../approvals/approvals.http.ts';
import { accessOf, authorize } from '../permissions/authorize.http.ts';

const Slug = Type.String({ pattern: SLUG_PATTERN, minLength: 2, maxLength: 63, description: 'Lowercase letters, digits and dashes' });
const Name = Type.String({ minLength: 1, maxLength: 200, pattern: '\\S' });
const TenantParams = Type.Object({ tenantId: TenantId });

/**
 * `GET /tenants`' entries. A cached list is the same array until a change drops it, so its presentation is kept with
 * it: someone in 500 tenants is not mapped again on every request (issue 13).
 */
const presentedLists = new WeakMap<readonly UserTenant[], ReturnType<typeof presentTenantEntry>[]>();
function presentTenantList(tenants: readonly UserTenant[]) {
  let presented = presentedLists.get(tenants);
  if (presented === undefined) {
    presented = tenants.map(presentTenantEntry);
    presentedLists.set(tenants, presented);
  }
  return presented;
}

function presentTenantEntry(t: UserTenant) {
  return {
    id: t.tenantId,
    slug: t.slug,
    name: t.name,
    roles: t.roles,
    shadow: t.kind === 'shadow',
    joinedAt: t.joinedAt?.toISOString() ?? null,
    ...presentListStanding(t),
  };
}

/** Where a tenant stands (issue 11), in every tenant shape: details, tree nodes, lists. */
const StandingSchema = {
  suspendedAt: Nullable(Type.String({ format: 'date-time', description: 'When it was suspended; kept while pending deletion (a restore brings the suspension back)' })),
  suspensionReason: Nullable(Type.String({ description: 'The reason given when it was suspended' })),
  deletionRequestedAt: Nullable(Type.String({ format: 'date-time' })),
  purgeAfter: Nullable(Type.String({ format: 'date-time', description: 'While pending deletion: when it is purged unless restored' })),
};

const presentStanding = (t: TenantStanding) => ({
  suspendedAt: t.suspendedAt?.toISOString() ?? null,
  suspensionReason: t.suspensionReason,
  deletionRequestedAt: t.deletionRequestedAt?.toISOString() ?? null,
  purgeAfter: t.purgeAfter?.toISOString() ?? null,
});

export const TenantSchema = Type.Object({
  id: Type.String(),
  slug: Type.String(),
  name: Type.String(),
  parentId: Nullable(Type.String()),
  path: Type.Array(Type.String(), { description: 'Ancestor ids, root first, this tenant last' }),
  status: Type.String({ description: '`active`, `suspended` or `pending_deletion`' }),
  ...StandingSchema,
  plan: Nullable(Type.String()),
  data: Type.Record(Type.String(), Type.Unknown()),
  kind: Type.Union([Type.Literal('individual'), Type.Literal('organization'), Type.Literal('enterprise')]),
  isAdminTenancy: Type.Boolean(),
  memberCount: Type.Integer(),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
  lastActiveAt: Nullable(Type.String({ format: 'date-time' })),
});

export function presentTenant(t: TenantDetails) {
  return {
    ...t,
    ...presentStanding(t),
    createdAt: t.createdAt.toISOString(),
    updatedAt: t.updatedAt.toISOString(),
    lastActiveAt: t.lastActiveAt?.toISOString() ?? null,
  };
}

const TreeNodeSchema = Type.Object({
  id: Type.String(),
  slug: Type.String(),
  name: Type.String(),
  status: Type.String(),
  parentId: Nullable(Type.String()),
  depth: Type.Integer({ description: '0 = the tenant asked about' }),
  ...StandingSchema,
});
const presentNodes = (nodes: TreeNode[]) => ({ tenants: nodes.map((n) => ({ ...n, ...presentStanding(n) })) });

/**
 * The nodes the caller may read one by one (`tenant.read` there): a list never shows a tenant that `GET /tenants/:id`
 * would answer 404 (OWASP API3:2023). A member whose roles stop at their own tenant sees no tenant below it.
 */
async function readableNodes(app: FastifyTypebox, principal: Principal, nodes: TreeNode[]): Promise<TreeNode[]> {
  const access = await Promise.all(nodes.map((n) => accessOf(app, principal, n.id)));
  return nodes.filter((_, i) => access[i]?.permissions.has('tenant.read') === true);
}

const parentOf = (access: Access): string | null => access.path.at(-2) ?? null;

/**
 * Moving a tenant is a grant: everyone holding a descendant-scoped role above the new parent gains authority over
 * it, and everyone above the old parent loses it (and, in company-tree, their approval policy). So the caller
 * needs the authority deleting needs (`tenant.delete`, owner-level), and to take it from its parent, that
 * authority from above it (issue 10).
 */
function assertMayMove(access: Access): void {
  if (!mayGiveAway(access, access.status)) {
    throw new AppError(AuthErrors.FORBIDDEN, {
      detail: `moving a tenant hands it to those above its new parent, so it needs tenant.delete here${access.status === 'suspended' ? ' from above it (it is suspended)' : ''}`,
      permission: 'tenant.delete',
    });
  }
  if (parentOf(access) !== null && !access.fromAbove.has('tenant.delete')) {
    throw new AppError(AuthErrors.FORBIDDEN, {
      detail: 'taking a tenant away from its parent needs tenant.delete from above it: a role in an ancestor that applies to descendants, operator access or the platform',
      permission: 'tenant.delete',
    });
  }
}

export async function tenantRoutes(app: FastifyTypebox): Promise<void> {
  const deps = (): TenantDeps => app.services;

  /**
   * An API key acts only in its own tenant, so it may create tenants under it (children) or, like seed 000's
   * Mgmt REST API, beside it (siblings under the same parent), and needs `tenants.create_child` in its own
   * tenant for either. A sibling is made on the parent's ground, so the person the key acts for (its
   * creator, up the chain of keys that minted it) must also hold `tenants.create_child` there, now: a key
   * never reaches further than its person. Anywhere else is a tenant it cannot see (404); a root, 403.
   */
  async function keyMayCreateUnder(request: FastifyRequest, key: ApiKeyPrincipal, parentId: string | null): Promise<AuditContext> {
    if (parentId === null) throw new AppError(AuthErrors.FORBIDDEN, { detail: "an API key cannot create a root tenant; give parentId (its own tenant or that tenant's parent)" });
    const own = await authorize(app, request, key.tenantId, 'tenants.create_child');
    if (parentId === key.tenantId) return own.audit;
    if (parentId !== own.access.path.at(-2)) throw new AppError(AuthErrors.TENANT_NOT_FOUND);
    const authority = await keyAuthority(app.services, key.tenantId, key.keyId);
    if (authority !== 'system') {
      const user = authority === undefined ? undefined : await findUserById(app.services.db, authority.userId);
      const parent = user === undefined ? undefined : await app.services.access.forUser({ userId: user.id, isSuperAdmin: user.platform_role === 'super_admin' }, parentId);
      if (parent?.permissions.has('tenants.create_child') !== true) {
        throw new AppError(AuthErrors.FORBIDDEN, { detail: `the person this key acts for may not create tenants under ${parentId}`, permission: 'tenants.create_child' });
      }
    }
    return own.audit;
  }

  app.get(
    '/tenants',
    {
      schema: {
        tags: ['tenants'],
        summary: 'The tenants you can choose: those you belong to, then those below reached through a role held above',
        description:
          "The same list as sign-in's: your memberships (direct or shadow; a suspended tenant only if you may still enter it, i.e. you own " +
          'it, are operator staff or are above it), then every live tenant below one where you hold a `tenant_and_descendants` role, marked ' +
          '`inherited: true` with `inheritedFrom` (the nearest such tenant) and the roles held there that reach it. A tenant pending deletion ' +
          'appears only to those who may restore it (`tenant.delete`, from above if it was suspended), with `status: pending_deletion` and ' +
          '`purgeAfter`. Every entry says where the tenant stands: `parentId`, `suspendedAt`/`suspensionReason`, ' +
          '`deletionRequestedAt`/`purgeAfter`. An API key sees only its own tenant.',
        response: {
          200: Type.Object({
            tenants: Type.Array(
              Type.Object({
                id: Type.String(),
                slug: Type.String(),
                name: Type.String(),
                roles: Type.Array(Type.String(), { description: 'Your roles here; for an inherited tenant, the roles held in `inheritedFrom` that reach it' }),
                shadow: Type.Boolean(),
                joinedAt: Nullable(Type.String({ format: 'date-time', description: 'When your membership began; null for an inherited tenant' })),
                ...TenantStandingFields,
              }),
            ),
          }),
          ...Problems,
        },
      },
    },
    async (request) => {
      const principal = requirePrincipal(request);
      if (principal.kind === 'api_key') {
        // A key belongs to exactly one tenant and holds no roles there, only its permissions.
        if (!(await accessOf(app, principal, principal.tenantId)).permissions.has('tenant.read')) return { tenants: [] };
        const own = await getTenant(deps(), principal.tenantId);
        const entry: UserTenant = { ...own, tenantId: own.id, kind: 'direct', roles: [], joinedAt: own.createdAt };
        return { tenants: [{ id: own.id, slug: own.slug, name: own.name, roles: [], shadow: false, joinedAt: own.createdAt.toISOString(), ...presentListStanding(entry) }] };
      }
      return { tenants: presentTenantList(await listTenantsToChoose(app.services, subjectOf(principal))) };
    },
  );

  app.post(
    '/tenants',
    {
      schema: {
        tags: ['tenants'],
        summary: 'Create a tenant: a root, or a child (or sibling) under parentId; you become its owner',
        description:
          'A child needs `tenants.create_child` on the parent. A sibling is a child of the same parent. A root made by operator staff (a ' +
          "customer's organisation, seed 001) has no direct member: the staff reach it through shadow memberships. Where the preset has one " +
          'root (company-tree), only a platform super_admin makes another (`403 single_root`); where creating tenants needs a licensed feature ' +
          "(msp: `multi_tenant`), `409 feature_not_licensed` without it. `409 plan_limit_reached` when the parent's plan allows no more child " +
          'tenants; `409 licence_limit_reached` when the licence allows no more tenants.',
        body: Type.Object({ name: Name, slug: Slug, parentId: Type.Optional(Nullable(TenantId)) }, { additionalProperties: false }),
        response: { 201: TenantSchema, ...Problems },
      },
    },
    async (request, reply) => {
      const principal = requirePrincipal(request);
      const { parentId } = request.body;
      const { preset } = app.services.access;
      const creationFeature = preset.tenants.creationFeature;
      if (creationFeature !== null && app.services.licence.current.features !== null && !app.services.licence.current.features.has(creationFeature)) {
        throw new AppError(LicenceErrors.FEATURE_NOT_LICENSED, {
          detail: `creating tenants needs the ${creationFeature} feature, which the licence does not cover`,
          feature: creationFeature,
        });
      }
      let tenant: TenantDetails;
      if (principal.kind === 'api_key') {
        tenant = await createTenant(deps(), { ownersOf: principal.tenantId }, request.body, await keyMayCreateUnder(request, principal, parentId ?? null));
      } else if (parentId) {
        const { audit } = await authorize(app, request, parentId, 'tenants.create_child');
        tenant = await createTenant(deps(), { userId: principal.userId }, request.body, audit);
      } else {
        const isSuperAdmin = principal.platformRole === 'super_admin';
        if (preset.tenants.singleRoot && !isSuperAdmin) throw new AppError(TenantErrors.SINGLE_ROOT);
        // An operator's new organisation is a customer's (seed 001): the operator's staff reach it through shadow
        // memberships, never as members in its staff list.
        const owners = (await isOperatorStaff(app.services.db, principal.userId)) ? { platform: true as const } : { userId: principal.userId };
        tenant = await createTenant(deps(), owners, request.body, auditContextOf(request));
      }
      reply.code(201);
      return presentTenant(tenant);
    },
  );

  app.get(
    '/tenants/:tenantId',
    {
      schema: {
        tags: ['tenants'],
        summary: 'A tenant, with its place in the tree and where it stands',
        description:
          'Needs `tenant.read`. Besides `parentId` and `path`, says where the tenant stands: `suspendedAt` and `suspensionReason` while it ' +
          'is suspended (kept while it is pending deletion, since a restore brings the suspension back), `deletionRequestedAt` and ' +
          '`purgeAfter` while it is pending deletion; null otherwise.',
        params: TenantParams,
        response: { 200: TenantSchema, ...Problems },
      },
    },
    async (request) => {
      await authorize(app, request, request.params.tenantId, 'tenant.read');
      return presentTenant(await getTenant(deps(), request.params.tenantId));
    },
  );

  app.patch(
    '/tenants/:tenantId',
    {
      schema: {
        tags: ['tenants'],
        summary: 'Rename, edit the data object (RFC 7396 merge patch, ≤ 64 KiB), or move under another parent',
        description:
          'Moving (`parentId`) hands the tenant to whoever holds authority above its new parent, so it needs what deleting needs: ' +
          '`tenant.delete` here (from above while suspended); a tenant that has a parent can leave it (for another parent, or `null` to ' +
          'become a root) only with `tenant.delete` from above it (a role held in an ancestor that applies to descendants, operator access or ' +
          'the platform), and the same over every tenant below it, which moves too. The new parent needs `tenants.create_child`, and its ' +
          'plan must allow one more child (`409 plan_limit_reached`). ' +
          'All changes of one request commit together or not at all.',
        params: TenantParams,
        body: Type.Object(
          { name: Type.Optional(Name), data: Type.Optional(Type.Record(Type.String(), Type.Unknown())), parentId: Type.Optional(Nullable(TenantId)) },
          { additionalProperties: false, minProperties: 1 },
        ),
        response: { 200: TenantSchema, ...Problems },
      },
    },
    async (request) => {
      const { tenantId } = request.params;
      const { name, data, parentId } = request.body;
      const { access, audit } = await authorize(app, request, tenantId, 'tenant.update');
      const moving = parentId !== undefined && parentId !== parentOf(access);
      if (moving) {
        const principal = requirePrincipal(request);
        if (parentId === null && app.services.preset.tenants.singleRoot && !(principal.kind === 'user' && principal.platformRole === 'super_admin')) {
          throw new AppError(TenantErrors.SINGLE_ROOT);
        }
        assertMayMove(access);
        // The whole subtree moves with it: each tenant below is handed to those above the new parent too.
        for (const node of (await listTree(deps(), tenantId, { childrenOnly: false })).filter((n) => n.id !== tenantId)) {
          if (!mayGiveAway(await accessOf(app, principal, node.id), node.status)) {
            throw new AppError(AuthErrors.FORBIDDEN, {
              detail: `the tenants below move too, and moving ${node.id} needs tenant.delete there`,
              permission: 'tenant.delete',
              tenantId: node.id,
            });
          }
        }
        if (parentId !== null) await authorize(app, request, parentId, 'tenants.create_child');
      }
      const changes = { ...(name === undefined ? {} : { name }), ...(data === undefined ? {} : { data }), ...(moving ? { parentId } : {}) };
      return presentTenant(await updateTenantDetails(deps(), tenantId, changes, audit));
    },
  );

  app.get(
    '/tenants/:tenantId/children',
    {
      schema: {
        tags: ['tenants'],
        summary: 'Direct children of a tenant, each with where it stands',
        description: 'Only the children the caller may read themselves (`tenant.read` there).',
        params: TenantParams,
        response: { 200: Type.Object({ tenants: Type.Array(TreeNodeSchema) }), ...Problems },
      },
    },
    async (request) => {
      const { principal } = await authorize(app, request, request.params.tenantId, 'tenant.read');
      return presentNodes(await readableNodes(app, principal, await listTree(deps(), request.params.tenantId, { childrenOnly: true })));
    },
  );

  app.get(
    '/tenants/:tenantId/tree',
    {
      schema: {
        tags: ['tenants'],
        summary: 'The tenant and its whole subtree, depth-first, with depths and where each stands',
        description: 'Only the tenants the caller may read themselves (`tenant.read` there): a role that stops at this tenant shows no tenant below it.',
        params: TenantParams,
        response: { 200: Type.Object({ tenants: Type.Array(TreeNodeSchema) }), ...Problems },
      },
    },
    async (request) => {
      const { principal } = await authorize(app, request, request.params.tenantId, 'tenant.read');
      return presentNodes(await readableNodes(app, principal, await listTree(deps(), request.params.tenantId, { childrenOnly: false })));
    },
  );

  for (const [action, suspend] of [
    ['suspend', true],
    ['resume', false],
  ] as const) {
    app.post(
      `/tenants/:tenantId/${action}`,
      {
        schema: {
          tags: ['tenants'],
          summary: suspend ? 'Suspend a tenant: data kept; only its owners and those above may enter, read-only plus billing; its API keys stop' : 'Resume a suspended tenant',
          description:
            'Needs `tenant.suspend` from above the tenant: a `tenant_and_descendants` role in an ancestor, operator (shadow) access, or platform ' +
            'super_admin, so a tenant cannot lift its own suspension. Idempotent. `409 tenant_status_conflict` while pending deletion' +
            (suspend ? '; `409 admin_tenancy` for the admin tenancy. The tenants below are not suspended with it.' : '.'),
          params: TenantParams,
          body: Type.Object(
            { reason: Type.Optional(Type.String({ maxLength: 500, description: 'Shown as `suspensionReason` while suspended, and kept in the audit trail' })) },
            { additionalProperties: false, description: 'Optional' },
          ),
          response: { 200: TenantSchema, ...Problems },
        },
        preValidation: async (request) => {
          request.body ??= {};
        },
      },
      async (request) => {
        const { tenantId } = request.params;
        const { access, audit } = await authorize(app, request, tenantId);
        if (!access.fromAbove.has('tenant.suspend')) {
          throw new AppError(AuthErrors.FORBIDDEN, {
            detail: 'suspending and resuming need tenant.suspend from above this tenant: a role in an ancestor, operator access or the platform',
            permission: 'tenant.suspend',
          });
        }
        const { reason } = request.body;
        return presentTenant(await setSuspended(deps(), tenantId, { suspend, ...(reason === undefined ? {} : { reason }) }, audit));
      },
    );
  }

  const deletionDeps = (): DeletionDeps => app.services;
  const deletionCaller = async (request: FastifyRequest, tenantId: string): Promise<DeletionCaller> => {
    const principal = requirePrincipal(request);
    const { audit } = await authorize(app, request, tenantId);
    return { audit, activeTenantId: principal.tenantId, accessTo: (id) => accessOf(app, principal, id) };
  };

  app.delete(
    '/tenants/:tenantId',
    {
      schema: {
        tags: ['tenants'],
        summary: "Delete a tenant: pending deletion for the preset's grace period (restorable), then purged; or at once with no grace",
        description:
          'Needs `tenant.delete` (for a suspended tenant, from above it) and `confirm` = the slug. Never your active tenant (`409 active_tenant`) nor ' +
          'the admin tenancy (`409 admin_tenancy`). A tenant with tenants below answers `409 tenant_has_children` unless `includeDescendants` ' +
          'deletes the whole subtree, each of which you must be allowed to delete. The purge removes every row of the tenant, re-points people ' +
          'whose default tenant it was, deletes people left with no membership, and reports the counts. Where the policy holds deletion for ' +
          'approval (company-tree), `202` with an approval request; the deletion runs, as you, once approved.',
        params: TenantParams,
        body: Type.Object({ confirm: Type.String({ minLength: 1, maxLength: 100 }), includeDescendants: Type.Optional(Type.Boolean()) }, { additionalProperties: false }),
        response: {
          202: ApprovalAccepted,
          200: Type.Object({
            status: Type.Union([Type.Literal('pending_deletion'), Type.Literal('deleted')]),
            tenants: Type.Array(Type.String(), { description: 'Every tenant this deleted, deepest first' }),
            purgeAfter: Type.Optional(Type.String({ format: 'date-time' })),
            purged: Type.Optional(
              Type.Array(
                Type.Object({
                  tenantId: Type.String(),
                  removed: Type.Record(Type.String(), Type.Integer(), { description: 'Rows removed per table' }),
                  usersRepointed: Type.Integer(),
                  usersDeleted: Type.Integer(),
                }),
              ),
            ),
          }),
          ...Problems,
        },
      },
    },
    async (request, reply) => {
      const { tenantId } = request.params;
      const caller = await deletionCaller(request, tenantId);
      if (needsApproval(app.services.preset, 'tenant.delete') && (await isHeldFor(app, request, tenantId, 'tenant.delete'))) {
        // The deletion's own checks, now: a request that could never run is answered at once, not after an approval.
        await assertDeletable(deletionDeps(), caller, tenantId, request.body);
        return holdForApproval(app, request, reply, tenantId, 'tenant.delete', { ...request.body });
      }
      const result = await requestDeletion(deletionDeps(), caller, tenantId, request.body);
      return result.status === 'pending_deletion' ? { status: result.status, tenants: result.tenants, purgeAfter: result.purgeAfter.toISOString() } : result;
    },
  );

  app.post(
    '/tenants/:tenantId/restore',
    {
      schema: {
        tags: ['tenants'],
        summary: 'Restore a tenant pending deletion (and the tenants below it that were deleted with it)',
        description: 'Needs `tenant.delete`. `409 tenant_status_conflict` unless the tenant is pending deletion.',
        params: TenantParams,
        response: { 200: Type.Object({ tenants: Type.Array(Type.String()) }), ...Problems },
      },
    },
    async (request) => {
      const { tenantId } = request.params;
      return { tenants: await restoreTenant(deletionDeps(), await deletionCaller(request, tenantId), tenantId) };
    },
  );
}
