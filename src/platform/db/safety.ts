import { type Kysely, sql } from 'kysely';

/**
 * Why the application's own connection would not be confined by row-level security, if it would not.
 * Start-up refuses to serve while this returns anything (ARCHITECTURE.md, "Isolation").
 */
// biome-ignore lint/suspicious/noExplicitAny: reads only the catalogue, so it takes a handle typed for any schema (the app's or the owner's)
export async function findIsolationProblems(db: Kysely<any>): Promise<string[]> {
  const problems: string[] = [];
  const role = await sql<{ name: string; superuser: boolean; bypassrls: boolean }>`
    SELECT current_user AS name, rolsuper AS superuser, rolbypassrls AS bypassrls
    FROM pg_roles WHERE rolname = current_user
  `.execute(db);
  const me = role.rows[0];
  if (me === undefined) return [`the current role is not in pg_roles`];
  if (me.superuser) problems.push(`queries run as "${me.name}", a superuser, which bypasses row-level security`);
  if (me.bypassrls) problems.push(`queries run as "${me.name}", which has BYPASSRLS`);

  const owned = await sql<{ table: string }>`
    SELECT c.relname AS table FROM pg_class c
    WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'
      AND pg_get_userbyid(c.relowner) = current_user AND NOT c.relforcerowsecurity
  `.execute(db);
  for (const { table } of owned.rows) {
    problems.push(`queries run as the owner of "${table}", which has no FORCE ROW LEVEL SECURITY`);
  }

  const unprotected = await sql<{ table: string }>`
    SELECT c.relname AS table FROM pg_class c
    WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p') AND NOT c.relrowsecurity
      AND (c.relname = 'tenants' OR EXISTS (
        SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped))
  `.execute(db);
  for (const { table } of unprotected.rows) {
    problems.push(`the tenant-scoped table "${table}" has row-level security disabled`);
  }
  return problems;
}
