import { AccountErrors } from '../accounts/accounts.errors.ts';
import { normalizeEmail } from '../accounts/email.ts';
import { findUserByEmail, findUserById, clearDefaultTenant } from '../accounts/users.repository.ts';
import { appendAuditEvent } from '../audit/audit.repository.ts';
import { InvitationErrors } from '../invitations/invitations.errors.ts';
import { assertRoom, lockPlan } from '../plans/plans.service.ts';
import { isUniqueViolation } from '../platform/db/errors.ts';
import { findMembership, insertMembership, promoteShadowMembership } from './memberships.repository.ts';
import type { MembershipKind } from '../platform/db/schema.ts';
import { AuthErrors } from '../auth/auth.errors.ts';
import type { Access } from '../permissions/access.ts';
import { assertCanGrantRoles, type Authorized } from '../permissions/authorize.ts';
import type { Clock } from '../platform/clock.ts';
import { type Db, readTenant, type Tx, withTenant } from '../platform/db/context.ts';
import { faultPoint } from '../platform/db/faults.ts';
import { decodeKeysetCursor, encodeKeysetCursor } from '../platform/http/cursor.ts';
import { AppError, HttpErrors } from '../platform/http/errors.ts';
import type { Preset } from '../presets/presets.ts';
import { lockOwnCustomRoles } from '../roles/roles.repository.ts';
import { RoleBook } from '../roles/role-book.ts';
import { syncShadowAccess } from '../tenants/operator-access.ts';
import { TenantErrors } from '../tenants/tenants.errors.ts';
import { findTenant, lockTenantStatus } from '../tenants/tenants.repository.ts';
import { MemberErrors } from './members.errors.ts';
import {
  deleteMembership,
  findDirectMemberForUpdate,
  isLastOwnerViolation,
  listDirectMembers,
  type MemberPosition,
  type MemberRecord,
  replaceMemberRoles,
} from './memberships.repository.ts';

export interface MemberDeps {
  db: Db;
  clock: Clock;
  preset: Preset;
}

export interface MemberListing {
  members: MemberRecord[];
  nextCursor: string | null;
}

export async function listMembers(deps: MemberDeps, tenantId: string, page: { limit: number; cursor?: string }): Promise<MemberListing> {
  const after = page.cursor === undefined ? undefined : decodeCursor(page.cursor);
  const result = await readTenant(deps.db, tenantId, (trx) => listDirectMembers(trx, { tenantId, limit: page.limit, ...(after ? { after } : {}) }));
  return { members: result.members, nextCursor: result.next === null ? null : encodeCursor(result.next) };
}

/**
 * Adds a person who already has an account, without an invitation (issue 13; seed 000's Mgmt REST API "manage members
 * programmatically"): the route lets API keys and platform operators do this, everyone else invites. As for an
 * invitation, the roles must resolve in the tenant and give nothing beyond the caller's, and the plan must have room
 * (its member count is locked for the transaction). An operator's shadow membership becomes a direct one holding
 * exactly these roles. Audited as `member.added`; in the admin tenancy the new staffer's shadow access follows.
 */
