import type { Db } from '../db/context.ts';

/**
 * `idempotency_keys` rows. The table is not tenant-scoped (no RLS): the scope string already names the
 * caller, the tenant and the route, and a row holds no tenant data beyond a sealed response copy. All
 * calls run on the root `db` outside any transaction: before the handler (claim) and after its
 * transaction committed (complete / release).
 *
 * A row with `status_code` NULL is a claim: a request with that key is running. `created_at` is the
 * claim's identity: completing or releasing touches the row only while it still carries the claimer's
 * `created_at`, so a request whose claim was taken over cannot overwrite the new owner's row.
 */
export interface StoredKey {
  requestHash: string;
  statusCode: number | null;
  responseHeaders: Record<string, string> | null;
  responseBody: string | null;
  createdAt: Date;
}

export interface KeyRef {
  scope: string;
  key: string;
}

/** Inserts the claim; false when a row for (scope, key) exists already (whatever its state). */
export async function insertClaim(db: Db, ref: KeyRef & { requestHash: string; now: Date }): Promise<boolean> {
  const inserted = await db
    .insertInto('idempotency_keys')
    .values({
      scope: ref.scope,
      key: ref.key,
      request_hash: ref.requestHash,
      status_code: null,
      response_headers: null,
      response_body: null,
      created_at: ref.now,
      completed_at: null,
    })
    .onConflict((oc) => oc.columns(['scope', 'key']).doNothing())
    .returning('key')
    .executeTakeFirst();
  return inserted !== undefined;
}

export async function findKey(db: Db, ref: KeyRef): Promise<StoredKey | undefined> {
  const row = await db
    .selectFrom('idempotency_keys')
    .select(['request_hash', 'status_code', 'response_headers', 'response_body', 'created_at'])
    .where('scope', '=', ref.scope)
    .where('key', '=', ref.key)
    .executeTakeFirst();
  if (row === undefined) return undefined;
  return {
    requestHash: row.request_hash,
    statusCode: row.status_code,
    responseHeaders: row.response_headers as Record<string, string> | null,
    responseBody: row.response_body,
    createdAt: row.created_at,
  };
}

/**
 * Re-claims a row that is expired (created before `expiredBefore`, any state, any request) or an
 * abandoned claim of the same request (still in progress, created before `abandonedBefore`). The
 * conditions are re-checked under the row lock, so of several racing takers exactly one wins.
 */
export async function takeOverClaim(db: Db, ref: KeyRef & { requestHash: string; now: Date; expiredBefore: Date; abandonedBefore: Date }): Promise<boolean> {
  const taken = await db
    .updateTable('idempotency_keys')
    .set({ request_hash: ref.requestHash, status_code: null, response_headers: null, response_body: null, created_at: ref.now, completed_at: null })
    .where('scope', '=', ref.scope)
    .where('key', '=', ref.key)
    .where((eb) =>
      eb.or([
        eb('created_at', '<', ref.expiredBefore),
        eb.and([eb('status_code', 'is', null), eb('request_hash', '=', ref.requestHash), eb('created_at', '<', ref.abandonedBefore)]),
      ]),
    )
    .returning('key')
    .executeTakeFirst();
  return taken !== undefined;
}

/** Stores the response on the caller's own claim; false when the claim is no longer theirs. */
export async function completeClaim(db: Db, ref: KeyRef & { claimedAt: Date; statusCode: number; headers: Record<string, string>; body: string; now: Date }): Promise<boolean> {
  const done = await db
    .updateTable('idempotency_keys')
    .set({ status_code: ref.statusCode, response_headers: JSON.stringify(ref.headers), response_body: ref.body, completed_at: ref.now })
    .where('scope', '=', ref.scope)
    .where('key', '=', ref.key)
    .where('created_at', '=', ref.claimedAt)
    .where('status_code', 'is', null)
    .returning('key')
    .executeTakeFirst();
  return done !== undefined;
}

/** Drops the caller's own claim so that a retry runs the request again. */
export async function releaseClaim(db: Db, ref: KeyRef & { claimedAt: Date }): Promise<void> {
  await db
    .deleteFrom('idempotency_keys')
    .where('scope', '=', ref.scope)
    .where('key', '=', ref.key)
    .where('created_at', '=', ref.claimedAt)
    .where('status_code', 'is', null)
    .execute();
}

/** Deletes every row created before `before`; returns how many. */
export async function deleteExpiredKeys(db: Db, before: Date): Promise<number> {
  const result = await db.deleteFrom('idempotency_keys').where('created_at', '<', before).executeTakeFirst();
  return Number(result.numDeletedRows);
}
