import { directMemberCount } from '../members/memberships.repository.ts';
import type { Tx } from '../platform/db/context.ts';
import type { TenantStatus, TenantsTable } from '../platform/db/schema.ts';
import { randomBase32 } from '../platform/ids.ts';
import { type Selectable, sql } from 'kysely';

export type TenantRow = Selectable<TenantsTable>;

export const SLUG_PATTERN = '^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$';

/** A slug-shaped version of `text`: lowercase ASCII letters, digits and single dashes, 2–40 characters. */
export function slugify(text: string): string {
  const base = text
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40)
    .replace(/-+$/g, '');
  return base.length >= 2 ? base : `tenant-${randomBase32(6)}`;
}

export interface NewTenant {
  id: string;
  slug: string;
  name: string;
  parentId?: string | null;
  /** Owned by the platform, not a member (migration 0016); fixed at creation. */
  platformOwned?: boolean;
  now: Date;
}

/**
 * Inserts the tenant and its place in the tree, or returns undefined if the slug is taken. Caller is in
 * the new tenant's context. The tree trigger refuses a missing parent and a tree deeper than allowed.
 */
export async function insertTenant(trx: Tx, tenant: NewTenant): Promise<TenantRow | undefined> {
  const row = await trx
    .insertInto('tenants')
    .values({ id: tenant.id, slug: tenant.slug, name: tenant.name, platform_owned: tenant.platformOwned ?? false, created_at: tenant.now, updated_at: tenant.now })
    .onConflict((oc) => oc.column('slug').doNothing())
    .returningAll()
    .executeTakeFirst();
  if (row !== undefined) {
    await trx
      .insertInto('tenant_tree')
      .values({ tenant_id: tenant.id, parent_id: tenant.parentId ?? null })
      .execute();
  }
  return row;
}

/**
 * Inserts the tenant under `preferredSlug`, or under that slug with a random suffix if it is taken
 * (for tenants made on someone's behalf, such as the one sign-up creates, where a 409 would be absurd).
 */
export async function insertTenantWithFreeSlug(trx: Tx, tenant: NewTenant): Promise<TenantRow> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const slug = attempt === 0 ? tenant.slug : `${tenant.slug.slice(0, 50)}-${randomBase32(6)}`;
    const row = await insertTenant(trx, { ...tenant, slug });
    if (row !== undefined) return row;
  }
  throw new Error('could not find a free slug after 5 attempts');
}

export type TenantKind = 'individual' | 'organization' | 'enterprise';

/**
 * Where a tenant stands (issue 11): when and why it was suspended (kept while it is pending deletion, since a
 * restore brings the suspension back), and when its deletion was requested and its purge is due.
 */
export interface TenantStanding {
  suspendedAt: Date | null;
  suspensionReason: string | null;
  deletionRequestedAt: Date | null;
  purgeAfter: Date | null;
}

export function standingOf(row: Pick<TenantRow, 'suspended_at' | 'suspension_reason' | 'deletion_requested_at' | 'purge_after'>): TenantStanding {
  return { suspendedAt: row.suspended_at, suspensionReason: row.suspension_reason, deletionRequestedAt: row.deletion_requested_at, purgeAfter: row.purge_after };
}

/** A tenant as the API shows it, with its place in the tree, where it stands and its derived kind (seed 003). */
export interface TenantDetails extends TenantStanding {
  id: string;
  slug: string;
  name: string;
  parentId: string | null;
  path: string[];
  status: TenantRow['status'];
  plan: string | null;
  data: Record<string, unknown>;
  kind: TenantKind;
  isAdminTenancy: boolean;
  memberCount: number;
  createdAt: Date;
  updatedAt: Date;
  lastActiveAt: Date | null;
}

/** The tenant's status, its row locked for the rest of the transaction (lifecycle changes). */
export async function lockTenantStatus(trx: Tx, tenantId: string): Promise<{ status: TenantStatus; isAdminTenancy: boolean } | undefined> {
  const row = await trx.selectFrom('tenants').select(['status', 'is_admin_tenancy']).where('id', '=', tenantId).forUpdate().executeTakeFirst();
  return row === undefined ? undefined : { status: row.status, isAdminTenancy: row.is_admin_tenancy };
}

