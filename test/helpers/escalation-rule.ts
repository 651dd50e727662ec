import { computeAccess } from '../../src/permissions/access.ts';
import type { MembershipKind, TenantStatus } from '../../src/platform/db/schema.ts';
import type { Preset, RoleDefinition } from '../../src/presets/presets.ts';

/**
 * The escalation oracle's rule (issue 10), as a pure function of two snapshots; `escalation-oracle.ts` takes the
 * snapshots of a live app around each request.
 *
 * The rule: "No request may leave its actor — or anyone — with more effective
 * permissions in any tenant than they had before, unless someone who held that authority granted it.
 * Structural changes (moving a tenant, a role's scope or permissions, the admin tenancy's staff, a tenant's
 * status) are grants too."
 *
 * It snapshots every actor's effective permissions in every tenant of a fixture world (people through
 * `AccessResolver.forUser`, API keys through `forKey` plus the same usability check authentication makes),
 * sends one write request, snapshots again, and explains every permission someone gained. A gain of
 * permission p by actor X in tenant T, after a request by actor A, is EXPLAINED iff one of:
 *
 *  (a) AUTHORITY — A's authority in T before the request covers p. authority(A, T) is
 *      - everything, for a platform super_admin;
 *      - A's roleGrants in T (what A's roles give there before feature and status filters: what A may grant)
 *        when T's lifecycle is `active`;
 *      - A's fromAbove(T) ∪ A's effective permissions in T when T's lifecycle is `suspended` (a suspended
 *        tenant's own owner cannot lift its suspension, nor grant what the suspension withholds);
 *      where the lifecycle of a tenant pending deletion is the status its deletion interrupted (the oracle saw
 *      the deletion; if it did not, `suspended`, the conservative choice). This covers new API keys too: a new
 *      key is a new actor, so all its permissions are gains, explained only within its creator's authority.
 *  (b) NEW TENANT — T did not exist before (this request created it) and
 *      - X is a platform super_admin; or
 *      - X holds a direct membership in T and is the creator (A), or A is an API key and X was a direct owner of
 *        the key's tenant (such tenants are owned by the key tenant's owners); or
 *      - p is in what X's roles gave *below* T's parent before (X's `tenant_and_descendants` roles in the parent
 *        or above, computed with the product's own computeAccess from the memberships and custom roles read
 *        before the request): plain inheritance; or
 *      - X holds a shadow membership in T, X is designated operator staff (the fixture's list, plus the holders
 *        of a staff role in a tenant a super_admin designates as the admin tenancy while the oracle watches),
 *        and X's roleGrants in the admin tenancy before cover p.
 *  (c) INVITATION — the request is X accepting an invitation to tenant I (for which (a) does not apply: accepting
 *      exercises the inviter's authority, not the acceptor's), and p is within what the inviter's
 *      authority (as in (a)) was in T when the oracle saw the invitation being made (the last one to X's address
 *      for I wins, as a re-invitation replaces the token).
 *  (d) LIFT — T was not active before and is active after, X's roles already gave p there (roleGrants), and the
 *      status change was A's to make: lifting a suspension (T's lifecycle was `suspended`) needs tenant.suspend
 *      in A's fromAbove(T); undoing the deletion of an active tenant needs tenant.delete in A's authority(T).
 *
 * The same rules (a)–(c) apply to DURABLE GRANTS: what a person's own direct membership in T gives (its roles,
 * resolved as the product resolves them) may not grow unexplained even where their effective permissions do not
 * (a shadow membership turned direct by accepting an invitation keeps the shadow's roles, which then survive the
 * person leaving the operator staff).
 *
 * Three further rules, for authority that is exercised by taking something away:
 *  - OVERSIGHT — when a request changes a tenant's path (a move), anyone who held tenant.suspend over it from
 *    above and no longer does has been cut off; that is explained only if A held tenant.suspend from above
 *    it too (or is a super_admin). "Leaving a parent needs authority from above."
 *  - HELD ACTION — in a preset whose policy holds `member.remove_admin` for approval (company-tree), a direct
 *    member whose own roles in T gave members.manage may lose that only by an approved request
 *    (POST …/approval-requests/:id/approve), by a platform super_admin's request (they are the last deciders and
 *    need no approval), by leaving themselves, or with T's deletion.
 *  - STAFF — when someone's roleGrants in the admin tenancy shrink (and the admin tenancy stays the same), what
 *    their shadow memberships give them elsewhere must shrink with it: shadow access follows admin-tenancy
 *    membership.
 * A 5xx answer is always a violation. Responses may otherwise be 2xx or 4xx: only what people hold matters.
 *
 * What the oracle does not model (so fixtures should not exercise it): staff designated by making the admin
 * tenancy someone's default tenant (PUT /admin/users/:id/default-tenant), writes to the admin tenancy's members
 * and roles (they change who is staff), feature toggles and licence changes (filters, not grants).
 */

