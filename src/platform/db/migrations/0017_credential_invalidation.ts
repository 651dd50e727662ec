import { type Kysely, sql } from 'kysely';

/**
 * Issue 13: requests no longer read their session, user and API key from the database; each node caches them and
 * drops an entry when the row changes. This node learns at commit (`invalidateAfterCommit`), every other node from
 * these NOTIFYs on `tenantry_invalidate` (the channel the permission cache already listens to):
 * - `session:<id>` when a session is revoked, its expiry moves or it is deleted;
 * - `key:<id>` when an API key is revoked, its expiry or permissions change, or it is deleted (a purge);
 * - `user:<id>` when what a request's principal carries (email, verification, platform role) changes, or the user goes.
 * Only the columns the caches hold fire: "last used" writes notify nobody.
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
      RETURN NULL;
    END $$
  `.execute(db);
  await sql`DROP TRIGGER notify_invalidate ON users`.execute(db);
  await sql`
    CREATE TRIGGER notify_invalidate AFTER UPDATE OF platform_role, email, email_verified_at OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION tenantry_notify_invalidate()
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
