import { type Kysely, sql } from 'kysely';

/**
 * Tenant deletion (SPEC 4, lifecycle): `pending_deletion` with a grace period, then `deleted`.
 * - `purge_after`: when a pending deletion becomes due (null when not pending); `deletion_requested_at`
 *   tells the tenants deleted together apart (a subtree is requested in one go and restored in one go).
 * - `tenantry_purge_tenant(t)` removes every row scoped to the tenant and reports counts per table: the
 *   audit trail included, which the application role can never delete (it may only append), hence one
 *   narrow SECURITY DEFINER function that refuses any tenant not already pending deletion. People whose
 *   default tenant it was are re-pointed to their oldest remaining tenant; people left with no membership
 *   at all (platform operators excepted) are deleted. The tenant's row stays as a tombstone (`deleted`,
 *   name and data cleared, slug freed) so ids in other tenants' trails still resolve to "deleted".
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE tenants ADD COLUMN deletion_requested_at timestamptz, ADD COLUMN purge_after timestamptz`.execute(db);
  await sql`CREATE INDEX tenants_purge_due ON tenants (purge_after) WHERE status = 'pending_deletion'`.execute(db);
  await sql`
    CREATE FUNCTION tenantry_purge_tenant(t text) RETURNS TABLE (item text, removed bigint)
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
    DECLARE
      members text[];
      n bigint;
    BEGIN
      PERFORM 1 FROM tenants WHERE id = t AND status = 'pending_deletion' FOR UPDATE;
      IF NOT FOUND THEN
        RAISE EXCEPTION 'tenant % is not pending deletion', t USING ERRCODE = 'check_violation';
      END IF;
      -- Owner checks at commit see a deleted tenant and pass; everything below happens in this transaction.
      UPDATE tenants SET status = 'deleted', name = '(deleted)', slug = 'deleted-' || id, data = '{}'::jsonb, purge_after = NULL WHERE id = t;
      SELECT coalesce(array_agg(user_id), '{}') INTO members FROM memberships WHERE tenant_id = t;

      DELETE FROM api_keys WHERE tenant_id = t; GET DIAGNOSTICS n = ROW_COUNT; item := 'api_keys'; removed := n; RETURN NEXT;
      DELETE FROM invitations WHERE tenant_id = t; GET DIAGNOSTICS n = ROW_COUNT; item := 'invitations'; removed := n; RETURN NEXT;
      DELETE FROM tenant_features WHERE tenant_id = t; GET DIAGNOSTICS n = ROW_COUNT; item := 'tenant_features'; removed := n; RETURN NEXT;
      DELETE FROM membership_roles WHERE tenant_id = t; GET DIAGNOSTICS n = ROW_COUNT; item := 'membership_roles'; removed := n; RETURN NEXT;
      DELETE FROM memberships WHERE tenant_id = t; GET DIAGNOSTICS n = ROW_COUNT; item := 'memberships'; removed := n; RETURN NEXT;
      DELETE FROM roles WHERE tenant_id = t; GET DIAGNOSTICS n = ROW_COUNT; item := 'roles'; removed := n; RETURN NEXT;
      DELETE FROM audit_events WHERE tenant_id = t; GET DIAGNOSTICS n = ROW_COUNT; item := 'audit_events'; removed := n; RETURN NEXT;
      DELETE FROM audit_heads WHERE tenant_id = t;

      UPDATE users u SET default_tenant_id = (
        SELECT m.tenant_id FROM memberships m WHERE m.user_id = u.id AND m.kind = 'direct' ORDER BY m.created_at, m.tenant_id LIMIT 1
      ) WHERE u.default_tenant_id = t;
      GET DIAGNOSTICS n = ROW_COUNT; item := 'users_repointed'; removed := n; RETURN NEXT;
      DELETE FROM users u WHERE u.id = ANY (members) AND u.platform_role IS NULL
        AND NOT EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = u.id);
      GET DIAGNOSTICS n = ROW_COUNT; item := 'users_deleted'; removed := n; RETURN NEXT;
    END $$
  `.execute(db);
  await sql`REVOKE ALL ON FUNCTION tenantry_purge_tenant(text) FROM PUBLIC`.execute(db);
  await sql`GRANT EXECUTE ON FUNCTION tenantry_purge_tenant(text) TO tenantry_app`.execute(db);
}
