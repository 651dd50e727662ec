import { type Kysely, sql } from 'kysely';

/**
 * The admin tenancy's staff (SPEC 4, seed 001): the people who get a shadow membership in every tenant
 * created from now on. A staff member is a direct member of the (active) admin tenancy whose primary
 * tenant it is: their default tenant, or else the first tenant they joined directly.
 *
 * Finding them reads users and memberships across tenants, which the application role may not do, so it is
 * one narrow SECURITY DEFINER function that returns exactly that list and nothing else.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE FUNCTION tenantry_operator_staff() RETURNS TABLE (user_id text, roles text[])
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
      SELECT m.user_id, array_agg(r.role_key ORDER BY r.role_key)
      FROM tenants a
      JOIN memberships m ON m.tenant_id = a.id AND m.kind = 'direct'
      JOIN users u ON u.id = m.user_id
      JOIN membership_roles r ON r.tenant_id = m.tenant_id AND r.user_id = m.user_id
      WHERE a.is_admin_tenancy AND a.status = 'active'
        AND a.id = COALESCE(
          (SELECT d.tenant_id FROM memberships d WHERE d.user_id = u.id AND d.tenant_id = u.default_tenant_id),
          (SELECT f.tenant_id FROM memberships f WHERE f.user_id = u.id AND f.kind = 'direct' ORDER BY f.created_at, f.tenant_id LIMIT 1))
      GROUP BY m.user_id
      ORDER BY m.user_id
    $$
  `.execute(db);
  await sql`REVOKE ALL ON FUNCTION tenantry_operator_staff() FROM PUBLIC`.execute(db);
  await sql`GRANT EXECUTE ON FUNCTION tenantry_operator_staff() TO tenantry_app`.execute(db);
}