export async function addMember(
  deps: MemberDeps,
  acting: Authorized,
  tenantId: string,
  input: { userId: string } | { email: string },
  roles: readonly string[],
): Promise<MemberRecord> {
  const wanted = [...new Set(roles)].sort();
  const now = deps.clock.now();
  return withTenant(deps.db, tenantId, async (trx) => {
    const user = 'userId' in input ? await findUserById(trx, input.userId) : await findUserByEmail(trx, normalizeEmail(input.email) ?? input.email);
    if (user === undefined) throw new AppError(AccountErrors.USER_NOT_FOUND, { detail: 'no account with that id or email: invite the person instead' });
    const room = await lockPlan(trx, deps, tenantId);
    await lockOwnCustomRoles(trx, { tenantId, keys: wanted });
    assertCanGrantRoles(acting.access, (await RoleBook.load(trx, deps.preset, acting.access.path, wanted)).require(wanted));
    const membership = await findMembership(trx, { tenantId, userId: user.id }, { lock: true });
    if (membership?.kind === 'direct') throw new AppError(InvitationErrors.ALREADY_MEMBER, { detail: `${user.email} is already a member here` });
    // A seat either way: shadow memberships never count toward the plan, direct ones do.
    assertRoom(room, 'members', 1);
    await makeDirectMember(trx, { tenantId, userId: user.id, roles: wanted, now }, membership, `${user.email} is already a member here`);
    await appendAuditEvent(
      trx,
      acting.audit,
      {
        tenantId,
        action: 'member.added',
        targetType: 'user',
        targetId: user.id,
        before: membership === undefined ? null : { kind: membership.kind },
        after: { roles: wanted, kind: 'direct' },
      },
      now,
    );
    await syncShadowAccess(trx, { userIds: [user.id], source: tenantId, returnTo: tenantId }, acting.audit, now);
    return { userId: user.id, email: user.email, name: user.name, roles: wanted, joinedAt: now };
  });
}

/**
 * Makes the user a direct member holding exactly `roles`, given the membership they had — read `FOR UPDATE` by the
 * caller, who has refused a direct one: a shadow (operator) membership is promoted, otherwise one is inserted; someone
 * adding them between that read and the insert is `409 already_member` (the primary key decides). Returns the roles
 * now held. Used by adding a member and by accepting an invitation.
 */
export async function makeDirectMember(
  trx: Tx,
  m: { tenantId: string; userId: string; roles: readonly string[]; now: Date },
  had: { kind: MembershipKind } | undefined,
  alreadyDetail: string,
): Promise<string[]> {
  if (had?.kind === 'shadow') return promoteShadowMembership(trx, m);
  try {
    await insertMembership(trx, { tenantId: m.tenantId, userId: m.userId, kind: 'direct', roles: m.roles, now: m.now });
  } catch (error) {
    if (isUniqueViolation(error)) throw new AppError(InvitationErrors.ALREADY_MEMBER, { detail: alreadyDetail });
    throw error;
  }
  return [...m.roles];
}

/**
 * Replaces the member's roles in one transaction. The caller may grant only what they hold, and may
 * touch only a member whose current roles give nothing beyond what the caller holds (an admin cannot
 * demote an owner). The database refuses to leave the tenant without an owner, at commit, which is
 * what decides two owners demoting each other at the same moment.
 */
export async function changeMemberRoles(deps: MemberDeps, acting: Authorized, target: { tenantId: string; userId: string }, roles: readonly string[]): Promise<MemberRecord> {
  const wanted = [...new Set(roles)].sort();
  const now = deps.clock.now();
  return commitOwnerChange(deps, target.tenantId, async (trx) => {
    await lockOwnCustomRoles(trx, { tenantId: target.tenantId, keys: wanted });
    const member = await findDirectMemberForUpdate(trx, target);
    if (member === undefined) throw new AppError(MemberErrors.MEMBER_NOT_FOUND);
    const roles = await RoleBook.load(trx, deps.preset, acting.access.path, [...wanted, ...member.roles]);
    const granted = roles.require(wanted);
    assertMayTouch(acting.access, member, roles);
    assertCanGrantRoles(acting.access, granted);
    if (sameRoles(member.roles, wanted)) return member;
    await replaceMemberRoles(trx, { ...target, roles: wanted });
    await faultPoint(trx, 'members.roles-written');
    await appendAuditEvent(
      trx,
      acting.audit,
      { tenantId: target.tenantId, action: 'member.roles_changed', targetType: 'user', targetId: target.userId, before: { roles: member.roles }, after: { roles: wanted } },
      now,
    );
    // A staffer's roles in the admin tenancy are their shadow roles everywhere (migration 0013).
    await syncShadowAccess(trx, { userIds: [target.userId], source: target.tenantId, returnTo: target.tenantId }, acting.audit, now);
    return { ...member, roles: wanted };
  });
}