export interface TenantInfo {
  id: string;
  slug: string;
  status: TenantStatus;
  parentId: string | null;
  /** Root first, this tenant last. */
  path: readonly string[];
  isAdminTenancy: boolean;
}

export interface ActorInfo {
  id: string;
  kind: 'user' | 'api_key';
  isSuperAdmin: boolean;
  email: string | null;
  /** An API key's own tenant (the only one it acts in). */
  keyTenantId: string | null;
}

export interface Cell {
  /** Effective permissions (what the product lets the actor do). */
  permissions: ReadonlySet<string>;
  /** What the actor's roles (a key: its permission list) give, before feature and status filters. */
  roleGrants: ReadonlySet<string>;
  /** The part of roleGrants that comes from above the tenant (ancestors' roles, shadow access, the platform). */
  fromAbove: ReadonlySet<string>;
}

export interface MembershipRow {
  tenantId: string;
  userId: string;
  kind: MembershipKind;
  roles: readonly string[];
}

export interface Snapshot {
  tenants: ReadonlyMap<string, TenantInfo>;
  actors: ReadonlyMap<string, ActorInfo>;
  /** actor id → tenant id → cell; an absent cell holds nothing. */
  cells: ReadonlyMap<string, ReadonlyMap<string, Cell>>;
  memberships: readonly MembershipRow[];
  /** Custom roles by defining tenant. */
  customRoles: ReadonlyMap<string, ReadonlyMap<string, RoleDefinition>>;
}

export interface ObservedRequest {
  actorId: string;
  method: string;
  /** The URL as sent, e.g. /api/v1/tenants/t…/suspend. */
  url: string;
  body?: unknown;
  status: number;
  response?: unknown;
}

export interface InvitationRecord {
  inviterId: string;
  /** The inviter's authority in every tenant when the invitation was made. */
  authority: ReadonlyMap<string, ReadonlySet<string>>;
}

/** What the oracle knows besides the two snapshots. */
export interface Knowledge {
  preset: Preset;
  /** Designated operator staff (user ids). */
  staff: ReadonlySet<string>;
  /** For tenants pending deletion: the status the deletion interrupted. */
  statusBeforeDeletion: ReadonlyMap<string, 'active' | 'suspended'>;
  /** Keyed by `${tenantId} ${email}`. */
  invitations: ReadonlyMap<string, InvitationRecord>;
  /** A readable name for an id (falls back to the id). */
  name: (id: string) => string;
}

export type ViolationKind =
  | 'unexplained_gain'
  | 'unexplained_direct_grant'
  | 'oversight_removed'
  | 'held_action_bypassed'
  | 'shadow_outlives_staff_role'
  | 'server_error'
  | 'stale_cache';

export interface Violation {
  kind: ViolationKind;
  /** The step (request number in the sequence), 1-based. */
  step: number;
  request: string;
  actorId?: string;
  tenantId?: string;
  permissions?: string[];
  message: string;
  /** The request itself, for matching violations by what caused them. */
  observed?: ObservedRequest;
}

export const EMPTY: ReadonlySet<string> = new Set();
const EMPTY_CELL: Cell = { permissions: EMPTY, roleGrants: EMPTY, fromAbove: EMPTY };
const ORACLE_CHILD = '__oracle_hypothetical_child__';

const ACCEPT = /^\/api\/v1\/invitations\/[^/]+\/accept$/;
const APPROVE = /^\/api\/v1\/tenants\/[^/]+\/approval-requests\/[^/]+\/approve$/;
const MEMBER = /^\/api\/v1\/tenants\/([^/]+)\/members\/([^/]+)$/;
export const INVITE = /^\/api\/v1\/tenants\/([^/]+)\/invitations$/;
export const MAKE_ADMIN = /^\/api\/v1\/admin\/tenants\/([^/]+)\/make-admin-tenancy$/;

export function cellOf(s: Snapshot, actorId: string, tenantId: string): Cell {
  return s.cells.get(actorId)?.get(tenantId) ?? EMPTY_CELL;
}

