import type { Preset, RoleDefinition } from '../presets/presets.ts';
import type { AccessVia, MembershipKind, TenantStatus } from '../platform/db/schema.ts';

/**
 * SPEC 2, in one pure function. Effective permissions of a subject in tenant T =
 *   (roles of the subject's membership in T, direct or shadow
 *    ∪ `tenant_and_descendants` roles the subject holds in any ancestor of T)
 *   ∩ permissions whose required feature is on in T
 *   ∩ what T's status allows.
 * A platform super_admin may do everything everywhere, and is audited as such.
 * Every endpoint, the check API and the tokens use this, through AccessResolver's cache.
 */
export interface AccessInput {
  tenantId: string;
  tenantName: string;
  status: TenantStatus;
  /** Root first, T last. */
  path: readonly string[];
  /** The subject's memberships in T and its ancestors. */
  memberships: ReadonlyArray<{ tenantId: string; kind: MembershipKind; roles: readonly string[] }>;
  /** Custom roles defined in T and its ancestors, by defining tenant. */
  customRoles: ReadonlyMap<string, ReadonlyMap<string, RoleDefinition>>;
  /** Per-tenant feature overrides for T; absent = the preset's default. */
  featureOverrides: ReadonlyMap<string, boolean>;
  /** The features the licence covers; null or absent = every feature (no licence file). */
  licensedFeatures?: ReadonlySet<string> | null;
  isSuperAdmin: boolean;
  /** For an API key acting in its own tenant: its explicit permissions stand in for roles. */
  apiKey?: { keyId: string; permissions: readonly string[] };
}

export interface Access {
  tenantId: string;
  tenantName: string;
  status: TenantStatus;
  path: readonly string[];
  /** Whether the subject can see the tenant at all; false answers 404. */
  visible: boolean;
  /** How the subject reaches the tenant, for the audit trail. */
  via: AccessVia | null;
  /** The API key this access is for, if the subject is one. */
  apiKeyId: string | null;
  /** The subject's own membership in T, if any. */
  membership: { kind: MembershipKind; roles: readonly string[] } | null;
  permissions: ReadonlySet<string>;
  /** For each permission held, the first grant found, in words. */
  grants: ReadonlyMap<string, string>;
  /** Every permission some role would grant, before feature and status filters (for explanations). */
  roleGrants: ReadonlyMap<string, string>;
  /**
   * The part of `roleGrants` that comes from above the tenant: a `tenant_and_descendants` role in an ancestor,
   * operator (shadow) access, or the platform. Lifting a suspension needs the permission from here.
   */
  fromAbove: ReadonlySet<string>;
  /**
   * What the subject's roles give in every tenant below T (before filters): `tenant_and_descendants` roles held
   * in T or above, and the platform. A grant that reaches below T (a descendant-scoped role, or a change to a
   * role people below hold) may not exceed it (issue 10: authority cannot be manufactured).
   */
  reachBelow: ReadonlySet<string>;
  enabledFeatures: ReadonlySet<string>;
  licensedFeatures: ReadonlySet<string> | null;
}

/** A role key as seen from `tenantId`: a custom role of it or an ancestor, else the preset's. */
export function resolveRole(preset: Preset, input: Pick<AccessInput, 'path' | 'customRoles'>, tenantId: string, key: string): RoleDefinition | undefined {
  const upTo = input.path.indexOf(tenantId);
  for (let i = upTo; i >= 0; i--) {
    const custom = input.customRoles.get(input.path[i] ?? '')?.get(key);
    if (custom !== undefined) return custom;
  }
  return preset.roles.get(key);
}

/** The features on in a tenant: licensed, and its override or else the preset's default (SPEC 4). */
export function enabledFeatures(preset: Preset, overrides: ReadonlyMap<string, boolean>, licensed: ReadonlySet<string> | null = null): Set<string> {
  const enabled = new Set<string>();
  for (const feature of preset.features.values()) {
    if (licensed !== null && !licensed.has(feature.key)) continue;
    if (overrides.get(feature.key) ?? feature.default) enabled.add(feature.key);
  }
  return enabled;
}

/**
 * SPEC 4, who may enter a tenant (the resolver's `visible`, a tenant list's entries): anyone with access while it is
 * active; outside `active` (suspended, pending deletion) only its direct owners and those whose access comes from
 * above it (an ancestor's role, operator shadow access, the platform). An API key enters its own tenant whatever its
 * status (what it may do there is filtered like everyone's). Nobody enters a deleted tenant.
 */
export function entersTenant(status: TenantStatus, who: { owns: boolean; fromAbove: boolean }): boolean {
  return status === 'active' || (status !== 'deleted' && (who.owns || who.fromAbove));
}

