import { appendAuditEvent, type AuditContext } from '../audit/audit.repository.ts';
import { AuthErrors } from '../auth/auth.errors.ts';
import type { Access } from '../permissions/access.ts';
import type { Clock } from '../platform/clock.ts';
import type { TenantStatus } from '../platform/db/schema.ts';
import { type Db, readSystem, type Tx, withSystem } from '../platform/db/context.ts';
import { AppError } from '../platform/http/errors.ts';
import {
  findDueDeletions,
  findLiveParent,
  listSubtreeForDeletion,
  markPendingDeletion,
  markRestored,
  type PurgeCounts,
  purgeTenantRows,
  type SubtreeTenant,
} from './deletion.repository.ts';
import { TenantErrors } from './tenants.errors.ts';
import type { Preset } from '../presets/presets.ts';

export interface DeletionDeps {
  db: Db;
  clock: Clock;
  /** The preset's grace period; 0 purges at once (seed 001). */
  preset: Pick<Preset, 'policies'>;
}

export interface DeletionCaller {
  audit: AuditContext;
  /** The tenant the caller is working in: never deletable from inside. */
  activeTenantId: string | null;
  /** The caller's access to a tenant (for every tenant of a subtree). */
  accessTo: (tenantId: string) => Promise<Access>;
}

export type PurgeReport = PurgeCounts & { tenantId: string };

export type DeletionResult = { status: 'pending_deletion'; tenants: string[]; purgeAfter: Date } | { status: 'deleted'; tenants: string[]; purged: PurgeReport[] };

/**
 * SPEC 4, deletion: requested by typing the slug; never the caller's active tenant, never the admin
 * tenancy; a tenant with tenants below it only together with its whole subtree (`includeDescendants`), and
 * only if the caller may delete each of them. Within the preset's grace period it can be restored; with no
 * grace it is purged in the same transaction. A platform-wide operation over a subtree, so it runs in the
 * system context (which also drops every cached permission at commit).
 */
export async function requestDeletion(deps: DeletionDeps, caller: DeletionCaller, tenantId: string, input: DeletionInput): Promise<DeletionResult> {
  const now = deps.clock.now();
  const checked = await assertDeletable(deps, caller, tenantId, input);

  return withSystem(deps.db, async (trx) => {
    const subtree = await listSubtreeForDeletion(trx, tenantId, { lock: true });
    if (!sameTenants(checked, subtree)) throw new AppError(TenantErrors.STATUS_CONFLICT, { detail: 'the subtree changed while it was being deleted; try again' });
    const purgeAfter = new Date(now.getTime() + deps.preset.policies.deletionGraceDays * 86_400_000);
    for (const tenant of subtree) {
      await markPendingDeletion(trx, tenant, now, purgeAfter);
      await appendAuditEvent(
        trx,
        caller.audit,
        {
          tenantId: tenant.id,
          action: 'tenant.deletion_requested',
          targetType: 'tenant',
          targetId: tenant.id,
          before: { status: tenant.status },
          after: { status: 'pending_deletion', purgeAfter: purgeAfter.toISOString(), requestedFor: tenantId },
        },
        now,
      );
    }
    const ids = subtree.map((t) => t.id);
    if (deps.preset.policies.deletionGraceDays > 0) return { status: 'pending_deletion', tenants: ids, purgeAfter };
    const purged: PurgeReport[] = [];
    for (const tenant of subtree) purged.push({ tenantId: tenant.id, ...(await purgeTenantRows(trx, tenant.id)) });
    await recordPurgeAbove(trx, caller.audit, tenantId, purged, now);
    return { status: 'deleted', tenants: ids, purged };
  });
}

export interface DeletionInput {
  confirm: string;
  includeDescendants?: boolean;
}

/**
 * Everything `requestDeletion` checks before it writes, as `caller`: the typed slug, the status, never the
 * caller's active tenant nor the admin tenancy, the subtree only with `includeDescendants`, and the right to
 * delete each tenant of it. Returns the subtree as checked. A deletion held for approval passes the same
 * checks before it is held, so a request that could never run is answered at once. Runs outside any write
 * transaction: permission lookups open transactions of their own.
 */
export async function assertDeletable(deps: Pick<DeletionDeps, 'db'>, caller: DeletionCaller, tenantId: string, input: DeletionInput): Promise<SubtreeTenant[]> {
  const checked = await readSystem(deps.db, (trx) => listSubtreeForDeletion(trx, tenantId, { lock: false }));
  const top = checked.find((t) => t.id === tenantId);
  if (top === undefined) throw new AppError(AuthErrors.TENANT_NOT_FOUND);
  if (top.slug !== input.confirm) throw new AppError(TenantErrors.CONFIRMATION_MISMATCH, { detail: "type the tenant's slug in confirm to delete it" });
  if (top.status === 'pending_deletion') throw new AppError(TenantErrors.STATUS_CONFLICT, { detail: 'the tenant is already pending deletion' });
  if (caller.activeTenantId !== null && checked.some((t) => t.id === caller.activeTenantId)) throw new AppError(TenantErrors.ACTIVE_TENANT);
  if (checked.some((t) => t.isAdminTenancy)) throw new AppError(TenantErrors.ADMIN_TENANCY);
  if (checked.length > 1 && input.includeDescendants !== true)
    throw new AppError(TenantErrors.HAS_CHILDREN, { tenants: checked.filter((t) => t.id !== tenantId).map((t) => t.id) });
  // The tenant asked about first, so a caller who may not delete it hears that rather than about a descendant.
  for (const tenant of [top, ...checked.filter((t) => t !== top)]) await assertMayDelete(caller, tenant);
  return checked;
}