export function pathOf(url: string): string {
  return url.split('?')[0] ?? url;
}

function union(...sets: ReadonlyArray<Iterable<string>>): Set<string> {
  const all = new Set<string>();
  for (const s of sets) for (const p of s) all.add(p);
  return all;
}

function adminTenancyOf(s: Snapshot): string | undefined {
  for (const t of s.tenants.values()) if (t.isAdminTenancy) return t.id;
  return undefined;
}

/** `active` or `suspended`: what a tenant is, looking through a pending deletion to the status it interrupted. */
export function lifecycleOf(k: Knowledge, tenant: TenantInfo): 'active' | 'suspended' {
  if (tenant.status === 'active') return 'active';
  if (tenant.status === 'pending_deletion') return k.statusBeforeDeletion.get(tenant.id) ?? 'suspended';
  return 'suspended';
}

/** authority(A, T) of rule (a). */
export function authorityOf(k: Knowledge, s: Snapshot, actorId: string, tenantId: string): ReadonlySet<string> {
  const actor = s.actors.get(actorId);
  if (actor === undefined) return EMPTY;
  if (actor.isSuperAdmin) return new Set(k.preset.permissions.keys());
  const tenant = s.tenants.get(tenantId);
  if (tenant === undefined || tenant.status === 'deleted') return EMPTY;
  const cell = cellOf(s, actorId, tenantId);
  return lifecycleOf(k, tenant) === 'active' ? cell.roleGrants : union(cell.fromAbove, cell.permissions);
}

function customRolesOn(s: Snapshot, path: readonly string[]): Map<string, ReadonlyMap<string, RoleDefinition>> {
  const roles = new Map<string, ReadonlyMap<string, RoleDefinition>>();
  for (const id of path) {
    const defined = s.customRoles.get(id);
    if (defined !== undefined) roles.set(id, defined);
  }
  return roles;
}

/** What `userId`'s roles give in a (hypothetical) new child of `parentId`, per the snapshot: inheritance only. */
export function reachBelow(k: Knowledge, s: Snapshot, userId: string, parentId: string): ReadonlySet<string> {
  const actor = s.actors.get(userId);
  const parent = s.tenants.get(parentId);
  if (actor === undefined || parent === undefined || actor.kind !== 'user') return EMPTY;
  const access = computeAccess(k.preset, {
    tenantId: ORACLE_CHILD,
    tenantName: '',
    status: 'active',
    path: [...parent.path, ORACLE_CHILD],
    memberships: s.memberships.filter((m) => m.userId === userId && parent.path.includes(m.tenantId)),
    customRoles: customRolesOn(s, parent.path),
    featureOverrides: new Map(),
    isSuperAdmin: actor.isSuperAdmin,
  });
  return new Set(access.roleGrants.keys());
}

/** What `userId`'s own membership of `kind` in the tenant gives there (nothing inherited). */
export function ownMembershipGrants(k: Knowledge, s: Snapshot, userId: string, tenantId: string, kind: MembershipKind): ReadonlySet<string> {
  const tenant = s.tenants.get(tenantId);
  const own = s.memberships.find((m) => m.userId === userId && m.tenantId === tenantId && m.kind === kind);
  if (tenant === undefined || own === undefined) return EMPTY;
  const access = computeAccess(k.preset, {
    tenantId,
    tenantName: '',
    status: 'active',
    path: tenant.path,
    memberships: [own],
    customRoles: customRolesOn(s, tenant.path),
    featureOverrides: new Map(),
    isSuperAdmin: false,
  });
  return new Set(access.roleGrants.keys());
}

function isDirectOwner(k: Knowledge, s: Snapshot, userId: string, tenantId: string): boolean {
  return s.memberships.some((m) => m.userId === userId && m.tenantId === tenantId && m.kind === 'direct' && m.roles.includes(k.preset.ownerRole));
}

/** A request in words, ids replaced by the names the fixture gave them. */
export function describeRequest(k: Knowledge, req: ObservedRequest): string {
  const named = (text: string) => text.replace(/\b(t[a-z2-7]{15}|usr_[a-z2-7]{20}|key_[a-z2-7]{20})\b/g, (id) => (k.name(id) === id ? id : `{${k.name(id)}}`));
  const body = req.body === undefined ? '' : ` ${named(JSON.stringify(req.body))}`;
  return `${k.name(req.actorId)}: ${req.method} ${named(pathOf(req.url).replace(/^\/api\/v1/, ''))}${body} → ${req.status}`;
}

