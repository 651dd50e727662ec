import { sql, type Transaction } from 'kysely';
import type { Database } from '../../src/platform/db/database.ts';

/** Every public table with a `tenant_id` column, from the catalogue. */
export function tenantScopedTables(database: Database): Promise<string[]> {
  return database.withOwner(async (owner) =>
    (
      await sql<{ table: string }>`
        SELECT c.table_name AS table FROM information_schema.columns c
        JOIN information_schema.tables USING (table_schema, table_name)
        WHERE c.table_schema = 'public' AND c.column_name = 'tenant_id' AND table_type = 'BASE TABLE'
        ORDER BY 1
      `.execute(owner)
    ).rows.map((r) => r.table),
  );
}

/**
 * Runs `fn` in a transaction of the schema owner's in the system context: row-level security filters nothing, should
 * the owner not be a superuser. What the suite's snapshots and invariant checks read through.
 */
export function asOwner<T>(database: Database, fn: (trx: Transaction<unknown>) => Promise<T>): Promise<T> {
  return database.withOwner((owner) =>
    owner.transaction().execute(async (trx) => {
      await sql`SELECT set_config('tenantry.system', 'on', true)`.execute(trx);
      return fn(trx);
    }),
  );
}

/** A row of the table aliased `x` as JSON, without the `ignore` columns. */
function rowJson(ignore: readonly string[] = []) {
  return ignore.reduce((json, column) => sql`${json} - ${column}::text`, sql`to_jsonb(x)`);
}

/**
 * The rows of `tables` as text, each as JSON and sorted, read as the schema owner in the system context (row-level
 * security filters nothing, should the owner not be a superuser): only `tenantIds`' rows where given (the `tenants`
 * table by `id`, others by `tenant_id`), every row otherwise; without the `ignore` columns (usage stamps such as
 * `last_used_at`, which an authenticated but refused request may move). Two equal snapshots mean nothing changed.
 */
export function snapshotRows(database: Database, tables: readonly string[], tenantIds?: readonly string[], options: { ignore?: readonly string[] } = {}): Promise<string> {
  const row = rowJson(options.ignore);
  return asOwner(database, async (trx) => {
    const parts: string[] = [];
    for (const table of tables) {
      const column = table === 'tenants' ? 'id' : 'tenant_id';
      const only = tenantIds === undefined ? sql`true` : sql`${sql.ref(column)} = ANY(${[...tenantIds]})`;
      const rows = await sql<{ row: string }>`SELECT (${row})::text AS row FROM ${sql.table(table)} x WHERE ${only} ORDER BY 1`.execute(trx);
      parts.push(`${table}: ${rows.rows.map((r) => r.row).join('\n')}`);
    }
    return parts.join('\n');
  });
}

/**
 * One hash over every row of `tables` (as `snapshotRows` reads them, without the `ignore` columns), in one statement:
 * cheap enough to take around every request of a fuzzing run. Equal fingerprints mean nothing changed.
 */
export function fingerprintRows(database: Database, tables: readonly string[], options: { ignore?: readonly string[] } = {}): Promise<string> {
  const row = rowJson(options.ignore);
  return asOwner(database, async (trx) => {
    const parts = tables.map((table) => sql`(SELECT coalesce(md5(string_agg((${row})::text, ',' ORDER BY (${row})::text)), '') FROM ${sql.table(table)} x)`);
    const result = await sql<{ hash: string }>`SELECT md5(concat_ws('|', ${sql.join(parts)})) AS hash`.execute(trx);
    return result.rows[0]?.hash ?? '';
  });
}
