import type { Preset } from '../presets/presets.ts';
import { loadCustomRoles } from '../roles/roles.repository.ts';
import { type Db, readTenant, type Tx } from '../platform/db/context.ts';
import type { MembershipKind } from '../platform/db/schema.ts';
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
      () => readTenant(this.#db, tenantId, (trx) => loadAccess(trx, this.#preset, this.#licensedFeatures(), subject, tenantId, shadowSources), subject.userId),
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
        ? readTenant(this.#db, tenantId, (trx) => loadAccess(trx, this.#preset, this.#licensedFeatures(), { keyId: key.keyId, permissions }, tenantId))
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

/**
 * Reads everything computeAccess needs; the transaction is in T's context (and a user subject's own
 * context). A key subject has no memberships: its permissions stand in for roles. The admin tenancies behind
 * the subject's shadow memberships on the path go into `shadowSources`.
 */
async function loadAccess(
  trx: Tx,
  preset: Preset,
  licensedFeatures: ReadonlySet<string> | null,
  subject: Subject | { keyId: string; permissions: readonly string[] },
  tenantId: string,
  shadowSources: string[] = [],
): Promise<Access> {
  const tenant = await trx
    .selectFrom('tenants as t')
    .innerJoin('tenant_tree as tt', 'tt.tenant_id', 't.id')
    .select(['t.name', 't.status', 'tt.path'])
    .where('t.id', '=', tenantId)
    .executeTakeFirst();
  if (tenant === undefined) return nobody(preset, tenantId);
  const features = await trx.selectFrom('tenant_features').select(['feature', 'enabled']).where('tenant_id', '=', tenantId).execute();
  const base = { tenantId, tenantName: tenant.name, status: tenant.status, path: tenant.path, featureOverrides: new Map(features.map((f) => [f.feature, f.enabled])), licensedFeatures };
  if ('keyId' in subject) {
    return computeAccess(preset, { ...base, memberships: [], customRoles: new Map(), isSuperAdmin: false, apiKey: subject });
  }
  const rows = await trx
    .selectFrom('memberships as m')
    .leftJoin('membership_roles as r', (j) => j.onRef('r.tenant_id', '=', 'm.tenant_id').onRef('r.user_id', '=', 'm.user_id'))
    .select(['m.tenant_id', 'm.kind', 'm.shadow_of', 'r.role_key'])
    .where('m.user_id', '=', subject.userId)
    .where('m.tenant_id', 'in', tenant.path)
    .execute();
  const memberships = new Map<string, { tenantId: string; kind: MembershipKind; roles: string[] }>();
  for (const row of rows) {
    if (row.shadow_of !== null && !shadowSources.includes(row.shadow_of)) shadowSources.push(row.shadow_of);
    const m = memberships.get(row.tenant_id) ?? { tenantId: row.tenant_id, kind: row.kind, roles: [] };
    if (row.role_key !== null) m.roles.push(row.role_key);
    memberships.set(row.tenant_id, m);
  }
  const customRoles = await loadCustomRoles(trx, tenant.path);
  return computeAccess(preset, { ...base, memberships: [...memberships.values()], customRoles, isSuperAdmin: subject.isSuperAdmin });
}
