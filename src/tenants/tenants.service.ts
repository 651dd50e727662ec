import { appendAuditEvent, type AuditContext } from '../audit/audit.repository.ts';
import type { Clock } from '../platform/clock.ts';
import { applyDataPatch } from '../platform/data-object.ts';
import { type Db, enterTenantContext, readTenant, withTenant } from '../platform/db/context.ts';
import { faultPoint } from '../platform/db/faults.ts';
import { AppError, HttpErrors } from '../platform/http/errors.ts';
import { newTenantId } from '../platform/ids.ts';
import { licenceLimitError } from '../licence/licence.errors.ts';
import { assertRoom, lockPlan } from '../plans/plans.service.ts';
import type { Preset } from '../presets/presets.ts';
import { insertMembership, listDirectHolders } from '../members/memberships.repository.ts';
import { grantOperatorShadows } from './operator-access.ts';
import { TenantErrors } from './tenants.errors.ts';
import { findTenant, insertTenant, listSubtree, lockTenantStatus, moveTenant, type TenantDetails, type TreeNode, updateTenant } from './tenants.repository.ts';
import { AuthErrors } from '../auth/auth.errors.ts';

export interface TenantDeps {
  db: Db;
  clock: Clock;
  preset: Preset;
}

/** Maps the tree trigger's refusals (raised as check violations) to domain errors. */
function treeError(error: unknown): never {
  const constraint = (error as { constraint?: string }).constraint;
  const message = String((error as Error).message ?? '');
  if (constraint === 'tenant_tree_max_depth' || message.includes('deeper than')) throw new AppError(TenantErrors.TREE_TOO_DEEP, { detail: message });
  if (constraint === 'tenant_tree_no_cycle' || message.includes('own descendant')) throw new AppError(TenantErrors.TREE_CYCLE, { detail: message });
  throw error;
}

export interface CreateTenantInput {
  name: string;
  slug: string;
  parentId?: string | null;
}

/**
 * Who owns a new tenant: the person creating it; (for an API key) the owners of the key's tenant; or the platform,
 * for a customer organisation an operator creates (seed 001), reached by the operator's staff through shadow
 * memberships only, so it starts with no direct member at all.
 */
export type NewTenantOwners = { userId: string } | { ownersOf: string } | { platform: true };

/**
 * Creates a root tenant (anyone signed in), or a child/sibling under `parentId` (the caller has already
 * been authorised for it). The creator becomes the new tenant's owner; a tenant made by an API key is
 * owned by the direct owners of the key's tenant, as seed 000's Mgmt REST API makes sibling tenants.
 */
export async function createTenant(deps: TenantDeps, owners: NewTenantOwners, input: CreateTenantInput, audit: AuditContext): Promise<TenantDetails> {
  const id = newTenantId();
  const now = deps.clock.now();
  try {
    await withTenant(deps.db, id, async (trx) => {
      let ownerIds = 'userId' in owners ? [owners.userId] : [];
      if ('ownersOf' in owners) {
        await enterTenantContext(trx, owners.ownersOf);
        ownerIds = await listDirectHolders(trx, owners.ownersOf, deps.preset.ownerRole);
        await enterTenantContext(trx, id);
      }
      if (input.parentId) assertRoom(await lockPlan(trx, deps, input.parentId), 'childTenants');
      const row = await insertTenant(trx, { id, slug: input.slug, name: input.name.trim(), parentId: input.parentId ?? null, platformOwned: 'platform' in owners, now });
      if (row === undefined) throw new AppError(TenantErrors.SLUG_TAKEN);
      await faultPoint(trx, 'tenant.created');
      await appendAuditEvent(
        trx,
        audit,
        {
          tenantId: id,
          action: 'tenant.created',
          targetType: 'tenant',
          targetId: id,
          after: { name: row.name, slug: row.slug, parentId: input.parentId ?? null, ...('platform' in owners ? { platformOwned: true } : {}) },
        },
        now,
      );
      for (const userId of ownerIds) {
        await insertMembership(trx, { tenantId: id, userId, kind: 'direct', roles: [deps.preset.ownerRole], now });
        await appendAuditEvent(
          trx,
          audit,
          { tenantId: id, action: 'member.added', targetType: 'user', targetId: userId, after: { roles: [deps.preset.ownerRole], kind: 'direct' } },
          now,
        );
      }
      await grantOperatorShadows(trx, id, ownerIds, audit, now);
      if (input.parentId) {
        // The parent's own trail records it too, written in the parent's context.
        await enterTenantContext(trx, input.parentId);
        await appendAuditEvent(
          trx,
          audit,
          { tenantId: input.parentId, action: 'tenant.child_created', targetType: 'tenant', targetId: id, after: { name: row.name, slug: row.slug } },
          now,
        );
      }
    });
  } catch (error) {
    if (error instanceof AppError) throw error;
    throw licenceLimitError(error) ?? treeError(error);
  }
  return getTenant(deps, id);
}

