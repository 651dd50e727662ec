import type { Selectable } from 'kysely';
import type { Tx } from '../platform/db/context.ts';
import type { RoleScope, RolesTable } from '../platform/db/schema.ts';
import type { RoleDefinition } from '../presets/presets.ts';

export type RoleRow = Selectable<RolesTable>;

/**
 * The custom roles defined in `tenantId` and its ancestors (`path`, root first, the tenant last), by key.
 * Caller is in the tenant's context; the `roles` policy `ancestors_readable` is what makes the ancestors'
 * rows visible there.
 */
export async function listCustomRolesOnPath(trx: Tx, path: readonly string[]): Promise<RoleRow[]> {
  return trx
    .selectFrom('roles')
    .selectAll()
    .where('tenant_id', 'in', [...path])
    .orderBy('key')
    .orderBy('tenant_id')
    .execute();
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
export function customRolesByTenant(
  rows: ReadonlyArray<Pick<RoleRow, 'tenant_id' | 'key' | 'name' | 'description' | 'scope' | 'permissions'>>,
): Map<string, Map<string, RoleDefinition>> {
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
 * Share-locks the custom roles `keys` defined in `tenantId` itself, so a concurrent role deletion (which
 * locks the row for update, then checks that nobody holds the role) waits for this transaction and sees
 * its grant. Roles defined in an ancestor cannot be locked from this tenant's context.
 */
export async function lockOwnCustomRoles(trx: Tx, role: { tenantId: string; keys: readonly string[] }): Promise<void> {
  if (role.keys.length === 0) return;
  await trx
    .selectFrom('roles')
    .select('key')
    .where('tenant_id', '=', role.tenantId)
    .where('key', 'in', [...role.keys])
    .forShare()
    .execute();
}