export function computeAccess(preset: Preset, input: AccessInput): Access {
  const roleGrants = new Map<string, string>();
  const fromAbove = new Set<string>();
  const reachBelow = new Set<string>();
  let via: AccessVia | null = null;
  const own = input.memberships.find((m) => m.tenantId === input.tenantId) ?? null;
  if (own !== null) {
    via = own.kind === 'shadow' ? 'shadow' : 'direct';
    for (const key of own.roles) {
      const role = resolveRole(preset, input, input.tenantId, key);
      if (role === undefined) continue;
      const how = own.kind === 'shadow' ? `role ${role.key} through operator (shadow) access` : `role ${role.key} in this tenant`;
      for (const p of role.permissions) {
        if (!roleGrants.has(p)) roleGrants.set(p, how);
        if (own.kind === 'shadow') fromAbove.add(p);
        if (role.scope === 'tenant_and_descendants') reachBelow.add(p);
      }
    }
  }
  // Nearest ancestor first, so the reason names the closest grant.
  for (const ancestor of [...input.path.slice(0, -1)].reverse()) {
    const membership = input.memberships.find((m) => m.tenantId === ancestor);
    if (membership === undefined) continue;
    for (const key of membership.roles) {
      const role = resolveRole(preset, input, ancestor, key);
      if (role === undefined || role.scope !== 'tenant_and_descendants') continue;
      via ??= 'ancestor';
      for (const p of role.permissions) {
        if (!roleGrants.has(p)) roleGrants.set(p, `role ${role.key} held in ancestor tenant ${ancestor} (applies to descendants)`);
        fromAbove.add(p);
        reachBelow.add(p);
      }
    }
  }
  if (input.apiKey !== undefined) {
    via = 'direct';
    for (const p of input.apiKey.permissions) roleGrants.set(p, `API key ${input.apiKey.keyId}`);
  }
  if (input.isSuperAdmin) {
    via ??= 'platform_admin';
    for (const p of preset.permissions.keys()) {
      if (!roleGrants.has(p)) roleGrants.set(p, 'platform super_admin');
      fromAbove.add(p);
      reachBelow.add(p);
    }
  }

  const owns = own?.kind === 'direct' && own.roles.includes(preset.ownerRole);
  if (input.apiKey === undefined && !entersTenant(input.status, { owns, fromAbove: fromAbove.size > 0 })) via = null;

  const licensedFeatures = input.licensedFeatures ?? null;
  const features = enabledFeatures(preset, input.featureOverrides, licensedFeatures);
  const grants = new Map<string, string>();
  const live = input.status !== 'deleted';
  for (const [permission, reason] of roleGrants) {
    const def = preset.permissions.get(permission);
    if (def === undefined || !live || via === null) continue;
    if (def.requiresFeature !== null && !features.has(def.requiresFeature)) continue;
    if (input.status !== 'active' && !def.whileSuspended) continue;
    grants.set(permission, reason);
  }
  return {
    tenantId: input.tenantId,
    tenantName: input.tenantName,
    status: input.status,
    path: input.path,
    visible: live && via !== null,
    via,
    apiKeyId: input.apiKey?.keyId ?? null,
    membership: own === null ? null : { kind: own.kind, roles: own.roles },
    permissions: new Set(grants.keys()),
    grants,
    roleGrants,
    fromAbove,
    reachBelow,
    enabledFeatures: features,
    licensedFeatures,
  };
}

/** The check API's answer: allowed or not, and why, in words a person can act on. */
export function explain(preset: Preset, access: Access | undefined, permission: string): { allowed: boolean; reason: string } {
  const def = preset.permissions.get(permission);
  if (def === undefined) return { allowed: false, reason: `${permission} is not in the permission catalogue` };
  if (access === undefined || !access.visible) return { allowed: false, reason: 'no membership in this tenant and no inherited role grants access to it' };
  const granted = access.grants.get(permission);
  if (granted !== undefined) return { allowed: true, reason: `granted by ${granted}` };
  if (!access.roleGrants.has(permission)) {
    if (access.apiKeyId !== null) return { allowed: false, reason: `the API key ${access.apiKeyId} does not carry ${permission}` };
    const held = access.membership?.roles.join(', ');
    return { allowed: false, reason: held ? `none of the roles held (${held}) grants ${permission}` : `no role held grants ${permission}` };
  }
  if (def.requiresFeature !== null && access.licensedFeatures !== null && !access.licensedFeatures.has(def.requiresFeature)) {
    return { allowed: false, reason: `${permission} needs the feature ${def.requiresFeature}, which the licence does not cover` };
  }
  if (def.requiresFeature !== null && !access.enabledFeatures.has(def.requiresFeature)) {
    return { allowed: false, reason: `${permission} needs the feature ${def.requiresFeature}, which is off for this tenant` };
  }
  return { allowed: false, reason: `the tenant is ${access.status.replace('_', ' ')}, which allows only reading and billing` };
}
