import { type Db, readTenant } from '../platform/db/context.ts';
import type { ActorType } from '../platform/db/schema.ts';
import { AppError, HttpErrors } from '../platform/http/errors.ts';
import { type AuditEventRow, type AuditFilter, findAuditHead, GENESIS_HASH, hashStoredEvent, listAuditEvents, readChain } from './audit.repository.ts';

export interface AuditEventView {
  id: string;
  seq: number;
  occurredAt: string;
  actor: { type: ActorType; id: string | null; via: string };
  action: string;
  target: { type: string | null; id: string | null };
  before: unknown;
  after: unknown;
  requestId: string | null;
  ip: string | null;
  prevHash: string;
  hash: string;
}

/**
 * SPEC 4, audit: a tenant's trail, newest first, filtered, in pages. The cursor is opaque to clients (it
 * names the last sequence number seen), so pages stay stable while new events are appended.
 */
export async function listAudit(
  db: Db,
  tenantId: string,
  filter: Omit<AuditFilter, 'beforeSeq'>,
  page: { limit: number; cursor?: string },
): Promise<{ events: AuditEventView[]; nextCursor: string | null }> {
  const beforeSeq = page.cursor === undefined ? undefined : decodeCursor(page.cursor);
  const rows = await readTenant(db, tenantId, (trx) => listAuditEvents(trx, tenantId, { ...filter, ...(beforeSeq === undefined ? {} : { beforeSeq }) }, page.limit + 1));
  const events = rows.slice(0, page.limit);
  const last = events.at(-1);
  return { events: events.map(present), nextCursor: rows.length > page.limit && last !== undefined ? encodeCursor(BigInt(last.seq)) : null };
}

export interface ChainVerification {
  valid: boolean;
  /** How many events were checked. */
  checked: number;
  head: { seq: number; hash: string } | null;
  /** The first place the chain does not hold, and why. */
  brokenAt: { seq: number; reason: string } | null;
}

const VERIFY_BATCH = 1000;

/**
 * Recomputes the tenant's hash chain from its first event to its head: every event's hash must match its
 * content, link to the one before, and the sequence must have no gaps; the last event must be the head.
 * So an edited, removed or reordered event (by anyone with direct database access) is found.
 */
export function verifyChain(db: Db, tenantId: string): Promise<ChainVerification> {
  return readTenant(db, tenantId, async (trx) => {
    const head = await findAuditHead(trx, tenantId);
    const headView = head === undefined ? null : { seq: Number(head.seq), hash: head.hash };
    let expectedSeq = 1n;
    let previousHash = GENESIS_HASH;
    let checked = 0;
    const broken = (seq: bigint, reason: string): ChainVerification => ({ valid: false, checked, head: headView, brokenAt: { seq: Number(seq), reason } });
    for (;;) {
      const rows: AuditEventRow[] = await readChain(trx, tenantId, expectedSeq - 1n, VERIFY_BATCH);
      for (const row of rows) {
        const seq = BigInt(row.seq);
        if (head !== undefined && seq > head.seq) return { valid: true, checked, head: headView, brokenAt: null };
        if (seq !== expectedSeq) return broken(expectedSeq, `event ${expectedSeq} is missing`);
        if (row.prev_hash !== previousHash) return broken(seq, 'the event does not link to the one before it');
        if (hashStoredEvent(row) !== row.hash) return broken(seq, 'the event was changed after it was written');
        previousHash = row.hash;
        expectedSeq += 1n;
        checked += 1;
      }
      if (rows.length < VERIFY_BATCH) break;
    }
    const lastSeq = expectedSeq - 1n;
    if (head === undefined) return checked === 0 ? { valid: true, checked, head: null, brokenAt: null } : broken(lastSeq, 'the chain has events but no head');
    if (lastSeq !== head.seq) return broken(lastSeq + 1n, `the chain ends at ${lastSeq} but its head says ${head.seq}: events were removed`);
    if (previousHash !== head.hash) return broken(lastSeq, 'the last event is not the one the head records');
    return { valid: true, checked, head: headView, brokenAt: null };
  });
}

function present(row: AuditEventRow): AuditEventView {
  return {
    id: row.id,
    seq: Number(row.seq),
    occurredAt: row.occurred_at.toISOString(),
    actor: { type: row.actor_type, id: row.actor_id, via: row.via },
    action: row.action,
    target: { type: row.target_type, id: row.target_id },
    before: row.before,
    after: row.after,
    requestId: row.request_id,
    ip: row.ip,
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}

function encodeCursor(seq: bigint): string {
  return Buffer.from(`seq:${seq}`).toString('base64url');
}

function decodeCursor(cursor: string): bigint {
  const match = /^seq:(\d{1,19})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (match?.[1] === undefined) throw new AppError(HttpErrors.INVALID_CURSOR);
  return BigInt(match[1]);
}