export async function findTenant(trx: Tx, tenantId: string): Promise<TenantDetails | undefined> {
  const row = await trx
    .selectFrom('tenants as t')
    .innerJoin('tenant_tree as tt', 'tt.tenant_id', 't.id')
    .selectAll('t')
    .select(['tt.parent_id', 'tt.path'])
    .select(directMemberCount('t.id').as('member_count'))
    .where('t.id', '=', tenantId)
    .executeTakeFirst();
  if (row === undefined) return undefined;
  const memberCount = Number(row.member_count ?? 0);
  return {
    id: row.id,
    slug: row.slug,
    name: row.name,
    parentId: row.parent_id,
    path: row.path,
    status: row.status,
    ...standingOf(row),
    plan: row.plan,
    data: row.data,
    // Enterprise tenants (own sign-in settings such as SSO) arrive with enterprise sign-in.
    kind: memberCount >= 2 ? 'organization' : 'individual',
    isAdminTenancy: row.is_admin_tenancy,
    memberCount,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    lastActiveAt: row.last_active_at,
  };
}

export interface TenantUpdate {
  name?: string;
  data?: Record<string, unknown>;
  status?: TenantStatus;
  /** Set with a suspension, null with a resumption (a trigger clears both whenever the tenant becomes active). */
  suspendedAt?: Date | null;
  suspensionReason?: string | null;
}

export async function updateTenant(trx: Tx, tenantId: string, changes: TenantUpdate, now: Date): Promise<void> {
  await trx
    .updateTable('tenants')
    .set({
      ...(changes.name === undefined ? {} : { name: changes.name }),
      ...(changes.data === undefined ? {} : { data: JSON.stringify(changes.data) }),
      ...(changes.status === undefined ? {} : { status: changes.status }),
      ...(changes.suspendedAt === undefined ? {} : { suspended_at: changes.suspendedAt }),
      ...(changes.suspensionReason === undefined ? {} : { suspension_reason: changes.suspensionReason }),
      updated_at: now,
    })
    .where('id', '=', tenantId)
    .execute();
}

/** Caller is in the moved tenant's context: the tree policy lets it rewrite its own subtree's paths. */
export async function moveTenant(trx: Tx, tenantId: string, parentId: string | null): Promise<void> {
  await trx.updateTable('tenant_tree').set({ parent_id: parentId }).where('tenant_id', '=', tenantId).execute();
}

export interface TreeNode extends TenantStanding {
  id: string;
  slug: string;
  name: string;
  status: TenantRow['status'];
  parentId: string | null;
  /** 0 for the tenant asked about, 1 for its children, … */
  depth: number;
}

/**
 * The tenant and every live tenant below it (or its children only), in path order: one query, a GIN lookup on
 * the materialised path. Caller is in `tenantId`'s context, which may read its descendants' rows.
 */
export async function listSubtree(trx: Tx, tenantId: string, options: { childrenOnly: boolean }): Promise<TreeNode[]> {
  let query = trx
    .selectFrom('tenant_tree as tt')
    .innerJoin('tenants as t', 't.id', 'tt.tenant_id')
    .select(['t.id', 't.slug', 't.name', 't.status', 't.suspended_at', 't.suspension_reason', 't.deletion_requested_at', 't.purge_after', 'tt.parent_id'])
    .select(sql<number>`cardinality(tt.path) - array_position(tt.path, ${tenantId})`.as('depth'))
    .where('t.status', '!=', 'deleted');
  query = options.childrenOnly ? query.where('tt.parent_id', '=', tenantId) : query.where(sql<boolean>`tt.path @> ARRAY[${tenantId}]::text[]`);
  const rows = await query.orderBy(sql`array_to_string(tt.path, '/')`).execute();
  return rows.map((r) => ({ id: r.id, slug: r.slug, name: r.name, status: r.status, parentId: r.parent_id, depth: Number(r.depth), ...standingOf(r) }));
}

/** Records that someone switched into the tenant (its `lastActiveAt`); caller is in the tenant's context. */
/** `lastActiveAt` is recorded at this granularity: switching writes it at most once a minute per tenant. */
export const TENANT_ACTIVITY_GRANULARITY_MS = 60_000;

/** Records that someone entered the tenant, unless that was recorded less than a minute ago. */
export async function markTenantActive(trx: Tx, tenantId: string, now: Date): Promise<void> {
  await trx
    .updateTable('tenants')
    .set({ last_active_at: now })
    .where('id', '=', tenantId)
    .where((eb) => eb.or([eb('last_active_at', 'is', null), eb('last_active_at', '<', new Date(now.getTime() - TENANT_ACTIVITY_GRANULARITY_MS))]))
    .execute();
}

/** A tenant's path, root first, the tenant last (empty if there is no such tenant). */
export async function findTenantPath(trx: Tx, tenantId: string): Promise<string[]> {
  const row = await trx.selectFrom('tenant_tree').select('path').where('tenant_id', '=', tenantId).executeTakeFirst();
  return row?.path ?? [];
}
