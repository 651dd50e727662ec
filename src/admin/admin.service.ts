import { AccountErrors } from '../accounts/accounts.errors.ts';
import { findUserById, setExplicitDefaultTenant } from '../accounts/users.repository.ts';
import { appendAuditEvent, type AuditContext } from '../audit/audit.repository.ts';
import { MemberErrors } from '../members/members.errors.ts';
import type { Clock } from '../platform/clock.ts';
import { type Db, enterTenantContext, readSystem, withSystem, withTenant, withUser } from '../platform/db/context.ts';
import { decodeKeysetCursor, encodeKeysetCursor } from '../platform/http/cursor.ts';
import { AppError, HttpErrors } from '../platform/http/errors.ts';
import { syncShadowAccess } from '../tenants/operator-access.ts';
import { AdminErrors } from './admin.errors.ts';
import { AuthErrors } from '../auth/auth.errors.ts';
import {
  countLiveTenants,
  findAdminTenancyId,
  findDesignatedStaffTenancy,
  type InstallTenant,
  listInstallTenants,
  lockAdminTenancyDesignation,
  setAdminTenancy,
} from './admin.repository.ts';
import { lockTenantStatus } from '../tenants/tenants.repository.ts';
import { findMembership, findShadowMembershipForUpdate, listShadowMembershipsOf, type ShadowMembershipRow } from '../members/memberships.repository.ts';
import { deleteMembership } from '../members/memberships.repository.ts';

export interface AdminDeps {
  db: Db;
  clock: Clock;
}

/** The admin tenancy's id, if the install has one. Platform-wide by nature: read in the system context. */
export function adminTenancyId(deps: AdminDeps): Promise<string | undefined> {
  return readSystem(deps.db, findAdminTenancyId);
}

export interface InstallTenantPage {
  tenants: InstallTenant[];
  /** Live tenants in the install ("Tenants in use: N / limit"). */
  inUse: number;
  nextCursor: string | null;
}

/** Seed 001's admin tenants page: every live tenant of the install, oldest first, in pages. */
export async function listInstall(deps: AdminDeps, page: { limit: number; cursor?: string }): Promise<InstallTenantPage> {
  const after = page.cursor === undefined ? undefined : decodeKeysetCursor(page.cursor, HttpErrors.INVALID_CURSOR);
  return readSystem(deps.db, async (trx) => {
    const { tenants, next } = await listInstallTenants(trx, { limit: page.limit, ...(after === undefined ? {} : { after }) });
    return { tenants, inUse: await countLiveTenants(trx), nextCursor: next === null ? null : encodeKeysetCursor(next) };
  });
}

/** Live tenants in the install, for the licence page. Platform-wide by nature: read in the system context. */
export function tenantsInUse(deps: AdminDeps): Promise<number> {
  return readSystem(deps.db, countLiveTenants);
}

/**
 * Makes `tenantId` the admin tenancy (there is at most one; the database's unique index says so). Its
 * staff get shadow memberships in tenants created from now on; tenants that exist keep what they have, and the
 * shadow memberships the previous admin tenancy granted last while their holders remain staff there (they can
 * only narrow from now on; migration 0013).
 */
export async function makeAdminTenancy(deps: AdminDeps, tenantId: string, audit: AuditContext): Promise<{ tenantId: string; previous: string | null }> {
  const now = deps.clock.now();
  return withSystem(deps.db, async (trx) => {
    await lockAdminTenancyDesignation(trx);
    const target = await lockTenantStatus(trx, tenantId);
    if (target === undefined || target.status === 'deleted') throw new AppError(AuthErrors.TENANT_NOT_FOUND);
    if (target.isAdminTenancy) return { tenantId, previous: tenantId };
    if (target.status !== 'active') throw new AppError(AdminErrors.TENANT_NOT_ACTIVE, { detail: `the tenant is ${target.status.replace('_', ' ')}` });
    const previous = (await findAdminTenancyId(trx)) ?? null;
    if (previous !== null) {
      await setAdminTenancy(trx, previous, false);
      await appendAuditEvent(
        trx,
        audit,
        {
          tenantId: previous,
          action: 'tenant.admin_tenancy_revoked',
          targetType: 'tenant',
          targetId: previous,
          before: { isAdminTenancy: true },
          after: { isAdminTenancy: false, successor: tenantId },
        },
        now,
      );
    }
    await setAdminTenancy(trx, tenantId, true);
    await appendAuditEvent(
      trx,
      audit,
      { tenantId, action: 'tenant.admin_tenancy_granted', targetType: 'tenant', targetId: tenantId, before: { isAdminTenancy: false }, after: { isAdminTenancy: true, previous } },
      now,
    );
    return { tenantId, previous };
  });
}

