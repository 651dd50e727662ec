import { type Kysely, sql } from 'kysely';

/**
 * Issue 13, "a cold check in one SQL round trip": everything `computeAccess` needs about a subject in a tenant, read
 * by one statement instead of a read-only transaction of eight (begin, two context settings, the tenant and its path,
 * its feature overrides, the subject's memberships on the path, the custom roles defined on it, commit).
 *
 * `tenantry_access_input(tenant, user)` runs as its caller (SECURITY INVOKER): it enters the tenant's row-level
 * security context (and the user's, when given) exactly as `readTenant` did, reads under the same policies, and puts
 * both settings back as they were before returning, so it is safe inside a transaction too. A null user is an API
 * key: no memberships and no custom roles are read. Unknown (or invisible) tenant: null.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE FUNCTION tenantry_access_input(p_tenant text, p_user text) RETURNS jsonb
    LANGUAGE plpgsql SECURITY INVOKER AS $$
    DECLARE
      previous_tenant text := current_setting('tenantry.tenant_id', true);
      previous_user text := current_setting('tenantry.user_id', true);
      t record;
      result jsonb;
    BEGIN
      PERFORM set_config('tenantry.tenant_id', p_tenant, true);
      IF p_user IS NOT NULL THEN
        PERFORM set_config('tenantry.user_id', p_user, true);
      END IF;
      SELECT tn.name, tn.status, tt.path INTO t FROM tenants tn JOIN tenant_tree tt ON tt.tenant_id = tn.id WHERE tn.id = p_tenant;
      IF FOUND THEN
        result := jsonb_build_object(
          'name', t.name,
          'status', t.status,
          'path', to_jsonb(t.path),
          'features', coalesce((SELECT jsonb_object_agg(f.feature, f.enabled) FROM tenant_features f WHERE f.tenant_id = p_tenant), '{}'::jsonb),
          'memberships', CASE WHEN p_user IS NULL THEN '[]'::jsonb ELSE coalesce((
            SELECT jsonb_agg(jsonb_build_object('tenantId', m.tenant_id, 'kind', m.kind, 'shadowOf', m.shadow_of, 'role', r.role_key))
            FROM memberships m LEFT JOIN membership_roles r ON r.tenant_id = m.tenant_id AND r.user_id = m.user_id
            WHERE m.user_id = p_user AND m.tenant_id = ANY (t.path)), '[]'::jsonb) END,
          'roles', CASE WHEN p_user IS NULL THEN '[]'::jsonb ELSE coalesce((
            SELECT jsonb_agg(jsonb_build_object('tenant_id', ro.tenant_id, 'key', ro.key, 'name', ro.name, 'description', ro.description, 'scope', ro.scope, 'permissions', to_jsonb(ro.permissions)) ORDER BY ro.key, ro.tenant_id)
            FROM roles ro WHERE ro.tenant_id = ANY (t.path)), '[]'::jsonb) END
        );
      END IF;
      PERFORM set_config('tenantry.tenant_id', coalesce(previous_tenant, ''), true);
      PERFORM set_config('tenantry.user_id', coalesce(previous_user, ''), true);
      RETURN result;
    END $$
  `.execute(db);
  await sql`GRANT EXECUTE ON FUNCTION tenantry_access_input(text, text) TO tenantry_app`.execute(db);
}
