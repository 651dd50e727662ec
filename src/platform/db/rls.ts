import { type Kysely, sql } from 'kysely';

/**
 * Confines a table to the current tenant context (or the system context). FORCE makes the policy bind
 * the table's owner too, so even a misconfigured deployment that queries as the owner stays isolated.
 */
export async function enableTenantIsolation(db: Kysely<unknown>, table: string, column = 'tenant_id'): Promise<void> {
  const t = sql.table(table);
  const c = sql.ref(column);
  await sql`ALTER TABLE ${t} ENABLE ROW LEVEL SECURITY`.execute(db);
  await sql`ALTER TABLE ${t} FORCE ROW LEVEL SECURITY`.execute(db);
  await sql`
    CREATE POLICY tenant_isolation ON ${t}
    USING (${c} = tenantry_tenant() OR tenantry_is_system())
    WITH CHECK (${c} = tenantry_tenant() OR tenantry_is_system())
  `.execute(db);
}
