import { type Kysely, sql } from 'kysely';

/**
 * Issue 13: requests no longer read their session, user, API key or tenant list from the database; each node caches
 * them and drops an entry when the rows it came from change. This node learns at commit (`invalidateAfterCommit`,
 * `onCommittedScope`), every other node from the NOTIFYs on `tenantry_invalidate` (the channel the permission cache
 * already listens to), which now also say:
 * - `session:<id>` when a session is revoked, its expiry moves or it is deleted;
 * - `key:<id>` when an API key is revoked, its expiry or permissions change, or it is deleted (a purge);
 * - `user:<id>` when anything about the user changes (the cache holds the whole row but the password hash), and
 *   when their memberships or roles change anywhere (their tenant list);
 * - a tenant's id on any change to what lists and permissions show of it (name, slug, status, plan…), and the parent's id when a tenant
 *   joins, leaves or moves under it (whether it has children, what reaches below it).
 * "Last used" writes to sessions and keys notify nobody.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE OR REPLACE FUNCTION tenantry_notify_invalidate() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
      row jsonb := to_jsonb(CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END);
    BEGIN
      PERFORM pg_notify('tenantry_invalidate', CASE TG_TABLE_NAME
        WHEN 'users' THEN 'user:' || (row ->> 'id')
        WHEN 'sessions' THEN 'session:' || (row ->> 'id')
        WHEN 'api_keys' THEN 'key:' || (row ->> 'id')
        WHEN 'tenants' THEN row ->> 'id'
        ELSE row ->> 'tenant_id' END);
      IF TG_TABLE_NAME IN ('memberships', 'membership_roles') THEN
        PERFORM pg_notify('tenantry_invalidate', 'user:' || (row ->> 'user_id'));
      END IF;
      IF TG_TABLE_NAME = 'tenant_tree' THEN
        IF row ->> 'parent_id' IS NOT NULL THEN PERFORM pg_notify('tenantry_invalidate', row ->> 'parent_id'); END IF;
        IF TG_OP = 'UPDATE' AND OLD.parent_id IS NOT NULL THEN PERFORM pg_notify('tenantry_invalidate', OLD.parent_id); END IF;
      END IF;
      RETURN NULL;
    END $$
  `.execute(db);
  await sql`DROP TRIGGER notify_invalidate ON users`.execute(db);
  await sql`CREATE TRIGGER notify_invalidate AFTER UPDATE OR DELETE ON users FOR EACH ROW EXECUTE FUNCTION tenantry_notify_invalidate()`.execute(db);
  // Not on the busy columns (last_active_at is written by every switch) nor on what no cache holds (data, updated_at).
  await sql`DROP TRIGGER notify_invalidate ON tenants`.execute(db);
  await sql`
    CREATE TRIGGER notify_invalidate
    AFTER UPDATE OF slug, name, status, plan, is_admin_tenancy, platform_owned, deletion_requested_at, purge_after, status_before_deletion, suspended_at, suspension_reason
    OR DELETE ON tenants FOR EACH ROW EXECUTE FUNCTION tenantry_notify_invalidate()
  `.execute(db);
  await sql`
    CREATE TRIGGER notify_invalidate AFTER UPDATE OF revoked_at, expires_at, user_id OR DELETE ON sessions
    FOR EACH ROW EXECUTE FUNCTION tenantry_notify_invalidate()
  `.execute(db);
  await sql`
    CREATE TRIGGER notify_invalidate AFTER UPDATE OF revoked_at, expires_at, permissions, secret_hash, tenant_id OR DELETE ON api_keys
    FOR EACH ROW EXECUTE FUNCTION tenantry_notify_invalidate()
  `.execute(db);
}