function fmt(set: Iterable<string>): string {
  const list = [...set].sort();
  return list.length === 0 ? '∅' : list.join(', ');
}

/** Why X's gain of p in T is explained, or undefined. */
function explainGain(k: Knowledge, before: Snapshot, after: Snapshot, req: ObservedRequest, x: string, tenantId: string, p: string, lifts = true): string | undefined {
  const a = req.actorId;
  // Accepting an invitation exercises the inviter's authority (rule c), never the acceptor's own.
  const accepting = ACCEPT.test(pathOf(req.url));
  if (!accepting && authorityOf(k, before, a, tenantId).has(p)) return 'a';
  const tenantAfter = after.tenants.get(tenantId);
  const tenantBefore = before.tenants.get(tenantId);
  const actorX = after.actors.get(x);
  if (tenantBefore === undefined && tenantAfter !== undefined && actorX !== undefined) {
    if (actorX.isSuperAdmin) return 'b:platform';
    const membership = after.memberships.find((m) => m.userId === x && m.tenantId === tenantId);
    const actorA = before.actors.get(a);
    if (membership?.kind === 'direct') {
      if (x === a) return 'b:creator';
      if (actorA?.kind === 'api_key' && actorA.keyTenantId !== null && isDirectOwner(k, before, x, actorA.keyTenantId)) return 'b:owner-of-key-tenant';
    }
    if (membership?.kind === 'shadow' && k.staff.has(x)) {
      const admin = adminTenancyOf(before);
      if (admin !== undefined && cellOf(before, x, admin).roleGrants.has(p)) return 'b:staff';
    }
    if (tenantAfter.parentId !== null && reachBelow(k, before, x, tenantAfter.parentId).has(p)) return 'b:inherited';
  }
  if (x === a && req.status === 200 && accepting) {
    const invited = (req.response as { tenantId?: unknown } | undefined)?.tenantId;
    const email = before.actors.get(a)?.email;
    const record = typeof invited === 'string' && email ? k.invitations.get(`${invited} ${email}`) : undefined;
    if (record?.authority.get(tenantId)?.has(p) === true) return 'c';
  }
  if (
    lifts &&
    tenantBefore !== undefined &&
    tenantAfter !== undefined &&
    tenantBefore.status !== 'active' &&
    tenantAfter.status === 'active' &&
    cellOf(before, x, tenantId).roleGrants.has(p)
  ) {
    const superAdmin = before.actors.get(a)?.isSuperAdmin === true;
    if (lifecycleOf(k, tenantBefore) === 'suspended') {
      if (superAdmin || cellOf(before, a, tenantId).fromAbove.has('tenant.suspend')) return 'd:resume';
    } else if (authorityOf(k, before, a, tenantId).has('tenant.delete')) return 'd:restore';
  }
  return undefined;
}

/** Why nothing explains it, in words, for the failure message. */
function whyUnexplained(k: Knowledge, before: Snapshot, after: Snapshot, req: ObservedRequest, x: string, tenantId: string): string {
  const a = req.actorId;
  const n = k.name;
  const tenantBefore = before.tenants.get(tenantId);
  const tenantAfter = after.tenants.get(tenantId);
  const parts = [
    ACCEPT.test(pathOf(req.url))
      ? "(a) n/a: accepting an invitation exercises the inviter's authority, not the acceptor's"
      : `(a) ${n(a)}'s authority in ${n(tenantId)} before was {${fmt(authorityOf(k, before, a, tenantId))}}` +
        (tenantBefore === undefined ? '' : ` (${tenantBefore.status}${tenantBefore.status === 'pending_deletion' ? `, lifecycle ${lifecycleOf(k, tenantBefore)}` : ''})`),
  ];
  if (tenantBefore === undefined) {
    const membership = after.memberships.find((m) => m.userId === x && m.tenantId === tenantId);
    const parent = tenantAfter?.parentId ?? null;
    parts.push(
      `(b) ${n(tenantId)} is new; ${n(x)} holds ${membership === undefined ? 'no membership' : `a ${membership.kind} membership (${membership.roles.join(', ')})`} there, ` +
        `${k.staff.has(x) ? 'is' : 'is not'} designated staff, and inherits {${parent === null ? '' : fmt(reachBelow(k, before, x, parent))}} from ${parent === null ? 'no parent' : n(parent)}`,
    );
  } else parts.push(`(b) ${n(tenantId)} existed before`);
  if (ACCEPT.test(pathOf(req.url))) {
    const invited = (req.response as { tenantId?: unknown } | undefined)?.tenantId;
    const record = typeof invited === 'string' ? k.invitations.get(`${invited} ${before.actors.get(a)?.email ?? ''}`) : undefined;
    parts.push(
      record === undefined
        ? '(c) an invitation accepted that the oracle did not see being made'
        : `(c) an invitation accepted; ${n(record.inviterId)}, who invited, held {${fmt(record.authority.get(tenantId) ?? EMPTY)}} in ${n(tenantId)} then`,
    );
  } else parts.push('(c) not an invitation acceptance');
  if (tenantBefore !== undefined && tenantAfter !== undefined && tenantBefore.status !== tenantAfter.status) {
    parts.push(
      `(d) ${n(tenantId)} went ${tenantBefore.status}${tenantBefore.status === 'pending_deletion' ? ` (interrupting ${lifecycleOf(k, tenantBefore)})` : ''} → ${tenantAfter.status}; ` +
        `${n(a)} held from above {${fmt(cellOf(before, a, tenantId).fromAbove)}}`,
    );
  } else parts.push('(d) no status lifted');
  return parts.join('; ');
}