/**
 * Seed 001: an administrator sets a person's landing tenant, which is also their primary tenant. The
 * person must belong to it (directly or as operator staff); recorded in the person's trail and the tenant's.
 * Set this way, it is explicit (`explicit_default_tenant_id`): a direct member whose default tenant an
 * administrator of the admin tenancy (or a super_admin) has made the admin tenancy is operator staff, whatever
 * their roles there. Moving it away ends that, and with it the shadow access it gave (audited in each tenant).
 * A default tenant the system re-points (a deleted tenant's) is never explicit.
 */
export async function setDefaultTenant(deps: AdminDeps, userId: string, tenantId: string, audit: AuditContext): Promise<void> {
  const now = deps.clock.now();
  await withUser(deps.db, userId, async (trx) => {
    const user = await findUserById(trx, userId);
    const membership = await findMembership(trx, { tenantId, userId });
    if (user === undefined || membership === undefined) throw new AppError(MemberErrors.MEMBER_NOT_FOUND, { detail: `${userId} is not a member of ${tenantId}` });
    if (user.default_tenant_id === tenantId && user.explicit_default_tenant_id === tenantId) return;
    await setExplicitDefaultTenant(trx, userId, tenantId, now);
    const change = { before: { defaultTenantId: user.default_tenant_id }, after: { defaultTenantId: tenantId } };
    await appendAuditEvent(trx, audit, { tenantId: userId, action: 'user.default_tenant_set', targetType: 'user', targetId: userId, ...change }, now);
    await enterTenantContext(trx, tenantId);
    await appendAuditEvent(trx, audit, { tenantId, action: 'user.default_tenant_set', targetType: 'user', targetId: userId, ...change }, now);
    await syncShadowAccess(trx, { userIds: [userId], returnTo: tenantId }, audit, now);
  });
}

/** The admin tenancy, if an administrator has explicitly made it `userId`'s default tenant (which makes them staff). */
export function designatedStaffTenancy(deps: AdminDeps, userId: string): Promise<string | undefined> {
  // Platform-wide by nature (the admin tenancy is found across tenants): read in the system context.
  return readSystem(deps.db, (trx) => findDesignatedStaffTenancy(trx, userId));
}

export interface ShadowMembershipPage {
  memberships: ShadowMembershipRow[];
  nextCursor: string | null;
}

/**
 * Where a person has operator (shadow) access, oldest first, in pages: what an operator checks before or after
 * someone leaves the staff. Platform-wide by nature (one person across every tenant): read in the system context.
 */
export async function listShadowMemberships(deps: AdminDeps, userId: string, page: { limit: number; cursor?: string }): Promise<ShadowMembershipPage> {
  const after = page.cursor === undefined ? undefined : decodeKeysetCursor(page.cursor, HttpErrors.INVALID_CURSOR);
  return readSystem(deps.db, async (trx) => {
    if ((await findUserById(trx, userId)) === undefined) throw new AppError(AccountErrors.USER_NOT_FOUND);
    const { memberships, next } = await listShadowMembershipsOf(trx, userId, { limit: page.limit, ...(after === undefined ? {} : { after }) });
    return { memberships, nextCursor: next === null ? null : encodeKeysetCursor(next) };
  });
}

/**
 * An operator ends one shadow membership (the tenant's admins cannot: to them it does not exist). Recorded in the
 * tenant's own audit chain, so the customer sees that the operator's access ended. It is not granted again
 * unless the tenant is created again; the person's other shadow memberships stay.
 */
export async function endShadowMembership(deps: AdminDeps, target: { tenantId: string; userId: string }, audit: AuditContext): Promise<void> {
  const now = deps.clock.now();
  await withTenant(deps.db, target.tenantId, async (trx) => {
    const shadow = await findShadowMembershipForUpdate(trx, target);
    if (shadow === undefined) throw new AppError(AdminErrors.SHADOW_MEMBERSHIP_NOT_FOUND);
    await deleteMembership(trx, target);
    await appendAuditEvent(
      trx,
      audit,
      { tenantId: target.tenantId, action: 'member.removed', targetType: 'user', targetId: target.userId, before: { roles: shadow.roles, kind: 'shadow' }, after: null },
      now,
    );
  });
}
