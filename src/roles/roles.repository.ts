import { sql, type Selectable } from 'kysely';
import { enterTenantContext, type Tx } from '../platform/db/context.ts';
import type { RoleScope, RolesTable } from '../platform/db/schema.ts';
import type { RoleDefinition } from '../presets/presets.ts';

export type RoleRow = Selectable<RolesTable>;

/**
 * The custom roles defined in `tenantId` and its ancestors (`path`, root first, the tenant last), by key.
 * Caller is in the tenant's context; the `roles` policy `ancestors_readable` is what makes the ancestors'
 * rows visible there.
 */
export async function listCustomRolesOnPath(trx: Tx, path: readonly string[]): Promise<RoleRow[]> {
  return trx.selectFrom('roles').selectAll().where('tenant_id', 'in', [...path]).orderBy('key').orderBy('tenant_id').execute();
}

/**
 * Custom roles defined in the tenants of `path` (root first, the tenant last), by defining tenant, in
 * the shape `resolveRole` takes. Caller is in the last tenant's context, where the `roles` policy shows
 * exactly these rows.
 */
export async function loadCustomRoles(trx: Tx, path: readonly string[]): Promise<Map<string, Map<string, RoleDefinition>>> {
  return customRolesByTenant(await listCustomRolesOnPath(trx, path));
}

/** Stored custom roles by defining tenant, in the shape `resolveRole` takes (also for `tenantry_access_input`'s rows). */
export function customRolesByTenant(rows: ReadonlyArray<Pick<RoleRow, 'tenant_id' | 'key' | 'name' | 'description' | 'scope' | 'permissions'>>): Map<string, Map<string, RoleDefinition>> {
  const byTenant = new Map<string, Map<string, RoleDefinition>>();
  for (const r of rows) {
    const roles = byTenant.get(r.tenant_id) ?? new Map<string, RoleDefinition>();
    roles.set(r.key, { key: r.key, name: r.name, description: r.description ?? '', scope: r.scope, permissions: new Set(r.permissions), builtIn: false });
    byTenant.set(r.tenant_id, roles);
  }
  return byTenant;
}

/** A custom role defined in `tenantId` itself, locked for the rest of the transaction (edits and deletes). */
export async function findOwnCustomRoleForUpdate(trx: Tx, role: { tenantId: string; key: string }): Promise<RoleRow | undefined> {
  return trx.selectFrom('roles').selectAll().where('tenant_id', '=', role.tenantId).where('key', '=', role.key).forUpdate().executeTakeFirst();
}

export interface NewRole {
  tenantId: string;
  key: string;
  name: string;
  description: string | null;
  scope: RoleScope;
  permissions: readonly string[];
  now: Date;
}

/** Inserts the role, or returns undefined if this tenant already defines the key (the primary key decides). */
export async function insertRole(trx: Tx, role: NewRole): Promise<RoleRow | undefined> {
  return trx
    .insertInto('roles')
    .values({
      tenant_id: role.tenantId,
      key: role.key,
      name: role.name,
      description: role.description,
      scope: role.scope,
      permissions: [...role.permissions],
      created_at: role.now,
      updated_at: role.now,
    })
    .onConflict((oc) => oc.columns(['tenant_id', 'key']).doNothing())
    .returningAll()
    .executeTakeFirst();
}

export interface RolePatch {
  name?: string;
  description?: string | null;
  scope?: RoleScope;
  permissions?: readonly string[];
}

export async function updateRole(trx: Tx, role: { tenantId: string; key: string; patch: RolePatch; now: Date }): Promise<RoleRow> {
  const { permissions, ...rest } = role.patch;
  return trx
    .updateTable('roles')
    .set({ ...rest, ...(permissions === undefined ? {} : { permissions: [...permissions] }), updated_at: role.now })
    .where('tenant_id', '=', role.tenantId)
    .where('key', '=', role.key)
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function deleteRole(trx: Tx, role: { tenantId: string; key: string }): Promise<void> {
  await trx.deleteFrom('roles').where('tenant_id', '=', role.tenantId).where('key', '=', role.key).execute();
}

/**
 * Whether anyone holds the custom role `key` defined in `tenantId`: a membership (direct or shadow) in
 * the tenant or in a descendant that does not redefine the key on the way down (there the nearer
 * definition is the one held). Caller is in `tenantId`'s context and gets it back.
 *
 * Memberships are visible only in their own tenant's context, so this visits each tenant of the subtree
 * in turn (the tree itself is readable everywhere) rather than widening to the system context: role
 * deletion is rare, and every read stays confined by row-level security.
 */
export async function isRoleHeldInSubtree(trx: Tx, role: { tenantId: string; key: string }, options: { belowOnly?: boolean } = {}): Promise<boolean> {
  const subtree = await trx
    .selectFrom('tenant_tree')
    .select(['tenant_id', 'path'])
    .where(sql<boolean>`${role.tenantId} = ANY (path)`)
    .orderBy(sql`cardinality(path)`)
    .execute();
  let held = false;
  for (const tenant of subtree) {
    if (options.belowOnly === true && tenant.tenant_id === role.tenantId) continue;
    if (tenant.tenant_id !== role.tenantId) await enterTenantContext(trx, tenant.tenant_id);
    const below = tenant.path.slice(tenant.path.indexOf(role.tenantId) + 1);
    let query = trx.selectFrom('membership_roles').select('user_id').where('tenant_id', '=', tenant.tenant_id).where('role_key', '=', role.key);
    if (below.length > 0) {
      query = query.where(({ not, exists, selectFrom }) =>
        not(exists(selectFrom('roles').select('key').where('key', '=', role.key).where('tenant_id', 'in', below))),
      );
    }
    if ((await query.limit(1).executeTakeFirst()) !== undefined) {
      held = true;
      break;
    }
  }
  await enterTenantContext(trx, role.tenantId);
  return held;
}
