import { findPrincipalUser } from '../accounts/users.repository.ts';
import type { KeyState } from '../api-keys/api-keys.service.ts';
import type { Db } from '../platform/db/context.ts';
import { TaggedCache } from '../platform/tagged-cache.ts';
import type { PrincipalUser } from './principal.ts';
import { findSessionState, type SessionState } from './sessions.repository.ts';

/**
 * What authenticating a request reads — its session, its user, its API key and the key's tenant — held in this
 * process so that a request with a cached credential touches no database (issue 13). Revocation still takes
 * effect on the next request on every node: each entry is tagged with the rows it came from, this process drops
 * it when its own transaction changing them commits (`invalidateAfterCommit`), the others on the NOTIFY the
 * database sends for the same change (migration 0017), and everything goes when the LISTEN connection is lost.
 * Time-based ends (a session's or key's expiry) are checked against the clock on every request, not cached; a
 * session's expiry moves without a notification, so a cached one that has passed is read again before refusing.
 */
export class CredentialCache {
  /** By session id; tagged `session:<id>` and `user:<user id>` (so "sign out everywhere" drops them all). */
  readonly sessions: TaggedCache<SessionState>;
  /** By user id; tagged `user:<id>`. */
  readonly users: TaggedCache<PrincipalUser>;
  /** By key id; tagged `key:<id>` and the key's tenant (its status and features decide whether the key works). */
  readonly keys: TaggedCache<KeyState>;

  constructor(maxEntries = 50_000) {
    this.sessions = new TaggedCache(maxEntries);
    this.users = new TaggedCache(maxEntries);
    this.keys = new TaggedCache(maxEntries);
  }

  /**
   * The session, live or not, from memory or the database. A cached session whose expiry has passed is read again:
   * expiries only move forward, and another node's refresh moves them without telling this one (migration 0019).
   */
  async session(db: Db, id: string, now: Date): Promise<SessionState | undefined> {
    const cached = this.sessions.get(id);
    if (cached !== undefined && cached.expires_at.getTime() <= now.getTime()) this.sessions.delete(id);
    return this.sessions.getOrLoad(
      id,
      () => findSessionState(db, id),
      (s) => [`session:${s.id}`, `user:${s.user_id}`],
    );
  }

  /** The user (without the password hash), from memory or the database. */
  user(db: Db, id: string): Promise<PrincipalUser | undefined> {
    return this.users.getOrLoad(
      id,
      () => findPrincipalUser(db, id),
      (u) => [`user:${u.id}`],
    );
  }

  invalidate(scope: string): void {
    this.sessions.invalidate(scope);
    this.users.invalidate(scope);
    this.keys.invalidate(scope);
  }
}
