import type { Selectable } from 'kysely';
import type { Db, Tx } from '../platform/db/context.ts';
import type { OneTimeTokenPurpose, OneTimeTokensTable } from '../platform/db/schema.ts';

export type OneTimeTokenRow = Selectable<OneTimeTokensTable>;

export interface NewOneTimeToken {
  hash: string;
  purpose: OneTimeTokenPurpose;
  userId: string | null;
  email: string | null;
  data?: Record<string, unknown>;
  expiresAt: Date;
  now: Date;
}

/** Stores a token's hash, first voiding the user's unused tokens of the same purpose (only the newest link works). */
export async function replaceOneTimeToken(trx: Tx, token: NewOneTimeToken): Promise<void> {
  if (token.userId !== null) {
    await trx
      .updateTable('one_time_tokens')
      .set({ used_at: token.now })
      .where('user_id', '=', token.userId)
      .where('purpose', '=', token.purpose)
      .where('used_at', 'is', null)
      .execute();
  }
  await trx
    .insertInto('one_time_tokens')
    .values({
      token_hash: token.hash,
      purpose: token.purpose,
      user_id: token.userId,
      email: token.email,
      data: JSON.stringify(token.data ?? {}),
      created_at: token.now,
      expires_at: token.expiresAt,
    })
    .execute();
}

/**
 * Marks an unused, unexpired token of `purpose` used and returns it; undefined if there is none.
 * One conditional UPDATE, so two concurrent redemptions cannot both succeed.
 */
export function redeemOneTimeToken(trx: Tx, hash: string, purpose: OneTimeTokenPurpose, now: Date): Promise<OneTimeTokenRow | undefined> {
  return trx
    .updateTable('one_time_tokens')
    .set({ used_at: now })
    .where('token_hash', '=', hash)
    .where('purpose', '=', purpose)
    .where('used_at', 'is', null)
    .where('expires_at', '>', now)
    .returningAll()
    .executeTakeFirst();
}

/** Voids every unused token of `purpose` (a new setup link replaces all earlier ones). */
export async function voidOneTimeTokens(trx: Tx, purpose: OneTimeTokenPurpose, now: Date): Promise<void> {
  await trx.updateTable('one_time_tokens').set({ used_at: now }).where('purpose', '=', purpose).where('used_at', 'is', null).execute();
}

/** The address a token of `purpose` was issued for, used or not (to judge a new password against it). */
export async function findOneTimeTokenEmail(db: Db | Tx, hash: string, purpose: OneTimeTokenPurpose): Promise<string | null | undefined> {
  return (await db.selectFrom('one_time_tokens').select('email').where('token_hash', '=', hash).where('purpose', '=', purpose).executeTakeFirst())?.email;
}
