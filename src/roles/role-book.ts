import type { Tx } from '../platform/db/context.ts';
import { AppError } from '../platform/http/errors.ts';
import { resolveRole } from '../permissions/access.ts';
import type { Preset, RoleDefinition } from '../presets/presets.ts';
import { RoleErrors } from './roles.errors.ts';
import { loadCustomRoles } from './roles.repository.ts';

/**
 * The roles as the tenants of one path see them: a key means the custom role of the tenant or its nearest ancestor
 * defining it, else the preset's. The one way role keys become permissions outside the permission resolver
 * (`computeAccess`, which reads the same rows in `tenantry_access_input`): inviting, accepting, adding and changing
 * members, the approval deciders' mail and the tenant list's inherited tenants all read roles through it.
 */
export class RoleBook {
  private readonly preset: Preset;
  private readonly path: readonly string[];
  private readonly customRoles: Map<string, Map<string, RoleDefinition>>;

  private constructor(preset: Preset, path: readonly string[], customRoles: Map<string, Map<string, RoleDefinition>>) {
    this.preset = preset;
    this.path = path;
    this.customRoles = customRoles;
  }

  /**
   * The book for `path` (root first, the tenant last). The caller is in the last tenant's context, where the
   * ancestors' custom roles are readable. With `keys`, the custom roles are read only when one of them is not a
   * built-in key (custom roles never take one: roles.service refuses it).
   */
  static async load(trx: Tx, preset: Preset, path: readonly string[], keys?: Iterable<string>): Promise<RoleBook> {
    const builtInOnly = keys !== undefined && [...keys].every((key) => preset.roles.has(key));
    return new RoleBook(preset, path, builtInOnly ? new Map() : await loadCustomRoles(trx, path));
  }

  /** `key` as seen from `tenantId` (default: the path's last tenant); undefined when no role has that key there. */
  resolve(key: string, tenantId: string = this.path.at(-1) ?? ''): RoleDefinition | undefined {
    return resolveRole(this.preset, { path: this.path, customRoles: this.customRoles }, tenantId, key);
  }

  /** The definitions of `keys` in the path's last tenant; `422 unknown_role` naming every key that has none. */
  require(keys: readonly string[]): RoleDefinition[] {
    const unknown = keys.filter((key) => this.resolve(key) === undefined);
    if (unknown.length > 0) throw new AppError(RoleErrors.UNKNOWN_ROLE, { detail: `no role ${unknown.join(', ')} in this tenant`, roles: unknown });
    return keys.flatMap((key) => this.resolve(key) ?? []);
  }

  /** Every permission the roles `keys` give in the path's last tenant (keys without a role give nothing). */
  permissionsOf(keys: readonly string[]): Set<string> {
    const all = new Set<string>();
    for (const key of keys) for (const p of this.resolve(key)?.permissions ?? []) all.add(p);
    return all;
  }
}