/**
 * The pure part of the oracle: every violation the transition before → after shows for request `req`.
 * Exported so it can be tested on hand-made snapshots.
 */
export function findViolations(k: Knowledge, before: Snapshot, after: Snapshot, req: ObservedRequest, step = 0): Violation[] {
  const violations: Violation[] = [];
  const request = describeRequest(k, req);
  const n = k.name;
  const a = req.actorId;
  if (req.status >= 500) violations.push({ kind: 'server_error', step, request, message: `server error ${req.status}: ${JSON.stringify(req.response)}` });

  // Gains.
  for (const x of after.actors.keys()) {
    for (const [tenantId, tenant] of after.tenants) {
      const was = cellOf(before, x, tenantId).permissions;
      const gained = [...cellOf(after, x, tenantId).permissions].filter((p) => !was.has(p)).sort();
      const unexplained = gained.filter((p) => explainGain(k, before, after, req, x, tenantId, p) === undefined);
      if (unexplained.length === 0) continue;
      violations.push({
        kind: 'unexplained_gain',
        step,
        request,
        actorId: x,
        tenantId,
        permissions: unexplained,
        message: `${n(x)} gained {${unexplained.join(', ')}} in ${n(tenantId)} (${before.tenants.get(tenantId)?.status ?? 'new'} → ${tenant.status}) — nobody who held it granted it: ${whyUnexplained(k, before, after, req, x, tenantId)}`,
      });
    }
  }

  // Durable grants: what a person's own direct membership gives may grow only by the same rules, even when the
  // effective permissions do not change (e.g. a shadow membership turned direct keeps roles nobody granted).
  for (const x of after.actors.keys()) {
    if (after.actors.get(x)?.kind !== 'user') continue;
    for (const tenantId of after.tenants.keys()) {
      const was = ownMembershipGrants(k, before, x, tenantId, 'direct');
      const now = ownMembershipGrants(k, after, x, tenantId, 'direct');
      const effective = cellOf(after, x, tenantId).permissions;
      const wasEffective = cellOf(before, x, tenantId).permissions;
      const gained = [...now].filter((p) => !was.has(p) && !(effective.has(p) && !wasEffective.has(p))).sort();
      const unexplained = gained.filter((p) => explainGain(k, before, after, req, x, tenantId, p, false) === undefined);
      if (unexplained.length === 0) continue;
      const membership = after.memberships.find((m) => m.userId === x && m.tenantId === tenantId);
      violations.push({
        kind: 'unexplained_direct_grant',
        step,
        request,
        actorId: x,
        tenantId,
        permissions: unexplained,
        message:
          `${n(x)}'s own direct membership in ${n(tenantId)} (${membership?.roles.join(', ') ?? '?'}) now grants {${unexplained.join(', ')}}, which they held before only ` +
          `through shadow access, inheritance or not at all — nobody who held it granted it: ${whyUnexplained(k, before, after, req, x, tenantId)}`,
      });
    }
  }

  // Oversight: a move must not cut anyone above off unless the mover held that authority from above too.
  const superA = before.actors.get(a)?.isSuperAdmin === true;
  for (const [tenantId, tenant] of after.tenants) {
    const was = before.tenants.get(tenantId);
    if (was === undefined || was.path.join('/') === tenant.path.join('/')) continue;
    if (superA || cellOf(before, a, tenantId).fromAbove.has('tenant.suspend')) continue;
    for (const x of before.actors.keys()) {
      if (!cellOf(before, x, tenantId).fromAbove.has('tenant.suspend') || cellOf(after, x, tenantId).fromAbove.has('tenant.suspend')) continue;
      violations.push({
        kind: 'oversight_removed',
        step,
        request,
        actorId: x,
        tenantId,
        permissions: ['tenant.suspend'],
        message: `${n(x)} lost authority from above over ${n(tenantId)} (tenant.suspend) when it moved from under ${n(was.parentId ?? 'no parent')} to ${n(tenant.parentId ?? 'no parent')}, but ${n(a)} held no such authority from above it: leaving a parent needs authority from above`,
      });
    }
  }

  // Held actions: removing an administrator's authority needs an approval where the policy says so.
  if (k.preset.policies.approvalRequired.includes('member.remove_admin')) {
    // An approved request carries the action out; a platform super_admin decides for themselves (nobody is above).
    const exempt = (APPROVE.test(pathOf(req.url)) && req.status === 200) || before.actors.get(a)?.isSuperAdmin === true;
    const leaving = req.method === 'DELETE' ? MEMBER.exec(pathOf(req.url)) : null;
    for (const [tenantId, tenant] of after.tenants) {
      if (exempt || tenant.status === 'pending_deletion' || tenant.status === 'deleted' || !before.tenants.has(tenantId)) continue;
      for (const x of before.actors.keys()) {
        if (leaving !== null && leaving[1] === tenantId && leaving[2] === x && x === a) continue;
        if (!ownMembershipGrants(k, before, x, tenantId, 'direct').has('members.manage')) continue;
        if (ownMembershipGrants(k, after, x, tenantId, 'direct').has('members.manage')) continue;
        violations.push({
          kind: 'held_action_bypassed',
          step,
          request,
          actorId: x,
          tenantId,
          permissions: ['members.manage'],
          message: `${n(x)} stopped administering ${n(tenantId)} (their own roles there no longer give members.manage) without an approval, though the ${k.preset.name} preset holds member.remove_admin for approval`,
        });
      }
    }
  }

  // Staff: shadow access follows what people hold in the admin tenancy.
  const admin = adminTenancyOf(after);
  if (admin !== undefined && admin === adminTenancyOf(before)) {
    for (const x of after.actors.keys()) {
      const held = cellOf(after, x, admin).roleGrants;
      if (![...cellOf(before, x, admin).roleGrants].some((p) => !held.has(p))) continue;
      for (const m of after.memberships) {
        if (m.userId !== x || m.kind !== 'shadow' || m.tenantId === admin) continue;
        const beyond = [...ownMembershipGrants(k, after, x, m.tenantId, 'shadow')].filter((p) => !held.has(p)).sort();
        if (beyond.length === 0) continue;
        violations.push({
          kind: 'shadow_outlives_staff_role',
          step,
          request,
          actorId: x,
          tenantId: m.tenantId,
          permissions: beyond,
          message: `${n(x)} now holds only {${fmt(held)}} in the admin tenancy ${n(admin)}, yet their shadow membership in ${n(m.tenantId)} still gives {${beyond.join(', ')}}`,
        });
      }
    }
  }
  return violations.map((v) => ({ ...v, observed: req }));
}

/** Cell-by-cell differences between what the permission cache answers and a fresh resolution. */
export function compareSnapshots(k: Knowledge, cached: Snapshot, fresh: Snapshot, step: number): Violation[] {
  const out: Violation[] = [];
  const keys = (c: Cell) => `${fmt(c.permissions)} | ${fmt(c.roleGrants)} | ${fmt(c.fromAbove)}`;
  for (const x of fresh.actors.keys()) {
    for (const tenantId of fresh.tenants.keys()) {
      const c = cellOf(cached, x, tenantId);
      const f = cellOf(fresh, x, tenantId);
      if (keys(c) === keys(f)) continue;
      out.push({
        kind: 'stale_cache',
        step,
        request: '(cache check after the sequence)',
        actorId: x,
        tenantId,
        message: `the permission cache answers {${fmt(c.permissions)}} for ${k.name(x)} in ${k.name(tenantId)}, a fresh resolution {${fmt(f.permissions)}}`,
      });
    }
  }
  return out;
}
