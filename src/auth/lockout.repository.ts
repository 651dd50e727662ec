import type { Db } from '../platform/db/context.ts';

export interface LockoutPolicy {
  /** Failures within `windowMs` that lock the account. */
  maxFailures: number;
  windowMs: number;
  lockMs: number;
}

export const DEFAULT_LOCKOUT: LockoutPolicy = { maxFailures: 5, windowMs: 15 * 60_000, lockMs: 15 * 60_000 };

/** When the account (known or not: the answer must not reveal which) is locked until, if it is. */
export async function findLockedUntil(db: Db, email: string, now: Date): Promise<Date | undefined> {
  const row = await db.selectFrom('login_failures').select('locked_until').where('email', '=', email).executeTakeFirst();
  return row?.locked_until && row.locked_until > now ? row.locked_until : undefined;
}

/**
 * Counts a failed sign-in in one atomic upsert (concurrent failures all count); locks the account once the
 * count within the window reaches the limit. Runs in its own statement, outside the failed request's
 * transaction, so it is kept although the request fails.
 */
export async function recordLoginFailure(db: Db, email: string, now: Date, policy: LockoutPolicy): Promise<void> {
  const windowStart = new Date(now.getTime() - policy.windowMs);
  const lockUntil = new Date(now.getTime() + policy.lockMs);
  await db
    .insertInto('login_failures')
    .values({ email, failures: 1, window_started_at: now, locked_until: policy.maxFailures <= 1 ? lockUntil : null })
    .onConflict((oc) =>
      oc.column('email').doUpdateSet((eb) => {
        const stale = eb('login_failures.window_started_at', '<', windowStart);
        const failures = eb
          .case()
          .when(stale)
          .then(1)
          .else(eb('login_failures.failures', '+', 1))
          .end();
        return {
          failures,
          window_started_at: eb.case().when(stale).then(now).else(eb.ref('login_failures.window_started_at')).end(),
          locked_until: eb
            .case()
            .when(eb(failures, '>=', policy.maxFailures))
            .then(lockUntil)
            .else(eb.ref('login_failures.locked_until'))
            .end(),
        };
      }),
    )
    .execute();
}

export async function clearLoginFailures(db: Db, email: string): Promise<void> {
  await db.deleteFrom('login_failures').where('email', '=', email).execute();
}
