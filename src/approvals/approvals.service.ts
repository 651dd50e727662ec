import { appendAuditEvent, type AuditContext } from '../audit/audit.repository.ts';
import type { Clock } from '../platform/clock.ts';
import { type Db, readSystem, readTenant, type Tx, prependToFirstWrite, withTenant } from '../platform/db/context.ts';
import type { ApprovalAction } from '../platform/db/schema.ts';
import { decodeKeysetCursor, encodeKeysetCursor } from '../platform/http/cursor.ts';
import { AppError, HttpErrors } from '../platform/http/errors.ts';
import { newId } from '../platform/ids.ts';
import type { Preset } from '../presets/presets.ts';
import { ApprovalErrors } from './approvals.errors.ts';
import {
  type ApprovalListFilter,
  type ApprovalPage,
  type ApprovalRow,
  closeApprovalRequest,
  findApprovalRequest,
  insertApprovalRequest,
  listApprovalRequestsEverywhere,
  listApprovalRequestsIn,
} from './approvals.repository.ts';
import { loadMailNames, mailDeciders, mailInitiator, type MailNames, targetOf } from './notifications.ts';
import type { Config } from '../platform/config.ts';

export interface ApprovalDeps {
  db: Db;
  clock: Clock;
  preset: Preset;
  /** For the links in the mails (TENANTRY_PUBLIC_URL); absent only where a test calls the service directly. */
  config?: Pick<Config, 'publicUrl'>;
}

/** How long a request waits for a decision before it expires. */
export const APPROVAL_TTL_MS = 7 * 24 * 60 * 60_000;

export type ApprovalStatusView = 'pending' | 'executed' | 'failed' | 'declined' | 'cancelled' | 'expired';

export interface ApprovalView {
  id: string;
  tenantId: string;
  action: ApprovalAction;
  params: Record<string, unknown>;
  status: ApprovalStatusView;
  requestedBy: string;
  decidedBy: string | null;
  note: string | null;
  /** For `failed`: the problem the action answered with ({code, detail}). */
  outcome: Record<string, unknown> | null;
  createdAt: Date;
  expiresAt: Date;
  decidedAt: Date | null;
}

/**
 * Whether the preset's policy holds `action` for approval (SPEC 4; the company-tree preset does). The routes
 * then ask `isHeldFor` (approvals.routes.ts) whether the hold applies to the caller: a platform super admin's
 * own actions are never held, since nobody is above them to approve.
 */
export function needsApproval(preset: Preset, action: ApprovalAction): boolean {
  return preset.policies.approvalRequired.includes(action);
}

/**
 * Records that `action` ran without approval because the caller is a platform super admin (`approval.not_required`,
 * reason `platform_super_admin`), in the tenant's own trail, just before the route carries the action out. It is
 * its own transaction (the action's transaction belongs to its service): the action's events follow under the same
 * request id when it succeeds, and none follow when the action is then refused, which the trail shows as an attempt.
 */
export async function recordApprovalNotRequired(deps: ApprovalDeps, audit: AuditContext, tenantId: string, action: ApprovalAction): Promise<void> {
  const now = deps.clock.now();
  await withTenant(deps.db, tenantId, (trx) =>
    appendAuditEvent(trx, audit, { tenantId, action: 'approval.not_required', targetType: 'tenant', targetId: tenantId, after: { action, reason: 'platform_super_admin' } }, now),
  );
}

/** The person asking, with the audit context of their request. */
export interface Requester {
  userId: string;
  audit: AuditContext;
}

/**
 * Records that `requester` asks for `action`, and mails those who may decide it, in one transaction; nothing else
 * happens until a decider approves it.
 */
