import { entersTenant } from '../permissions/access.ts';
import type { Subject } from '../permissions/access-resolver.ts';
import { type Db, readTenant, withUser } from '../platform/db/context.ts';
import type { Preset, RoleDefinition } from '../presets/presets.ts';
import { RoleBook } from '../roles/role-book.ts';
import { mayGiveAway } from './deletion.service.ts';
import { listMembershipsOfUser, type UserMembership, type UserTenant } from '../members/memberships.repository.ts';
import { listSubtree, type TreeNode } from './tenants.repository.ts';
import type { TaggedCache } from '../platform/tagged-cache.ts';
import type { AccessResolver } from '../permissions/access-resolver.ts';

export interface TenantListDeps {
  db: Db;
  preset: Preset;
  /** The permission resolver (cached): decides who may enter a tenant and who may restore one pending deletion. */
  access: Pick<AccessResolver, 'forUser'>;
  /** The process's cache of lists; absent, every call reads the database. */
  tenantLists?: TaggedCache<UserTenant[]>;
}

/**
 * The tenants a person may choose from (sign-in's "Choose a tenant", `GET /tenants`, `/auth/me`), in this order:
 * 1. their memberships (direct or shadow, oldest first) in tenants they may enter;
 * 2. the live tenants below a tenant where they hold a `tenant_and_descendants` role, marked inherited, with the nearest
 *    such tenant as `inheritedFrom` and the role keys held there that reach it; grouped by that tenant, in tree order.
 *
 * A suspended tenant is listed to those who may still enter it (its owners, operators, anyone above it: SPEC 4); a
 * tenant pending deletion only to those who may restore it (`tenant.delete`, from above if it was suspended: the rule
 * of `mayGiveAway`), so the list shows them what is about to go while there is time to bring it back.
 *
 * Cost: one read-only transaction per tenant where the person holds a role that may reach below and that has tenants
 * below, which reads that subtree in the tenant's own context (RLS: a tenant may read its descendants' rows), never the
 * system context; plus one permission lookup (cached) per membership pending deletion. Nothing per descendant.
 * Opens its own transactions: call it outside any.
 *
 * Cached per person when `deps.cache` is given, tagged with the person and every tenant the list was read from (each
 * membership's path, everything below that was reached): a change to any of them, or to the person's memberships
 * anywhere, drops it.
 */
export function listTenantsToChoose(deps: TenantListDeps, subject: Subject): Promise<UserTenant[]> {
  if (deps.tenantLists === undefined) return readTenantsToChoose(deps, subject, []);
  const tags = [`user:${subject.userId}`];
  return deps.tenantLists.getOrLoad(
    `${subject.userId}|${subject.isSuperAdmin ? 1 : 0}`,
    () => readTenantsToChoose(deps, subject, tags),
    () => [...new Set(tags)],
  );
}

/** Reads the list; pushes onto `tags` every tenant it depends on. */
async function readTenantsToChoose(deps: TenantListDeps, subject: Subject, tags: string[]): Promise<UserTenant[]> {
  const memberships = await withUser(deps.db, subject.userId, (trx) => listMembershipsOfUser(trx, subject.userId));
  for (const m of memberships) tags.push(...m.path);
  const listed: UserTenant[] = [];
  for (const m of memberships) {
    if (!entersTenant(m.status, { owns: m.owns, fromAbove: m.kind === 'shadow' })) continue;
    if (m.status === 'pending_deletion' && !mayGiveAway(await deps.access.forUser(subject, m.tenantId), m.statusBeforeDeletion ?? 'active')) continue;
    listed.push(asListed(m));
  }
  return [...listed, ...(await listInherited(deps, subject, memberships, new Set(listed.map((t) => t.tenantId)), tags))];
}

function asListed(m: UserMembership): UserTenant {
  const { path: _path, hasChildren: _hasChildren, owns: _owns, ...entry } = m;
  return entry;
}

interface Reach {
  node: TreeNode;
  /** The nearest membership above whose roles reach the tenant, and those roles' keys. */
  from: UserMembership;
  roles: string[];
  /** Every permission the roles from above give here (from every ancestor): what entering and restoring need. */
  permissions: Set<string>;
}

async function listInherited(deps: TenantListDeps, subject: Subject, memberships: UserMembership[], listed: ReadonlySet<string>, tags: string[]): Promise<UserTenant[]> {
  const reached = new Map<string, Reach>();
  const subtrees: Array<{ from: UserMembership; below: TreeNode[] }> = [];
  for (const m of memberships) {
    if (!m.hasChildren || !m.roles.some((key) => deps.preset.roles.get(key)?.scope !== 'tenant')) continue;
    const found = await readTenant(deps.db, m.tenantId, async (trx) => {
      const roles = await RoleBook.load(trx, deps.preset, m.path, m.roles);
      const reaching = m.roles.map((key) => roles.resolve(key)).filter((role): role is RoleDefinition => role?.scope === 'tenant_and_descendants');
      if (reaching.length === 0) return undefined;
      return { reaching, below: (await listSubtree(trx, m.tenantId, { childrenOnly: false })).filter((n) => n.depth > 0) };
    });
    if (found === undefined) continue;
    subtrees.push({ from: m, below: found.below });
    for (const node of found.below) {
      tags.push(node.id);
      let reach = reached.get(node.id);
      if (reach === undefined || reach.from.path.length < m.path.length) {
        reach = { node, from: m, roles: found.reaching.map((r) => r.key), permissions: reach?.permissions ?? new Set() };
        reached.set(node.id, reach);
      }
      for (const role of found.reaching) for (const p of role.permissions) reach.permissions.add(p);
    }
  }

  const out: UserTenant[] = [];
  const seen = new Set<string>();
  for (const { from, below } of subtrees) {
    for (const node of below) {
      const reach = reached.get(node.id);
      if (reach === undefined || reach.from !== from || listed.has(node.id) || seen.has(node.id)) continue;
      seen.add(node.id);
      if (!mayEnterFromAbove(subject, node, reach.permissions)) continue;
      const { id, depth: _depth, ...rest } = node;
      out.push({ ...rest, tenantId: id, kind: 'inherited', roles: reach.roles, joinedAt: null, inheritedFrom: from.tenantId });
    }
  }
  return out;
}

/**
 * Someone reaching a tenant only from above enters it by `entersTenant` when the roles from above give anything at all
 * (a platform super_admin has everything from above); a tenant pending deletion is listed only to those who may
 * restore it (`tenant.delete` from above, which also covers one suspended before its deletion: `mayGiveAway`).
 */
function mayEnterFromAbove(subject: Subject, node: TreeNode, fromAbove: ReadonlySet<string>): boolean {
  if (!entersTenant(node.status, { owns: false, fromAbove: subject.isSuperAdmin || fromAbove.size > 0 })) return false;
  return node.status !== 'pending_deletion' || subject.isSuperAdmin || fromAbove.has('tenant.delete');
}

/**
 * Whether the header's tenant switcher is shown (seed 001): with two or more tenants listed, to everyone where the
 * preset says so (seed 000), else only to platform super admins and direct members of the admin tenancy.
 */
export function showsTenantSwitcher(preset: Preset, subject: Subject, tenants: readonly UserTenant[]): boolean {
  if (tenants.length < 2) return false;
  return preset.tenants.switcher === 'everyone' || subject.isSuperAdmin || tenants.some((t) => t.kind === 'direct' && t.isAdminTenancy === true);
}
