import { type Kysely, sql, type Transaction } from 'kysely';
import type { Database } from '../../src/platform/db/database.ts';

/**
 * PostgreSQL only. Takes a lock with `hold` in a transaction of the schema owner, starts `race`, and lets go
 * once `waiters` sessions of this database wait on a lock (or `race` has settled early, which the caller's
 * assertions will report). Whatever `race` sends has then passed every check made before that lock, so the
 * requests truly overlap there and only what comes after it can tell them apart.
 */
export async function raceBehindLock<T>(database: Database, hold: (trx: Transaction<unknown>) => Promise<void>, waiters: number, race: () => Promise<T>): Promise<T> {
  return database.withOwner(async (owner: Kysely<unknown>) => {
    let settled = false;
    let started: Promise<T> | undefined;
    await owner.transaction().execute(async (trx) => {
      await hold(trx);
      started = race();
      void started.finally(() => (settled = true)).catch(() => {});
      await database.withOwner(async (watcher) => {
        while (!settled) {
          const { rows } = await sql<{ n: number }>`
            SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'
          `.execute(watcher);
          if ((rows[0]?.n ?? 0) >= waiters) return;
        }
      });
    });
    return started as Promise<T>;
  });
}