/**
 * SPEC 4, ownership transfer: to an existing direct member, confirmed by typing the tenant's slug. The
 * recipient becomes owner; a caller who is a direct owner swaps places (they take the recipient's former
 * roles, keeping their other ones), so the tenant has the same number of owners; an owner from an ancestor
 * or the platform only adds one. Audited as `tenant.ownership_transferred` with both role changes.
 */
export async function transferOwnership(
  deps: MemberDeps,
  acting: Authorized & { userId: string },
  target: { tenantId: string; userId: string },
  confirm: string,
): Promise<{ owner: MemberRecord; previousOwner: MemberRecord | null }> {
  const now = deps.clock.now();
  const ownerRole = deps.preset.ownerRole;
  return commitOwnerChange(deps, target.tenantId, async (trx) => {
    const tenant = await findTenant(trx, target.tenantId);
    if (tenant === undefined || tenant.slug !== confirm)
      throw new AppError(TenantErrors.CONFIRMATION_MISMATCH, { detail: "type the tenant's slug in confirm to transfer its ownership" });
    // Both rows locked in one order (by user id), so two transfers between the same two people cannot deadlock.
    const locked = new Map<string, MemberRecord | undefined>();
    for (const userId of [...new Set([target.userId, acting.userId])].sort()) locked.set(userId, await findDirectMemberForUpdate(trx, { tenantId: target.tenantId, userId }));
    const recipient = locked.get(target.userId);
    if (recipient === undefined) throw new AppError(MemberErrors.MEMBER_NOT_FOUND, { detail: 'ownership goes to a direct member of this tenant' });
    if (recipient.roles.includes(ownerRole)) throw new AppError(MemberErrors.ALREADY_OWNER);
    const caller = locked.get(acting.userId);
    // Checked again under the lock: of two transfers racing from one owner, the second finds them no longer owner.
    if (acting.access.via === 'direct' && !caller?.roles.includes(ownerRole)) {
      throw new AppError(AuthErrors.FORBIDDEN, { detail: `ownership is transferred by a ${ownerRole}, and you no longer are one here` });
    }
    let previousOwner: MemberRecord | null = null;
    if (caller?.roles.includes(ownerRole)) {
      const roles = [...new Set([...caller.roles.filter((r) => r !== ownerRole), ...recipient.roles])].sort();
      await replaceMemberRoles(trx, { tenantId: target.tenantId, userId: caller.userId, roles });
      await appendAuditEvent(
        trx,
        acting.audit,
        { tenantId: target.tenantId, action: 'member.roles_changed', targetType: 'user', targetId: caller.userId, before: { roles: caller.roles }, after: { roles } },
        now,
      );
      previousOwner = { ...caller, roles };
    }
    await replaceMemberRoles(trx, { ...target, roles: [ownerRole] });
    await appendAuditEvent(
      trx,
      acting.audit,
      { tenantId: target.tenantId, action: 'member.roles_changed', targetType: 'user', targetId: target.userId, before: { roles: recipient.roles }, after: { roles: [ownerRole] } },
      now,
    );
    await appendAuditEvent(
      trx,
      acting.audit,
      {
        tenantId: target.tenantId,
        action: 'tenant.ownership_transferred',
        targetType: 'tenant',
        targetId: target.tenantId,
        before: { owner: previousOwner?.userId ?? null },
        after: { owner: target.userId },
      },
      now,
    );
    await syncShadowAccess(trx, { userIds: [target.userId, acting.userId], source: target.tenantId, returnTo: target.tenantId }, acting.audit, now);
    return { owner: { ...recipient, roles: [ownerRole] }, previousOwner };
  });
}

/** Removes someone else's membership; the caller holds `members.manage` and at least the member's permissions. */
export async function removeMember(deps: MemberDeps, acting: Authorized, target: { tenantId: string; userId: string }): Promise<void> {
  await endMembership(deps, acting, target, 'member.removed');
}

