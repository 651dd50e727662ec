import { appendAuditEvent } from '../audit/audit.repository.ts';
import type { Access } from '../permissions/access.ts';
import { assertCanGrant, assertCanGrantBelow, type Authorized } from '../permissions/authorize.ts';
import type { PermissionDefinition } from '../permissions/catalogue.ts';
import type { Clock } from '../platform/clock.ts';
import { type Db, readTenant, withTenant } from '../platform/db/context.ts';
import type { RoleScope } from '../platform/db/schema.ts';
import { AppError } from '../platform/http/errors.ts';
import type { Preset, RoleDefinition } from '../presets/presets.ts';
import { RoleErrors } from './roles.errors.ts';
import {
  deleteRole as deleteRoleRow,
  findOwnCustomRoleForUpdate,
  insertRole,
  listCustomRolesOnPath,
  type RolePatch,
  type RoleRow,
  updateRole as updateRoleRow,
} from './roles.repository.ts';
import { isRoleHeldInSubtree } from '../members/memberships.repository.ts';

export interface RoleDeps {
  db: Db;
  clock: Clock;
  preset: Preset;
}

export interface RoleView {
  key: string;
  name: string;
  description: string | null;
  scope: RoleScope;
  /** Sorted. */
  permissions: string[];
  builtIn: boolean;
  /** The tenant that defines a custom role; null for the preset's built-in roles. */
  definedIn: string | null;
  isOwnerRole: boolean;
}

/** The permission catalogue of the active preset, in catalogue order (platform first). */
export function listPermissions(preset: Preset): PermissionDefinition[] {
  return [...preset.permissions.values()];
}

/**
 * The roles usable in the tenant `access` describes: the preset's built-in roles, then the custom roles
 * defined in the tenant and its ancestors (root first). Where a tenant redefines a key an ancestor also
 * defines, the nearer definition is the one that applies, so it is the one listed.
 */
export async function listRoles(deps: RoleDeps, access: Access): Promise<RoleView[]> {
  const rows = await readTenant(deps.db, access.tenantId, (trx) => listCustomRolesOnPath(trx, access.path));
  const depth = (row: RoleRow) => access.path.indexOf(row.tenant_id);
  const nearest = new Map<string, RoleRow>();
  for (const row of rows) {
    const seen = nearest.get(row.key);
    if (seen === undefined || depth(row) > depth(seen)) nearest.set(row.key, row);
  }
  const custom = [...nearest.values()].filter((row) => !deps.preset.roles.has(row.key)).sort((a, b) => depth(a) - depth(b) || a.key.localeCompare(b.key));
  return [...[...deps.preset.roles.values()].map((role) => presentBuiltIn(deps.preset, role)), ...custom.map(presentCustom)];
}

export interface NewRoleInput {
  key: string;
  name: string;
  description?: string | null;
  scope: RoleScope;
  permissions: readonly string[];
}

/** The caller of a role change: what they may do in the tenant, and the audit context. */
export type RoleCaller = Pick<Authorized, 'access' | 'audit'>;

export async function createRole(deps: RoleDeps, caller: RoleCaller, input: NewRoleInput): Promise<RoleView> {
  const { access, audit } = caller;
  if (deps.preset.roles.has(input.key)) throw roleExists(input.key, 'a built-in role');
  const permissions = normalisePermissions(deps.preset, input.permissions);
  assertCanGrant(access, permissions);
  // A descendant-scoped role gives its holders these permissions in every tenant below, too.
  if (input.scope === 'tenant_and_descendants') assertCanGrantBelow(access, permissions);
  const now = deps.clock.now();
  return withTenant(deps.db, access.tenantId, async (trx) => {
    const clash = (await listCustomRolesOnPath(trx, access.path)).find((r) => r.key === input.key);
    if (clash !== undefined)
      throw roleExists(input.key, clash.tenant_id === access.tenantId ? 'a custom role of this tenant' : `a custom role of ancestor tenant ${clash.tenant_id}`);
    const inserted = await insertRole(trx, {
      tenantId: access.tenantId,
      key: input.key,
      name: input.name,
      description: input.description ?? null,
      scope: input.scope,
      permissions,
      now,
    });
    // Lost a race with a concurrent create of the same key here.
    if (inserted === undefined) throw roleExists(input.key, 'a custom role of this tenant');
    const view = presentCustom(inserted);
    await appendAuditEvent(trx, audit, { tenantId: access.tenantId, action: 'role.created', targetType: 'role', targetId: view.key, after: auditShape(view) }, now);
    return view;
  });
}

/**
 * Changes a custom role of this tenant. Everything the change gives is a grant by the caller: the resulting
 * permissions may not exceed the caller's here, and what it adds in the tenants below (the permissions a
 * widened scope hands down, or new permissions of a role that applies below or that people below hold) may
 * not exceed what the caller holds there (`reachBelow`).
 */
