import { appendAuditEvent, type AuditContext } from '../audit/audit.repository.ts';
import type { Clock } from '../platform/clock.ts';
import { type Db, readTenant, type Tx, withCommitHook, withTenant } from '../platform/db/context.ts';
import type { ApprovalAction } from '../platform/db/schema.ts';
import { decodeKeysetCursor, encodeKeysetCursor } from '../platform/http/cursor.ts';
import { AppError } from '../platform/http/errors.ts';
import { newId } from '../platform/ids.ts';
import type { Preset } from '../presets/presets.ts';
import { ApprovalErrors } from './approvals.errors.ts';
import { type ApprovalRow, closeApprovalRequest, findApprovalRequest, insertApprovalRequest, listApprovalRequests } from './approvals.repository.ts';

export interface ApprovalDeps {
  db: Db;
  clock: Clock;
  preset: Preset;
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

/** Whether the preset's policy holds `action` for approval (SPEC 4; the company-tree preset does). */
export function needsApproval(preset: Preset, action: ApprovalAction): boolean {
  return preset.policies.approvalRequired.includes(action);
}

/** The person asking, with the audit context of their request. */
export interface Requester {
  userId: string;
  audit: AuditContext;
}

/** Records that `requester` asks for `action`; nothing else happens until a decider approves it. */
export async function requestApproval(deps: ApprovalDeps, requester: Requester, tenantId: string, action: ApprovalAction, params: Record<string, unknown>): Promise<ApprovalView> {
  const now = deps.clock.now();
  return withTenant(deps.db, tenantId, async (trx) => {
    const row = await insertApprovalRequest(trx, { tenantId, id: newId('approval'), action, params, requestedBy: requester.userId, now, expiresAt: new Date(now.getTime() + APPROVAL_TTL_MS) });
    await appendAuditEvent(trx, requester.audit, { tenantId, action: 'approval.requested', targetType: 'approval_request', targetId: row.id, after: { action, params } }, now);
    return present(row, now);
  });
}

export async function getApproval(deps: ApprovalDeps, tenantId: string, id: string): Promise<ApprovalView> {
  const row = await readTenant(deps.db, tenantId, (trx) => findApprovalRequest(trx, { tenantId, id }));
  if (row === undefined) throw new AppError(ApprovalErrors.APPROVAL_NOT_FOUND);
  return present(row, deps.clock.now());
}

export async function listApprovals(
  deps: ApprovalDeps,
  tenantId: string,
  filter: { requestedBy?: string; status?: ApprovalStatusView; limit: number; cursor?: string },
): Promise<{ approvalRequests: ApprovalView[]; nextCursor: string | null }> {
  const now = deps.clock.now();
  const { cursor, ...rest } = filter;
  const after = cursor === undefined ? undefined : decodeKeysetCursor(cursor, ApprovalErrors.INVALID_CURSOR);
  const page = await readTenant(deps.db, tenantId, (trx) => listApprovalRequests(trx, tenantId, { ...rest, now, ...(after === undefined ? {} : { after }) }));
  return { approvalRequests: page.rows.map((row) => present(row, now)), nextCursor: page.next === null ? null : encodeKeysetCursor(page.next) };
}

/**
 * Carries an approved action out, as the person who asked for it (re-checked now: approval never lends the
 * decider's authority). Returns the action's result; throws the action's refusal as an AppError.
 */
export type Execute = (request: ApprovalView) => Promise<unknown>;

/**
 * A decider approves or declines (never the initiator; the route checks `approvals.decide`). Approving runs
 * the action and marks the request `executed` in the action's own transaction, so either both happen or
 * neither; if the action is refused, the request becomes `failed` with the reason.
 */
export async function decideApproval(
  deps: ApprovalDeps,
  decider: Requester,
  key: { tenantId: string; id: string },
  decision: { approve: boolean; note: string | null },
  execute: Execute,
): Promise<ApprovalView> {
  const request = await getApproval(deps, key.tenantId, key.id);
  if (request.status !== 'pending') throw new AppError(ApprovalErrors.NOT_PENDING, { detail: `the request is ${request.status}` });
  if (request.requestedBy === decider.userId) throw new AppError(ApprovalErrors.INITIATOR);
  const now = deps.clock.now();
  const close = (trx: Tx, status: 'executed' | 'failed' | 'declined', outcome: Record<string, unknown> | null) =>
    closeOrRefuse(trx, key, { status, decidedBy: decider.userId, note: decision.note, outcome, now }, decider.audit);

  if (!decision.approve) return withTenant(deps.db, key.tenantId, (trx) => close(trx, 'declined', null));
  try {
    const { hooked } = await withCommitHook((trx) => close(trx, 'executed', null).then(() => undefined), () => execute(request));
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
  return withTenant(deps.db, key.tenantId, (trx) => closeOrRefuse(trx, key, { status: 'cancelled', decidedBy: null, note: null, outcome: null, now }, requester.audit));
}

async function closeOrRefuse(
  trx: Tx,
  key: { tenantId: string; id: string },
  change: Parameters<typeof closeApprovalRequest>[2],
  audit: AuditContext,
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