function sameTenants(a: readonly SubtreeTenant[], b: readonly SubtreeTenant[]): boolean {
  return a.length === b.length && a.every((t, i) => t.id === b[i]?.id && t.status === b[i]?.status);
}

/**
 * Owners (and those above) may delete; a suspended tenant only by those above it, so deleting and restoring
 * can never undo a suspension. Measured before status filters, like grants.
 */
async function assertMayDelete(caller: DeletionCaller, tenant: Pick<SubtreeTenant, 'id' | 'status'>, doing = 'deleting'): Promise<void> {
  const access = await caller.accessTo(tenant.id);
  if (!mayGiveAway(access, tenant.status)) {
    const suspended = tenant.status === 'suspended' ? ' from above it (it is suspended)' : '';
    throw new AppError(AuthErrors.FORBIDDEN, { detail: `${doing} ${tenant.id} needs tenant.delete${suspended}`, permission: 'tenant.delete' });
  }
}

/**
 * The authority to take a tenant out of everyone's reach: delete it, restore it, or move it to another parent.
 * `tenant.delete` there (owner-level), measured before status filters like grants; for a suspended tenant, from
 * above it, so its own owners can never undo a suspension by deleting, restoring or moving it.
 */
export function mayGiveAway(access: Access, status: TenantStatus): boolean {
  return access.visible && (status === 'suspended' ? access.fromAbove.has('tenant.delete') : access.roleGrants.has('tenant.delete'));
}

/**
 * Restores a tenant pending deletion, and the tenants below it that were requested with it, each to the status
 * it had before (a suspended tenant comes back suspended). Restoring needs what deleting needed: `tenant.delete`,
 * and from above for a tenant that was suspended, so deleting and restoring can never lift a suspension. The
 * checks run before the write transaction (permission lookups open their own); the write re-reads the subtree
 * under lock and refuses if it changed meanwhile.
 */
export async function restoreTenant(deps: DeletionDeps, caller: DeletionCaller, tenantId: string): Promise<string[]> {
  const now = deps.clock.now();
  const checked = restorable(await readSystem(deps.db, (trx) => listSubtreeForDeletion(trx, tenantId, { lock: false })), tenantId);
  for (const tenant of checked) await assertMayDelete(caller, { ...tenant, status: tenant.statusBeforeDeletion ?? 'active' }, 'restoring');
  return withSystem(deps.db, async (trx) => {
    const together = restorable(await listSubtreeForDeletion(trx, tenantId, { lock: true }), tenantId);
    if (!sameTenants(checked, together)) throw new AppError(TenantErrors.STATUS_CONFLICT, { detail: 'the subtree changed while it was being restored; try again' });
    for (const tenant of together) {
      await markRestored(trx, tenant.id, now);
      const after = { status: tenant.statusBeforeDeletion ?? 'active' };
      await appendAuditEvent(
        trx,
        caller.audit,
        { tenantId: tenant.id, action: 'tenant.restored', targetType: 'tenant', targetId: tenant.id, before: { status: 'pending_deletion' }, after },
        now,
      );
    }
    return together.map((t) => t.id);
  });
}

/** The tenant (which must be pending deletion) and the tenants below it whose deletion was requested with it. */
function restorable(subtree: SubtreeTenant[], tenantId: string): SubtreeTenant[] {
  const top = subtree.find((t) => t.id === tenantId);
  if (top === undefined) throw new AppError(AuthErrors.TENANT_NOT_FOUND);
  if (top.status !== 'pending_deletion') throw new AppError(TenantErrors.STATUS_CONFLICT, { detail: 'only a tenant pending deletion can be restored' });
  return subtree.filter((t) => t.status === 'pending_deletion' && t.deletionRequestedAt?.getTime() === top.deletionRequestedAt?.getTime());
}

/** Purges every pending deletion whose grace has run out (the background job; also callable by hand). */
export async function purgeDueTenants(deps: Pick<DeletionDeps, 'db' | 'clock'>): Promise<PurgeReport[]> {
  const now = deps.clock.now();
  const system: AuditContext = { actorType: 'system', actorId: null, requestId: null, ip: null };
  return withSystem(deps.db, async (trx) => {
    const reports: PurgeReport[] = [];
    for (const due of await findDueDeletions(trx, now)) {
      const report = { tenantId: due.id, ...(await purgeTenantRows(trx, due.id)) };
      reports.push(report);
      if (due.parentId !== null) await recordPurgeAbove(trx, system, due.id, [report], now, due.parentId);
    }
    return reports;
  });
}

/** The purged tenant's own trail is gone with it; its parent's trail (if the parent lives on) keeps the record. */
async function recordPurgeAbove(trx: Tx, audit: AuditContext, tenantId: string, purged: PurgeReport[], now: Date, knownParent?: string): Promise<void> {
  const parent = await findLiveParent(trx, tenantId, knownParent);
  if (parent === undefined) return;
  await appendAuditEvent(trx, audit, { tenantId: parent, action: 'tenant.purged', targetType: 'tenant', targetId: tenantId, after: { purged } }, now);
}
