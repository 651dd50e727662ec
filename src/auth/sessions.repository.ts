import type { Selectable } from 'kysely';
import { type Db, invalidateAfterCommit, type Tx } from '../platform/db/context.ts';
import type { SessionsTable } from '../platform/db/schema.ts';

export type SessionRow = Selectable<SessionsTable>;

export interface NewSession {
  id: string;
  userId: string;
  activeTenantId: string | null;
  expiresAt: Date;
  ip: string | null;
  userAgent: string | null;
  now: Date;
}

export async function insertSession(trx: Tx, s: NewSession): Promise<void> {
  await trx
    .insertInto('sessions')
    .values({
      id: s.id,
      user_id: s.userId,
      active_tenant_id: s.activeTenantId,
      created_at: s.now,
      last_used_at: s.now,
      expires_at: s.expiresAt,
      ip: s.ip,
      user_agent: s.userAgent === null ? null : s.userAgent.slice(0, 512),
    })
    .execute();
}

export async function insertRefreshToken(trx: Tx, t: { hash: string; sessionId: string; expiresAt: Date; now: Date }): Promise<void> {
  await trx
    .insertInto('refresh_tokens')
    .values({ token_hash: t.hash, session_id: t.sessionId, created_at: t.now, expires_at: t.expiresAt })
    .execute();
}

export type RefreshClaim =
  | { outcome: 'claimed'; session: SessionRow }
  | { outcome: 'reused'; sessionId: string }
  | { outcome: 'invalid' };

/**
 * Uses a refresh token once. A conditional UPDATE marks it used, so of two concurrent presentations only
 * one can win; presenting an already-used token is reuse (it was stolen, or the client is confused) and
 * the caller revokes the whole session.
 */
export async function claimRefreshToken(trx: Tx, hash: string, now: Date): Promise<RefreshClaim> {
  const claimed = await trx
    .updateTable('refresh_tokens')
    .set({ used_at: now })
    .where('token_hash', '=', hash)
    .where('used_at', 'is', null)
    .where('expires_at', '>', now)
    .returning('session_id')
    .executeTakeFirst();
  if (claimed === undefined) {
    const known = await trx.selectFrom('refresh_tokens').select(['session_id', 'used_at']).where('token_hash', '=', hash).executeTakeFirst();
    return known?.used_at ? { outcome: 'reused', sessionId: known.session_id } : { outcome: 'invalid' };
  }
  const session = await findLiveSession(trx, claimed.session_id, now);
  return session === undefined ? { outcome: 'invalid' } : { outcome: 'claimed', session };
}

/** What authenticating a request needs of a session, live or not (the credential cache holds this). */
export type SessionState = Pick<SessionRow, 'id' | 'user_id' | 'expires_at' | 'revoked_at'>;

export function findSessionState(db: Db, id: string): Promise<SessionState | undefined> {
  return db.selectFrom('sessions').select(['id', 'user_id', 'expires_at', 'revoked_at']).where('id', '=', id).executeTakeFirst();
}

/** The session if it is neither revoked nor expired. */
export function findLiveSession(db: Db | Tx, id: string, now: Date): Promise<SessionRow | undefined> {
  return db
    .selectFrom('sessions')
    .selectAll()
    .where('id', '=', id)
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', now)
    .executeTakeFirst();
}

export async function touchSession(trx: Tx, id: string, changes: { activeTenantId?: string | null; expiresAt?: Date }, now: Date): Promise<void> {
  invalidateAfterCommit(trx, `session:${id}`);
  await trx
    .updateTable('sessions')
    .set({
      last_used_at: now,
      ...(changes.activeTenantId === undefined ? {} : { active_tenant_id: changes.activeTenantId }),
      ...(changes.expiresAt === undefined ? {} : { expires_at: changes.expiresAt }),
    })
    .where('id', '=', id)
    .execute();
}

/**
 * Points the session at another tenant with a new refresh token, in one statement: the session's unused refresh tokens
 * expire (not marked used, so a client that lost the response is told "invalid" rather than tripping reuse detection),
 * the new one is stored, and the session is touched. The expiring update cannot see the row the same statement inserts.
 */
export async function reissueForTenant(trx: Tx, s: { sessionId: string; tenantId: string; refreshTokenHash: string; expiresAt: Date; now: Date }): Promise<void> {
  invalidateAfterCommit(trx, `session:${s.sessionId}`);
  await trx
    .with('expired', (db) =>
      db.updateTable('refresh_tokens').set({ expires_at: s.now }).where('session_id', '=', s.sessionId).where('used_at', 'is', null).where('expires_at', '>', s.now).returning('token_hash'),
    )
    .with('issued', (db) => db.insertInto('refresh_tokens').values({ token_hash: s.refreshTokenHash, session_id: s.sessionId, created_at: s.now, expires_at: s.expiresAt }).returning('token_hash'))
    .updateTable('sessions')
    .set({ last_used_at: s.now, active_tenant_id: s.tenantId, expires_at: s.expiresAt })
    .where('id', '=', s.sessionId)
    .execute();
}

/** Returns whether a live session was revoked. */
export async function revokeSession(trx: Tx, id: string, reason: string, now: Date): Promise<boolean> {
  invalidateAfterCommit(trx, `session:${id}`);
  const result = await trx
    .updateTable('sessions')
    .set({ revoked_at: now, revoked_reason: reason })
    .where('id', '=', id)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/** Returns how many live sessions were revoked. */
export async function revokeSessionsOfUser(trx: Tx, userId: string, reason: string, now: Date): Promise<number> {
  // Cached sessions are tagged with their user as well.
  invalidateAfterCommit(trx, `user:${userId}`);
  const result = await trx
    .updateTable('sessions')
    .set({ revoked_at: now, revoked_reason: reason })
    .where('user_id', '=', userId)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}