export async function updateRole(deps: RoleDeps, caller: RoleCaller, key: string, patch: RolePatch): Promise<RoleView> {
  const { access, audit } = caller;
  assertCustomKey(deps.preset, key);
  const permissions = patch.permissions === undefined ? undefined : normalisePermissions(deps.preset, patch.permissions);
  const now = deps.clock.now();
  return withTenant(deps.db, access.tenantId, async (trx) => {
    const current = await findOwnCustomRoleForUpdate(trx, { tenantId: access.tenantId, key });
    if (current === undefined) throw new AppError(RoleErrors.ROLE_NOT_FOUND, { detail: `this tenant defines no custom role ${key}` });
    const scope = patch.scope ?? current.scope;
    const next = permissions ?? current.permissions;
    const widened = scope === 'tenant_and_descendants' && current.scope !== scope;
    // Widening the scope hands the same permissions to the tenants below, so it is a grant too.
    if (permissions !== undefined || widened) assertCanGrant(access, next);
    const added = widened ? next : next.filter((p) => !current.permissions.includes(p));
    if (added.length > 0 && (scope === 'tenant_and_descendants' || (await isRoleHeldInSubtree(trx, { tenantId: access.tenantId, key }, { belowOnly: true })))) {
      assertCanGrantBelow(access, added);
    }
    const before = presentCustom(current);
    const updated = presentCustom(await updateRoleRow(trx, { tenantId: access.tenantId, key, patch: { ...patch, ...(permissions === undefined ? {} : { permissions }) }, now }));
    await appendAuditEvent(
      trx,
      audit,
      { tenantId: access.tenantId, action: 'role.updated', targetType: 'role', targetId: key, before: auditShape(before), after: auditShape(updated) },
      now,
    );
    return updated;
  });
}

/**
 * Deletes a custom role of this tenant unless a membership here or below still holds it. The role row is
 * locked first, so the check and the delete see the same holders as any assignment that locks the role.
 */
export async function deleteRole(deps: RoleDeps, caller: RoleCaller, key: string): Promise<void> {
  const { access, audit } = caller;
  assertCustomKey(deps.preset, key);
  const now = deps.clock.now();
  await withTenant(deps.db, access.tenantId, async (trx) => {
    const current = await findOwnCustomRoleForUpdate(trx, { tenantId: access.tenantId, key });
    if (current === undefined) throw new AppError(RoleErrors.ROLE_NOT_FOUND, { detail: `this tenant defines no custom role ${key}` });
    if (await isRoleHeldInSubtree(trx, { tenantId: access.tenantId, key })) {
      throw new AppError(RoleErrors.ROLE_IN_USE, { detail: `remove role ${key} from every member of this tenant and the tenants below it first` });
    }
    await deleteRoleRow(trx, { tenantId: access.tenantId, key });
    await appendAuditEvent(trx, audit, { tenantId: access.tenantId, action: 'role.deleted', targetType: 'role', targetId: key, before: auditShape(presentCustom(current)) }, now);
  });
}

/**
 * Whether changing the custom role `key` of this tenant as `patch` says would take `permission` away from
 * someone: the role gives it now, somebody holds the role, and afterwards it gives it nowhere (dropped) or no
 * longer below (scope narrowed while people below hold it). Approval policies that protect a permission's
 * holders ask this, so editing a role cannot do what removing its holders directly would need approval for.
 */
export async function roleChangeTakesAway(deps: RoleDeps, access: Access, key: string, patch: RolePatch, permission: string): Promise<boolean> {
  if (deps.preset.roles.has(key)) return false;
  return readTenant(deps.db, access.tenantId, async (trx) => {
    const current = (await listCustomRolesOnPath(trx, [access.tenantId])).find((r) => r.key === key && r.tenant_id === access.tenantId);
    if (current === undefined || !current.permissions.includes(permission)) return false;
    if (patch.permissions !== undefined && !patch.permissions.includes(permission)) return isRoleHeldInSubtree(trx, { tenantId: access.tenantId, key });
    if (patch.scope === 'tenant' && current.scope === 'tenant_and_descendants') return isRoleHeldInSubtree(trx, { tenantId: access.tenantId, key }, { belowOnly: true });
    return false;
  });
}

function assertCustomKey(preset: Preset, key: string): void {
  if (preset.roles.has(key)) throw new AppError(RoleErrors.BUILT_IN_ROLE, { detail: `${key} is a built-in role of the ${preset.name} preset` });
}

/** Catalogue permissions only, without duplicates, sorted; unknown ones answer 422 with all of them listed. */
function normalisePermissions(preset: Preset, permissions: readonly string[]): string[] {
  const unique = [...new Set(permissions)].sort();
  const unknown = unique.filter((p) => !preset.permissions.has(p));
  if (unknown.length > 0) {
    throw new AppError(RoleErrors.UNKNOWN_PERMISSION, { detail: `not in the permission catalogue: ${unknown.join(', ')}`, unknownPermissions: unknown });
  }
  return unique;
}

function roleExists(key: string, what: string): AppError {
  return new AppError(RoleErrors.ROLE_EXISTS, { detail: `${key} is already ${what}` });
}

function presentBuiltIn(preset: Preset, role: RoleDefinition): RoleView {
  return {
    key: role.key,
    name: role.name,
    description: role.description,
    scope: role.scope,
    permissions: [...role.permissions].sort(),
    builtIn: true,
    definedIn: null,
    isOwnerRole: role.key === preset.ownerRole,
  };
}

function presentCustom(row: RoleRow): RoleView {
  return {
    key: row.key,
    name: row.name,
    description: row.description,
    scope: row.scope,
    permissions: [...row.permissions].sort(),
    builtIn: false,
    definedIn: row.tenant_id,
    // Only the preset names the owner role, and no custom role may take a built-in key.
    isOwnerRole: false,
  };
}

function auditShape(view: RoleView): Record<string, unknown> {
  return { key: view.key, name: view.name, description: view.description, scope: view.scope, permissions: view.permissions };
}
