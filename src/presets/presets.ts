import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import { type Static, Type } from 'typebox';
import { PERMISSION_KEY, type PermissionDefinition, PLATFORM_PERMISSIONS } from '../permissions/catalogue.ts';
import type { RoleScope } from '../platform/db/schema.ts';

/**
 * A preset is a data file (SPEC 3): roles, permissions, features, plans and policies that make one seed
 * system work as written. Built-in presets live in data/; TENANTRY_PRESET may also name a JSON file of
 * the same shape. Role permission lists may use "*" (every permission) and "-key" (except that one).
 */
const KEY = '^[a-z][a-z0-9_]{0,62}$';

const PresetFile = Type.Object(
  {
    name: Type.String({ minLength: 1 }),
    description: Type.String(),
    ownerRole: Type.String({ pattern: KEY }),
    maxDepth: Type.Integer({ minimum: 1, maximum: 32 }),
    features: Type.Array(
      Type.Object({ key: Type.String({ pattern: KEY }), name: Type.String(), description: Type.Optional(Type.String()), default: Type.Boolean() }, { additionalProperties: false }),
    ),
    permissions: Type.Array(
      Type.Object(
        { key: Type.String({ pattern: PERMISSION_KEY }), description: Type.String(), requiresFeature: Type.Optional(Type.String({ pattern: KEY })) },
        { additionalProperties: false },
      ),
    ),
    platformPermissionFeatures: Type.Record(Type.String(), Type.String({ pattern: KEY })),
    /** When set, API keys and their tokens work only in tenants where this feature is on (and `api_keys.manage` requires it). */
    apiKeysFeature: Type.Optional(Type.String({ pattern: KEY })),
    /**
     * What an API key (or its machine token) may do on an MQTT broker (seed 000: topics are `{tenantId}/{clientId}/…`):
     * `publish` lets a device publish, and subscribe, under its own client prefix; `subscribe` lets a read-only
     * subscriber read the whole tenant's topics. Absent: brokers admit nobody.
     */
    mqtt: Type.Optional(Type.Object({ publish: Type.String({ pattern: PERMISSION_KEY }), subscribe: Type.String({ pattern: PERMISSION_KEY }) }, { additionalProperties: false })),
    roles: Type.Array(
      Type.Object(
        {
          key: Type.String({ pattern: KEY }),
          name: Type.String({ minLength: 1 }),
          description: Type.String(),
          scope: Type.Union([Type.Literal('tenant'), Type.Literal('tenant_and_descendants')]),
          permissions: Type.Array(Type.String()),
        },
        { additionalProperties: false },
      ),
      { minItems: 1 },
    ),
    plans: Type.Array(
      Type.Object(
        {
          key: Type.String({ pattern: KEY }),
          name: Type.String(),
          limits: Type.Object({
            members: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()]),
            childTenants: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()]),
            apiKeys: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()]),
          }),
        },
        { additionalProperties: false },
      ),
    ),
    defaultPlan: Type.Optional(Type.String({ pattern: KEY })),
    /**
     * The admin tenancy (seed 001): which of its roles make a direct member operator staff, who get a shadow
     * membership in every tenant created while they are staff. Absent: the owner role only.
     */
    adminTenancy: Type.Optional(Type.Object({ staffRoles: Type.Array(Type.String({ pattern: KEY }), { uniqueItems: true }) }, { additionalProperties: false })),
    /**
     * What sign-up creates (SPEC 4): `personal` a tenant the person owns; `enterprise` (seed 000) the organisation
     * as a root tenant and its first tenant below it; `none` (seeds 001, 004) nothing: people join by invitation
     * or are created by an operator, and sign-up without an invitation is refused unless the operator opens it.
     * Signing up through an invitation never creates a tenant, whatever the policy.
     */
    signup: Type.Optional(Type.Object({ tenant: Type.Union([Type.Literal('personal'), Type.Literal('enterprise'), Type.Literal('none')]) }, { additionalProperties: false })),
    /** How tenants may be created. */
    tenants: Type.Optional(
      Type.Object(
        {
          /** Seed 004: one root (the Main Company, created at first start); only a platform super admin makes another. */
          singleRoot: Type.Optional(Type.Boolean()),
          /** The root's name when TENANTRY_ROOT_TENANT_NAME is unset. */
          rootName: Type.Optional(Type.String({ minLength: 1 })),
          /** Seed 001: creating a tenant needs this feature in the licence (`multi_tenant`). */
          creationFeature: Type.Optional(Type.String({ pattern: KEY })),
          /**
           * Who is shown the header's tenant switcher (with two or more tenants): everyone (default, seed 000), or
           * operators only — platform super admins and members of the admin tenancy (seed 001).
           */
          switcher: Type.Optional(Type.Union([Type.Literal('everyone'), Type.Literal('operators')])),
        },
        { additionalProperties: false },
      ),
    ),
    /**
     * The seed system's own paths, kept as thin aliases of the real routes for integrators migrating from it
     * (seed 000). `{activeTenantId}` in a target is the caller's tenant.
     */
    aliases: Type.Optional(
      Type.Array(
        Type.Object(
          {
            method: Type.Union([Type.Literal('GET'), Type.Literal('POST'), Type.Literal('PUT'), Type.Literal('PATCH'), Type.Literal('DELETE')]),
            path: Type.String({ pattern: '^/api/' }),
            target: Type.String({ pattern: '^/api/v1/' }),
            description: Type.String(),
          },
          { additionalProperties: false },
        ),
      ),
    ),
    /** The seed system's words for things, shown by the portal (issue 12): e.g. company-tree says Companies and Requests. */
    labels: Type.Optional(
      Type.Object(
        {
          tenant: Type.Optional(Type.String({ minLength: 1 })),
          tenants: Type.Optional(Type.String({ minLength: 1 })),
          enterprise: Type.Optional(Type.String({ minLength: 1 })),
          approvals: Type.Optional(Type.String({ minLength: 1 })),
        },
        { additionalProperties: false },
      ),
    ),
    policies: Type.Object(
      {
        deletionGraceDays: Type.Integer({ minimum: 0 }),
        approvalRequired: Type.Array(Type.String()),
        /** Who may decide an approval request: someone with approvals.decide in its tenant or above (default), or only above. */
        approvalDeciders: Type.Optional(Type.Union([Type.Literal('same_tenant_or_above'), Type.Literal('above')])),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);

export type SignupPolicy = 'personal' | 'enterprise' | 'none';
export type RouteAlias = NonNullable<PresetFile['aliases']>[number];
type PresetFile = Static<typeof PresetFile>;

export interface RoleDefinition {
  key: string;
  name: string;
  description: string;
  scope: RoleScope;
  permissions: ReadonlySet<string>;
  builtIn: boolean;
}

export interface FeatureDefinition {
  key: string;
  name: string;
  description: string | null;
  default: boolean;
}

export interface Preset {
  name: string;
  description: string;
  ownerRole: string;
  maxDepth: number;
  features: ReadonlyMap<string, FeatureDefinition>;
  /** Platform and application permissions, in catalogue order. */
  permissions: ReadonlyMap<string, PermissionDefinition>;
  roles: ReadonlyMap<string, RoleDefinition>;
  /** The feature API keys need in a tenant (seed 000's Mgmt REST API add-on), or null: keys always work. */
  apiKeysFeature: string | null;
  /** The permissions behind MQTT publishing (own client prefix) and tenant-wide subscribing; null: no MQTT. */
  mqtt: { publish: string; subscribe: string } | null;
  plans: PresetFile['plans'];
  defaultPlan: string | null;
  /**
   * Roles that make a direct member of the admin tenancy operator staff (shadow access to every tenant created
   * while they hold one). Never a fallback: holding one of these there, or an operator having made the admin
   * tenancy the person's default tenant, is what makes staff (migration 0013).
   */
  staffRoles: readonly string[];
  signup: SignupPolicy;
  tenants: { singleRoot: boolean; rootName: string | null; creationFeature: string | null; switcher: 'everyone' | 'operators' };
  aliases: readonly RouteAlias[];
  labels: PresetLabels;
  policies: PresetFile['policies'];
}

export interface PresetLabels {
  tenant: string;
  tenants: string;
  enterprise: string;
  approvals: string;
}

export const BUILT_IN_PRESETS = ['default', 'mqtt-portal', 'msp', 'marketplace', 'company-tree'] as const;

export class PresetError extends Error {
  override name = 'PresetError';
}

const validate = new Ajv({ allErrors: true, strict: false }).compile(PresetFile);

/** A built-in preset by name, or a preset JSON file by path. Throws PresetError with every problem found. */
export function loadPreset(nameOrPath: string): Preset {
  const url = (BUILT_IN_PRESETS as readonly string[]).includes(nameOrPath)
    ? new URL(`./data/${nameOrPath}.json`, import.meta.url)
    : nameOrPath.endsWith('.json')
      ? nameOrPath
      : undefined;
  if (url === undefined) {
    throw new PresetError(`TENANTRY_PRESET must be one of ${BUILT_IN_PRESETS.join(', ')} or a path to a .json preset, got "${nameOrPath}"`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(url, 'utf8'));
  } catch (error) {
    throw new PresetError(`cannot read preset ${String(url)}: ${(error as Error).message}`);
  }
  return buildPreset(raw);
}

export function buildPreset(raw: unknown): Preset {
  if (!validate(raw)) {
    throw new PresetError(`invalid preset: ${(validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message}`).join('; ')}`);
  }
  const file = raw as PresetFile;
  const problems: string[] = [];
  const features = new Map(file.features.map((f) => [f.key, { key: f.key, name: f.name, description: f.description ?? null, default: f.default }]));

  const permissions = new Map<string, PermissionDefinition>();
  const apiKeysFeature = file.apiKeysFeature ?? null;
  if (apiKeysFeature !== null) {
    if (!features.has(apiKeysFeature)) problems.push(`apiKeysFeature names unknown feature ${apiKeysFeature}`);
    const declared = file.platformPermissionFeatures['api_keys.manage'];
    if (declared !== undefined && declared !== apiKeysFeature) problems.push(`api_keys.manage requires ${declared} but apiKeysFeature is ${apiKeysFeature}`);
  }
  for (const [key, def] of Object.entries(PLATFORM_PERMISSIONS)) {
    const feature = file.platformPermissionFeatures[key] ?? (key === 'api_keys.manage' ? apiKeysFeature : null);
    permissions.set(key, { key, description: def.description, source: 'platform', requiresFeature: feature, whileSuspended: def.whileSuspended });
  }
  for (const p of file.permissions) {
    if (permissions.has(p.key)) problems.push(`permission ${p.key} is declared twice`);
    permissions.set(p.key, { key: p.key, description: p.description, source: 'application', requiresFeature: p.requiresFeature ?? null, whileSuspended: false });
  }
  for (const [key, feature] of Object.entries(file.platformPermissionFeatures)) {
    if (!(key in PLATFORM_PERMISSIONS)) problems.push(`platformPermissionFeatures names unknown permission ${key}`);
    if (!features.has(feature)) problems.push(`permission ${key} requires unknown feature ${feature}`);
  }
  for (const p of permissions.values()) {
    if (p.requiresFeature !== null && !features.has(p.requiresFeature)) problems.push(`permission ${p.key} requires unknown feature ${p.requiresFeature}`);
  }

  const roles = new Map<string, RoleDefinition>();
  for (const role of file.roles) {
    if (roles.has(role.key)) problems.push(`role ${role.key} is declared twice`);
    const granted = new Set<string>();
    for (const entry of role.permissions) {
      if (entry === '*') for (const key of permissions.keys()) granted.add(key);
      else if (entry.startsWith('-')) granted.delete(entry.slice(1));
      else if (permissions.has(entry)) granted.add(entry);
      else problems.push(`role ${role.key} grants unknown permission ${entry}`);
    }
    roles.set(role.key, { key: role.key, name: role.name, description: role.description, scope: role.scope, permissions: granted, builtIn: true });
  }
  const owner = roles.get(file.ownerRole);
  if (owner === undefined) problems.push(`ownerRole ${file.ownerRole} is not one of the roles`);
  else if (owner.permissions.size !== permissions.size) problems.push(`ownerRole ${file.ownerRole} must grant every permission ("*")`);
  if (file.defaultPlan !== undefined && !file.plans.some((p) => p.key === file.defaultPlan)) problems.push(`defaultPlan ${file.defaultPlan} is not a plan`);
  const staffRoles = file.adminTenancy?.staffRoles ?? [file.ownerRole];
  for (const key of staffRoles) if (!roles.has(key)) problems.push(`adminTenancy.staffRoles names unknown role ${key}`);
  const creationFeature = file.tenants?.creationFeature ?? null;
  if (creationFeature !== null && !features.has(creationFeature)) problems.push(`tenants.creationFeature names unknown feature ${creationFeature}`);
  if (file.tenants?.singleRoot === true && file.signup?.tenant !== 'none') problems.push('tenants.singleRoot needs signup.tenant "none": sign-up would make more roots');
  for (const key of [file.mqtt?.publish, file.mqtt?.subscribe]) if (key !== undefined && !permissions.has(key)) problems.push(`mqtt names unknown permission ${key}`);
  if (file.signup?.tenant === 'enterprise' && file.maxDepth < 2) problems.push('signup.tenant "enterprise" needs maxDepth ≥ 2 (the enterprise and a tenant below it)');
  if (problems.length > 0) throw new PresetError(`invalid preset ${file.name}: ${problems.join('; ')}`);

  return {
    name: file.name,
    description: file.description,
    ownerRole: file.ownerRole,
    maxDepth: file.maxDepth,
    features,
    permissions,
    roles,
    apiKeysFeature,
    mqtt: file.mqtt ?? null,
    plans: file.plans,
    defaultPlan: file.defaultPlan ?? file.plans[0]?.key ?? null,
    staffRoles,
    signup: file.signup?.tenant ?? 'personal',
    tenants: { singleRoot: file.tenants?.singleRoot ?? false, rootName: file.tenants?.rootName ?? null, creationFeature, switcher: file.tenants?.switcher ?? 'everyone' },
    aliases: file.aliases ?? [],
    labels: { tenant: 'Tenant', tenants: 'Tenants', enterprise: 'Organisation', approvals: 'Approvals', ...file.labels },
    policies: file.policies,
  };
}