export async function requestApproval(deps: ApprovalDeps, requester: Requester, tenantId: string, action: ApprovalAction, params: Record<string, unknown>): Promise<ApprovalView> {
  const now = deps.clock.now();
  return withTenant(deps.db, tenantId, async (trx) => {
    const row = await insertApprovalRequest(trx, {
      tenantId,
      id: newId('approval'),
      action,
      params,
      requestedBy: requester.userId,
      now,
      expiresAt: new Date(now.getTime() + APPROVAL_TTL_MS),
    });
    await appendAuditEvent(trx, requester.audit, { tenantId, action: 'approval.requested', targetType: 'approval_request', targetId: row.id, after: { action, params } }, now);
    await mailDeciders(trx, deps, row);
    return present(row, now);
  });
}

export async function getApproval(deps: ApprovalDeps, tenantId: string, id: string): Promise<ApprovalView> {
  const row = await readTenant(deps.db, tenantId, (trx) => findApprovalRequest(trx, { tenantId, id }));
  if (row === undefined) throw new AppError(ApprovalErrors.APPROVAL_NOT_FOUND);
  return present(row, deps.clock.now());
}

/**
 * One page of the requests of `tenants` (newest first, across them), or of every tenant ('all', a platform super
 * admin's inbox: the system context, since that inbox is platform-wide by nature). `requestedBy`: only that
 * person's; `decidableBy`: only those that person may decide (not theirs, not about them).
 */
export async function listApprovals(
  deps: ApprovalDeps,
  tenants: readonly string[] | 'all',
  filter: { requestedBy?: string; decidableBy?: string; status?: ApprovalStatusView; limit: number; cursor?: string },
): Promise<{ approvalRequests: ApprovalView[]; nextCursor: string | null }> {
  const now = deps.clock.now();
  const { cursor, ...rest } = filter;
  const after = cursor === undefined ? undefined : decodeKeysetCursor(cursor, HttpErrors.INVALID_CURSOR);
  const query: ApprovalListFilter = { ...rest, now, ...(after === undefined ? {} : { after }) };
  let page: ApprovalPage;
  if (tenants === 'all') page = await readSystem(deps.db, (trx) => listApprovalRequestsEverywhere(trx, query));
  else if (tenants.length === 0) page = { rows: [], next: null };
  else page = await readTenant(deps.db, tenants[0] ?? '', (trx) => listApprovalRequestsIn(trx, tenants, query));
  return { approvalRequests: page.rows.map((row) => present(row, now)), nextCursor: page.next === null ? null : encodeKeysetCursor(page.next) };
}

/**
 * Carries an approved action out, as the person who asked for it (re-checked now: approval never lends the
 * decider's authority). Returns the action's result; throws the action's refusal as an AppError.
 */
export type Execute = (request: ApprovalView) => Promise<unknown>;

/**
 * A decider approves or declines: never the initiator, never the person the action is about, and not a `peer`
 * (one who holds `approvals.decide` in the request's tenant only, where the preset wants deciders from above); the
 * route has made sure the caller holds `approvals.decide` here or above at all (`standingIn`). Approving runs the
 * action and marks the request `executed` in the action's own transaction, so either both happen or neither; if
 * the action is refused, the request becomes `failed` with the reason. The initiator's mail about the decision is
 * queued in the transaction that records it.
 */
