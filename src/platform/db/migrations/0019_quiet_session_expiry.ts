import { type Kysely, sql } from 'kysely';

/**
 * Issue 13, refresh and switch throughput: a transaction that NOTIFYs takes PostgreSQL's one notification-queue lock
 * from before its commit record until it is flushed, so notifying transactions commit one at a time (one WAL flush
 * each). Every refresh and switch moved the session's idle expiry, and notified for it: ~270 refreshes a second
 * whatever the concurrency.
 *
 * An expiry only ever moves forward (refresh and switch extend it; ending a session sets `revoked_at`), so other
 * nodes need not hear of it: a cached session whose expiry has passed is read again before it is refused
 * (`CredentialCache.session`). Sessions now notify when revoked, re-owned or deleted.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TRIGGER notify_invalidate ON sessions`.execute(db);
  await sql`
    CREATE TRIGGER notify_invalidate AFTER UPDATE OF revoked_at, user_id OR DELETE ON sessions
    FOR EACH ROW EXECUTE FUNCTION tenantry_notify_invalidate()
  `.execute(db);
}
