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
  await trx.insertInto('refresh_tokens').values({ token_hash: t.hash, session_id: t.sessionId, created_at: t.now, expires_at: t.expiresAt }).execute();
}

export interface RotatedSession {
  id: string;
  user_id: string;
  active_tenant_id: string | null;
  platform_role: string | null;
}

/**
 * Spends a refresh token and issues its successor in one statement, atomic without a transaction: the presented token
 * of a live session is marked used (a conditional UPDATE, so of two concurrent presentations only one can win), the
 * session gets a new idle expiry, and the new token joins its family. Nothing for a cache to drop: the expiry only
 * moves forward (see `CredentialCache.session`). Nothing comes back when the token was not spent here;
 * `refreshTokenFate` says why.
 */
export function rotateRefreshToken(db: Db | Tx, t: { hash: string; nextHash: string; expiresAt: Date; now: Date }): Promise<RotatedSession | undefined> {
  return db
    .with('claimed', (q) =>
      q
        .updateTable('refresh_tokens')
        .set({ used_at: t.now })
        .from('sessions')
        .whereRef('sessions.id', '=', 'refresh_tokens.session_id')
        .where('refresh_tokens.token_hash', '=', t.hash)
        .where('refresh_tokens.used_at', 'is', null)
        .where('refresh_tokens.expires_at', '>', t.now)
        .where('sessions.revoked_at', 'is', null)
        .where('sessions.expires_at', '>', t.now)
        .returning('refresh_tokens.session_id'),
    )
    .with('live', (q) =>
      q
        .updateTable('sessions')
        .set({ last_used_at: t.now, expires_at: t.expiresAt })
        .from('claimed')
        .whereRef('sessions.id', '=', 'claimed.session_id')
        .returning(['sessions.id', 'sessions.user_id', 'sessions.active_tenant_id']),
    )
    .with('issued', (q) =>
      q
        .insertInto('refresh_tokens')
        .columns(['token_hash', 'session_id', 'created_at', 'expires_at'])
        .expression((eb) => eb.selectFrom('live').select([eb.val(t.nextHash).as('token_hash'), 'live.id', eb.val(t.now).as('created_at'), eb.val(t.expiresAt).as('expires_at')]))
        .returning('session_id'),
    )
    .selectFrom('live')
    .innerJoin('users', 'users.id', 'live.user_id')
    .select(['live.id', 'live.user_id', 'live.active_tenant_id', 'users.platform_role'])
    .executeTakeFirst();
}

/** Why a refresh token was not spent: it was spent before (reuse: the caller revokes the family), or never was live. */
export async function refreshTokenFate(trx: Tx, hash: string): Promise<{ outcome: 'reused'; sessionId: string; userId: string } | { outcome: 'invalid' }> {
  const known = await trx
    .selectFrom('refresh_tokens')
    .innerJoin('sessions', 'sessions.id', 'refresh_tokens.session_id')
    .select(['refresh_tokens.session_id', 'refresh_tokens.used_at', 'sessions.user_id'])
    .where('refresh_tokens.token_hash', '=', hash)
    .executeTakeFirst();
  return known?.used_at ? { outcome: 'reused', sessionId: known.session_id, userId: known.user_id } : { outcome: 'invalid' };
}

/** What authenticating a request needs of a session, live or not (the credential cache holds this). */
export type SessionState = Pick<SessionRow, 'id' | 'user_id' | 'expires_at' | 'revoked_at'>;

export function findSessionState(db: Db, id: string): Promise<SessionState | undefined> {
  return db.selectFrom('sessions').select(['id', 'user_id', 'expires_at', 'revoked_at']).where('id', '=', id).executeTakeFirst();
}

/** The session if it is neither revoked nor expired. */
export function findLiveSession(db: Db | Tx, id: string, now: Date): Promise<SessionRow | undefined> {
  return db.selectFrom('sessions').selectAll().where('id', '=', id).where('revoked_at', 'is', null).where('expires_at', '>', now).executeTakeFirst();
}

/**
 * Points the session at another tenant with a new refresh token, in one statement (atomic without a transaction): the
 * session's unused refresh tokens are deleted (not marked used, so a client that lost the response is told "invalid"
 * rather than tripping reuse detection; and not kept, so a session switched many times does not pile them up), the
 * new one is stored, and the session is touched. The delete cannot see the row the same statement inserts. No cache
 * holds what changes here (the active tenant; the expiry only moves forward, see `CredentialCache.session`), so
 * nothing is invalidated.
 */
export async function reissueForTenant(db: Db | Tx, s: { sessionId: string; tenantId: string; refreshTokenHash: string; expiresAt: Date; now: Date }): Promise<void> {
  await db
    .with('replaced', (q) => q.deleteFrom('refresh_tokens').where('session_id', '=', s.sessionId).where('used_at', 'is', null).returning('token_hash'))
    .with('issued', (q) =>
      q.insertInto('refresh_tokens').values({ token_hash: s.refreshTokenHash, session_id: s.sessionId, created_at: s.now, expires_at: s.expiresAt }).returning('token_hash'),
    )
    .updateTable('sessions')
    .set({ last_used_at: s.now, active_tenant_id: s.tenantId, expires_at: s.expiresAt })
    .where('id', '=', s.sessionId)
    .execute();
}

/** Returns whether a live session was revoked. */
export async function revokeSession(trx: Tx, id: string, reason: string, now: Date): Promise<boolean> {
  invalidateAfterCommit(trx, `session:${id}`);
  const result = await trx.updateTable('sessions').set({ revoked_at: now, revoked_reason: reason }).where('id', '=', id).where('revoked_at', 'is', null).executeTakeFirst();
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