export async function decideApproval(
  deps: ApprovalDeps,
  decider: Requester & { standing: 'decider' | 'peer' },
  key: { tenantId: string; id: string },
  decision: { approve: boolean; note: string | null },
  execute: Execute,
): Promise<ApprovalView> {
  const now = deps.clock.now();
  const { request, names } = await readTenant(deps.db, key.tenantId, async (trx) => {
    const row = await findApprovalRequest(trx, key);
    if (row === undefined) throw new AppError(ApprovalErrors.APPROVAL_NOT_FOUND);
    return { request: present(row, now), names: await loadMailNames(trx, row, [decider.userId]) };
  });
  if (request.status !== 'pending') throw new AppError(ApprovalErrors.NOT_PENDING, { detail: `the request is ${request.status}` });
  if (request.requestedBy === decider.userId) throw new AppError(ApprovalErrors.INITIATOR);
  if (targetOf(request) === decider.userId) {
    throw new AppError(ApprovalErrors.TARGET, { detail: `this ${request.action} request is about you, so someone else must decide it` });
  }
  if (decider.standing === 'peer') {
    throw new AppError(ApprovalErrors.NOT_FROM_ABOVE, {
      detail: 'you hold approvals.decide in this tenant only; its requests are decided from a tenant above it',
      permission: 'approvals.decide',
    });
  }
  const close = (trx: Tx, status: 'executed' | 'failed' | 'declined', outcome: Record<string, unknown> | null) =>
    closeOrRefuse(trx, deps, key, { status, decidedBy: decider.userId, note: decision.note, outcome, now }, decider.audit, names);

  if (!decision.approve) return withTenant(deps.db, key.tenantId, (trx) => close(trx, 'declined', null));
  try {
    const { hooked } = await prependToFirstWrite(
      (trx) => close(trx, 'executed', null).then(() => undefined),
      () => execute(request),
    );
    if (!hooked) await withTenant(deps.db, key.tenantId, (trx) => close(trx, 'executed', null));
  } catch (error) {
    if (!(error instanceof AppError) || error.spec === ApprovalErrors.NOT_PENDING) throw error;
    const outcome = { code: error.spec.code, status: error.spec.status, detail: error.message };
    return withTenant(deps.db, key.tenantId, (trx) => close(trx, 'failed', outcome));
  }
  return getApproval(deps, key.tenantId, key.id);
}

/** The initiator withdraws a pending request. */
export async function cancelApproval(deps: ApprovalDeps, requester: Requester, key: { tenantId: string; id: string }): Promise<ApprovalView> {
  const request = await getApproval(deps, key.tenantId, key.id);
  if (request.requestedBy !== requester.userId) throw new AppError(ApprovalErrors.NOT_INITIATOR);
  if (request.status !== 'pending') throw new AppError(ApprovalErrors.NOT_PENDING, { detail: `the request is ${request.status}` });
  const now = deps.clock.now();
  return withTenant(deps.db, key.tenantId, (trx) => closeOrRefuse(trx, deps, key, { status: 'cancelled', decidedBy: null, note: null, outcome: null, now }, requester.audit, null));
}

/** Closes the request and audits it; `names` given, mails the initiator the decision in the same transaction. */
async function closeOrRefuse(
  trx: Tx,
  deps: ApprovalDeps,
  key: { tenantId: string; id: string },
  change: Parameters<typeof closeApprovalRequest>[2],
  audit: AuditContext,
  names: MailNames | null,
): Promise<ApprovalView> {
  const row = await closeApprovalRequest(trx, key, change);
  if (row === undefined) throw new AppError(ApprovalErrors.NOT_PENDING, { detail: 'another decision came first, or the request expired' });
  await appendAuditEvent(
    trx,
    audit,
    {
      tenantId: key.tenantId,
      action: `approval.${change.status}`,
      targetType: 'approval_request',
      targetId: key.id,
      before: { status: 'pending' },
      after: { status: change.status, action: row.action, ...(change.note === null ? {} : { note: change.note }), ...(change.outcome === null ? {} : { outcome: change.outcome }) },
    },
    change.now,
  );
  if (names !== null && change.decidedBy !== null) await mailInitiator(trx, deps, row, names, change.decidedBy);
  return present(row, change.now);
}

function present(row: ApprovalRow, now: Date): ApprovalView {
  const expired = row.status === 'pending' && row.expires_at.getTime() <= now.getTime();
  return {
    id: row.id,
    tenantId: row.tenant_id,
    action: row.action,
    params: row.params,
    status: expired ? 'expired' : row.status,
    requestedBy: row.requested_by,
    decidedBy: row.decided_by,
    note: row.note,
    outcome: row.outcome,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    decidedAt: row.decided_at,
  };
}