export async function getTenant(deps: TenantDeps, tenantId: string): Promise<TenantDetails> {
  const tenant = await readTenant(deps.db, tenantId, (trx) => findTenant(trx, tenantId));
  if (tenant === undefined) throw new AppError(AuthErrors.TENANT_NOT_FOUND);
  return tenant;
}

export interface TenantChanges {
  name?: string;
  data?: Record<string, unknown>;
  /** Move under another parent (null: make it a root); the caller has been authorised for the move. */
  parentId?: string | null;
}

/**
 * Renames (the id never changes), merge-patches the data object (≤ 64 KiB) and/or re-parents the tenant with its
 * whole subtree, in one transaction: a refused part leaves everything as it was. The tree trigger refuses cycles
 * and over-deep results in the same statement; the new parent's plan must allow one more child.
 */
export async function updateTenantDetails(deps: TenantDeps, tenantId: string, changes: TenantChanges, audit: AuditContext): Promise<TenantDetails> {
  const now = deps.clock.now();
  try {
    await withTenant(deps.db, tenantId, async (trx) => {
      const before = await findTenant(trx, tenantId);
      if (before === undefined) throw new AppError(AuthErrors.TENANT_NOT_FOUND);
      const { parentId } = changes;
      if (parentId !== undefined && parentId !== before.parentId) {
        if (parentId !== null) assertRoom(await lockPlan(trx, deps, parentId), 'childTenants');
        await moveTenant(trx, tenantId, parentId);
        await appendAuditEvent(
          trx,
          audit,
          { tenantId, action: 'tenant.moved', targetType: 'tenant', targetId: tenantId, before: { parentId: before.parentId }, after: { parentId } },
          now,
        );
      }
      if (changes.name === undefined && changes.data === undefined) return;
      const data =
        changes.data === undefined
          ? undefined
          : applyDataPatch(before.data, changes.data, (max) => new AppError(HttpErrors.DATA_TOO_LARGE, { detail: `data must stay under ${max} bytes as JSON` }));
      const name = changes.name?.trim();
      await updateTenant(trx, tenantId, { ...(name === undefined ? {} : { name }), ...(data === undefined ? {} : { data }) }, now);
      await appendAuditEvent(
        trx,
        audit,
        {
          tenantId,
          action: 'tenant.updated',
          targetType: 'tenant',
          targetId: tenantId,
          before: { name: before.name, data: before.data },
          after: { name: name ?? before.name, data: data ?? before.data },
        },
        now,
      );
    });
  } catch (error) {
    if (error instanceof AppError) throw error;
    treeError(error);
  }
  return getTenant(deps, tenantId);
}

/**
 * SPEC 4, lifecycle: suspend (data kept; only owners and those above may enter, read-only plus billing; API
 * keys and their tokens refused) and resume. Suspending a suspended tenant, or resuming an active one,
 * changes nothing; a tenant pending deletion is restored, not resumed; the admin tenancy is never suspended.
 * The tenants below are not touched.
 */
export async function setSuspended(deps: TenantDeps, tenantId: string, change: { suspend: boolean; reason?: string }, audit: AuditContext): Promise<TenantDetails> {
  const now = deps.clock.now();
  await withTenant(deps.db, tenantId, async (trx) => {
    const current = await lockTenantStatus(trx, tenantId);
    if (current === undefined || current.status === 'deleted') throw new AppError(AuthErrors.TENANT_NOT_FOUND);
    const target = change.suspend ? 'suspended' : 'active';
    if (current.status === target) return;
    if (current.status === 'pending_deletion') throw new AppError(TenantErrors.STATUS_CONFLICT, { detail: 'the tenant is pending deletion: restore it first' });
    if (change.suspend && current.isAdminTenancy) throw new AppError(TenantErrors.ADMIN_TENANCY);
    await updateTenant(trx, tenantId, { status: target, suspendedAt: change.suspend ? now : null, suspensionReason: change.suspend ? (change.reason ?? null) : null }, now);
    const action = change.suspend ? 'tenant.suspended' : 'tenant.resumed';
    await appendAuditEvent(
      trx,
      audit,
      {
        tenantId,
        action,
        targetType: 'tenant',
        targetId: tenantId,
        before: { status: current.status },
        after: { status: target, ...(change.reason === undefined ? {} : { reason: change.reason }) },
      },
      now,
    );
  });
  return getTenant(deps, tenantId);
}

/** The subtree below (and including) `tenantId`, root first; `maxDepth` 1 = direct children only. */
export function listTree(deps: TenantDeps, tenantId: string, options: { childrenOnly: boolean }): Promise<TreeNode[]> {
  return readTenant(deps.db, tenantId, (trx) => listSubtree(trx, tenantId, options));
}
