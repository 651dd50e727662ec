import { sql } from 'kysely';
import type { Db } from '../platform/db/context.ts';
import type { MembershipKind, TenantStatus } from '../platform/db/schema.ts';
import type { Preset, RoleDefinition } from '../presets/presets.ts';
import { customRolesByTenant } from '../roles/roles.repository.ts';
import { TaggedCache } from '../platform/tagged-cache.ts';
import { type Access, computeAccess } from './access.ts';

export const INVALIDATE_CHANNEL = 'tenantry_invalidate';

export interface Subject {
  userId: string;
  isSuperAdmin: boolean;
}

/** An API key as a subject: it acts only in its own tenant, with only these permissions. */
export interface KeySubject {
  keyId: string;
  tenantId: string;
  permissions: readonly string[];
}

/**
 * Effective permissions with an in-process cache. Entries are dropped when anything they depend on
 * changes: this process learns at once (commit hooks on withTenant/withSystem), every other process
 * through NOTIFY on `tenantry_invalidate`, which triggers on memberships, roles, features, the tree,
 * tenant status and platform roles send at commit. The cache is bounded; the oldest entries go first.
 */
export class AccessResolver {
  readonly #db: Db;
  readonly #preset: Preset;
  readonly #licensedFeatures: () => ReadonlySet<string> | null;
  /** Tagged with the tenants whose changes can alter an entry (T and its ancestors, the admin tenancy behind a shadow membership) and the subject. */
  readonly #entries: TaggedCache<Access>;

  /** `licensedFeatures`: what the licence covers now (null = everything); a change must be followed by `invalidate('*')`. */
  constructor(options: { db: Db; preset: Preset; maxEntries?: number; licensedFeatures?: () => ReadonlySet<string> | null }) {
    this.#db = options.db;
    this.#preset = options.preset;
    this.#entries = new TaggedCache(options.maxEntries ?? 50_000);
    this.#licensedFeatures = options.licensedFeatures ?? (() => null);
  }

  get preset(): Preset {
    return this.#preset;
  }

  /** The subject's access to `tenantId`; never throws for unknown tenants (they are simply not visible). */
  async forUser(subject: Subject, tenantId: string): Promise<Access> {
    // Shadow access depends on the person's membership in the admin tenancy that granted it as well.
    const shadowSources: string[] = [];
    return this.#cached(
      `${subject.userId}|${subject.isSuperAdmin ? 1 : 0}|${tenantId}`,
      `user:${subject.userId}`,
      () => loadAccess(this.#db, this.#preset, this.#licensedFeatures(), subject, tenantId, shadowSources),
      shadowSources,
    );
  }

  /**
   * An API key's access to `tenantId`: its permissions, narrowed by the tenant's features and status, in
   * its own tenant; nothing (not visible, so 404) anywhere else, including the tenants below its own.
   */
  async forKey(key: KeySubject, tenantId: string): Promise<Access> {
    const permissions = [...key.permissions].sort();
    return this.#cached(`${key.keyId}|${permissions.join(' ')}|${tenantId}`, `key:${key.keyId}`, () =>
      tenantId === key.tenantId
        ? loadAccess(this.#db, this.#preset, this.#licensedFeatures(), { keyId: key.keyId, permissions }, tenantId)
        : Promise.resolve(nobody(this.#preset, tenantId)),
    );
  }

  #cached(key: string, subjectTag: string, load: () => Promise<Access>, alsoDependsOn: readonly string[] = []): Promise<Access> {
    return this.#entries.getOrLoad(key, load, (access) => [...access.path, subjectTag, ...alsoDependsOn]);
  }

  /** Drops entries depending on `scope`: a tenant id, `user:<id>`, `key:<id>`, or '*' for everything. */
  invalidate(scope: string): void {
    this.#entries.invalidate(scope);
  }

  get size(): number {
    return this.#entries.size;
  }
}

function nobody(preset: Preset, tenantId: string): Access {
  return computeAccess(preset, {
    tenantId,
    tenantName: '',
    status: 'deleted',
    path: [tenantId],
    memberships: [],
    customRoles: new Map(),
    featureOverrides: new Map(),
    isSuperAdmin: false,
  });
}

/** What `tenantry_access_input` returns (migration 0018). */
interface AccessInput {
  name: string;
  status: TenantStatus;
  path: string[];
  features: Record<string, boolean>;
  memberships: Array<{ tenantId: string; kind: MembershipKind; shadowOf: string | null; role: string | null }>;
  /** The `roles` rows defined on the path, with their column names. */
  roles: Array<{ tenant_id: string; key: string; name: string; description: string | null; scope: RoleDefinition['scope']; permissions: string[] }>;
}

/**
 * Reads everything computeAccess needs in one statement (`tenantry_access_input`, migration 0018), in T's
 * row-level-security context (and a user subject's own context). A key subject has no memberships: its permissions
 * stand in for roles. The admin tenancies behind the subject's shadow memberships on the path go into `shadowSources`.
 */
async function loadAccess(
  db: Db,
  preset: Preset,
  licensedFeatures: ReadonlySet<string> | null,
  subject: Subject | { keyId: string; permissions: readonly string[] },
  tenantId: string,
  shadowSources: string[] = [],
): Promise<Access> {
  const userId = 'keyId' in subject ? null : subject.userId;
  const { rows } = await sql<{ input: AccessInput | null }>`SELECT tenantry_access_input(${tenantId}, ${userId}) AS input`.execute(db);
  const input = rows[0]?.input ?? null;
  if (input === null) return nobody(preset, tenantId);
  const base = { tenantId, tenantName: input.name, status: input.status, path: input.path, featureOverrides: new Map(Object.entries(input.features)), licensedFeatures };
  if ('keyId' in subject) {
    return computeAccess(preset, { ...base, memberships: [], customRoles: new Map(), isSuperAdmin: false, apiKey: subject });
  }
  const memberships = new Map<string, { tenantId: string; kind: MembershipKind; roles: string[] }>();
  for (const row of input.memberships) {
    if (row.shadowOf !== null && !shadowSources.includes(row.shadowOf)) shadowSources.push(row.shadowOf);
    const m = memberships.get(row.tenantId) ?? { tenantId: row.tenantId, kind: row.kind, roles: [] };
    if (row.role !== null) m.roles.push(row.role);
    memberships.set(row.tenantId, m);
  }
  return computeAccess(preset, { ...base, memberships: [...memberships.values()], customRoles: customRolesByTenant(input.roles), isSuperAdmin: subject.isSuperAdmin });
}