/** The caller leaves the tenant: needs only their own direct membership (a shadow one cannot be left). */
export async function leaveTenant(deps: MemberDeps, acting: Authorized, target: { tenantId: string; userId: string }): Promise<void> {
  await endMembership(deps, acting, target, 'member.left');
}

async function endMembership(deps: MemberDeps, acting: Authorized, target: { tenantId: string; userId: string }, action: 'member.removed' | 'member.left'): Promise<void> {
  const now = deps.clock.now();
  await commitOwnerChange(deps, target.tenantId, async (trx) => {
    const member = await findDirectMemberForUpdate(trx, target);
    if (member === undefined) throw new AppError(MemberErrors.MEMBER_NOT_FOUND);
    if (action === 'member.removed') assertMayTouch(acting.access, member, await RoleBook.load(trx, deps.preset, acting.access.path, member.roles));
    await deleteMembership(trx, target);
    // A user left with no membership at all stays: deleting such users is the tenant purge's job.
    await clearDefaultTenant(trx, { ...target, now });
    await appendAuditEvent(
      trx,
      acting.audit,
      { tenantId: target.tenantId, action, targetType: 'user', targetId: target.userId, before: { roles: member.roles, kind: 'direct' }, after: null },
      now,
    );
    // Leaving the admin tenancy ends the shadow access it gave (migration 0013).
    await syncShadowAccess(trx, { userIds: [target.userId], source: target.tenantId, returnTo: target.tenantId }, acting.audit, now);
  });
}

/**
 * `withTenant`, with the last-owner trigger's refusal (raised at commit) turned into `409 last_owner`. The tenant's
 * row is locked first: the trigger locks it at commit, and a transaction that took the audit head before that
 * deadlocked with one that locks the tenant before the audit head (every plan-limited write: an invitation racing
 * the removal of its inviter was a 500, found by test/hostile/races.test.ts).
 */
async function commitOwnerChange<T>(deps: MemberDeps, tenantId: string, fn: (trx: Tx) => Promise<T>): Promise<T> {
  try {
    return await withTenant(deps.db, tenantId, async (trx) => {
      await lockTenantStatus(trx, tenantId);
      return fn(trx);
    });
  } catch (error) {
    if (isLastOwnerViolation(error)) {
      throw new AppError(MemberErrors.LAST_OWNER, { detail: `every tenant keeps at least one ${deps.preset.ownerRole}; make someone else ${deps.preset.ownerRole} first` });
    }
    throw error;
  }
}

/** Whether `roles`, as they resolve in the tenant, grant `permission` (a role that does not resolve grants nothing). */
export function rolesGrant(deps: MemberDeps, access: Access, tenantId: string, roles: readonly string[], permission: string): Promise<boolean> {
  return readTenant(deps.db, tenantId, async (trx) => {
    return (await RoleBook.load(trx, deps.preset, access.path, roles)).permissionsOf(roles).has(permission);
  });
}

/**
 * The member's current roles in this tenant must give nothing the caller lacks, or the caller could
 * strip someone more powerful (an admin demoting or removing an owner). Only this membership's roles
 * count: it is the only thing the caller changes; what the member inherits from an ancestor stays.
 */
function assertMayTouch(access: Access, member: MemberRecord, roles: RoleBook): void {
  // Measured like grants (see assertCanGrant): a permission the caller's roles give counts as held.
  const beyond = [...roles.permissionsOf(member.roles)].filter((p) => !access.roleGrants.has(p));
  if (beyond.length > 0) {
    throw new AppError(AuthErrors.FORBIDDEN, {
      detail: `this member holds permissions you do not hold here: ${beyond.sort().join(', ')}`,
      missingPermissions: beyond,
    });
  }
}

function sameRoles(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((key, i) => key === b[i]);
}

function encodeCursor(position: MemberPosition): string {
  return encodeKeysetCursor({ at: position.joinedAt, id: position.userId });
}

function decodeCursor(cursor: string): MemberPosition {
  const { at, id } = decodeKeysetCursor(cursor, HttpErrors.INVALID_CURSOR);
  return { joinedAt: at, userId: id };
}
