import { findUserById } from '../accounts/users.repository.ts';
import { appendAuditEvent, type AuditContext } from '../audit/audit.repository.ts';
import { MemberErrors } from '../members/members.errors.ts';
import type { Clock } from '../platform/clock.ts';
import { type Db, enterTenantContext, readSystem, withSystem, withUser } from '../platform/db/context.ts';
import { decodeKeysetCursor, encodeKeysetCursor } from '../platform/http/cursor.ts';
import { AppError } from '../platform/http/errors.ts';
import { TenantErrors } from '../tenants/tenants.errors.ts';
import { AdminErrors } from './admin.errors.ts';
import { countLiveTenants, findAdminTenancyId, type InstallTenant, listInstallTenants, lockAdminTenancyDesignation } from './admin.repository.ts';

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
  const after = page.cursor === undefined ? undefined : decodeKeysetCursor(page.cursor, AdminErrors.INVALID_CURSOR);
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
 * staff get shadow memberships in tenants created from now on; tenants that exist keep what they have.
 */
export async function makeAdminTenancy(deps: AdminDeps, tenantId: string, audit: AuditContext): Promise<{ tenantId: string; previous: string | null }> {
  const now = deps.clock.now();
  return withSystem(deps.db, async (trx) => {
    await lockAdminTenancyDesignation(trx);
    const target = await trx.selectFrom('tenants').select(['id', 'status', 'is_admin_tenancy']).where('id', '=', tenantId).forUpdate().executeTakeFirst();
    if (target === undefined || target.status === 'deleted') throw new AppError(TenantErrors.TENANT_NOT_FOUND);
    if (target.is_admin_tenancy) return { tenantId, previous: tenantId };
    if (target.status !== 'active') throw new AppError(AdminErrors.TENANT_NOT_ACTIVE, { detail: `the tenant is ${target.status.replace('_', ' ')}` });
    const previous = (await findAdminTenancyId(trx)) ?? null;
    if (previous !== null) {
      await trx.updateTable('tenants').set({ is_admin_tenancy: false }).where('id', '=', previous).execute();
      await appendAuditEvent(trx, audit, { tenantId: previous, action: 'tenant.admin_tenancy_revoked', targetType: 'tenant', targetId: previous, before: { isAdminTenancy: true }, after: { isAdminTenancy: false, successor: tenantId } }, now);
    }
    await trx.updateTable('tenants').set({ is_admin_tenancy: true }).where('id', '=', tenantId).execute();
    await appendAuditEvent(trx, audit, { tenantId, action: 'tenant.admin_tenancy_granted', targetType: 'tenant', targetId: tenantId, before: { isAdminTenancy: false }, after: { isAdminTenancy: true, previous } }, now);
    return { tenantId, previous };
  });
}

/**
 * Seed 001: an administrator sets a person's landing tenant, which is also their primary tenant. The
 * person must belong to it (directly or as operator staff); recorded in the person's trail and the tenant's.
 */
export async function setDefaultTenant(deps: AdminDeps, userId: string, tenantId: string, audit: AuditContext): Promise<void> {
  const now = deps.clock.now();
  await withUser(deps.db, userId, async (trx) => {
    const user = await findUserById(trx, userId);
    const membership = await trx.selectFrom('memberships').select('kind').where('user_id', '=', userId).where('tenant_id', '=', tenantId).executeTakeFirst();
    if (user === undefined || membership === undefined) throw new AppError(MemberErrors.MEMBER_NOT_FOUND, { detail: `${userId} is not a member of ${tenantId}` });
    if (user.default_tenant_id === tenantId) return;
    await trx.updateTable('users').set({ default_tenant_id: tenantId, updated_at: now }).where('id', '=', userId).execute();
    const change = { before: { defaultTenantId: user.default_tenant_id }, after: { defaultTenantId: tenantId } };
    await appendAuditEvent(trx, audit, { tenantId: userId, action: 'user.default_tenant_set', targetType: 'user', targetId: userId, ...change }, now);
    await enterTenantContext(trx, tenantId);
    await appendAuditEvent(trx, audit, { tenantId, action: 'user.default_tenant_set', targetType: 'user', targetId: userId, ...change }, now);
  });
}
