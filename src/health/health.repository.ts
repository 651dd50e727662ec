import { sql } from 'kysely';
import type { Db } from '../platform/db/context.ts';

/** Resolves if the database answers a trivial query; rejects otherwise. */
export async function pingDatabase(db: Db): Promise<void> {
  await sql`SELECT 1`.execute(db);
}
