import { type Kysely, sql } from 'kysely';
import { enableTenantIsolation } from '../rls.ts';

/**
 * The ground every tenant-scoped table stands on:
 * - `tenantry_app`, the non-superuser, non-owner role the application's queries run as (RLS applies to it);
 * - `tenantry_tenant()` / `tenantry_is_system()`, the transaction-local context set by `withTenant` and
 *   `withSystem` (src/platform/db/context.ts), which every row-level-security policy reads;
 * - `tenants`, the isolation boundary itself, visible only inside its own context.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    DO $$ BEGIN
      CREATE ROLE tenantry_app NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
    END $$
  `.execute(db);
  await sql`GRANT USAGE ON SCHEMA public TO tenantry_app`.execute(db);
  await sql`
    CREATE FUNCTION tenantry_tenant() RETURNS text LANGUAGE sql STABLE
    AS $$ SELECT nullif(current_setting('tenantry.tenant_id', true), '') $$
  `.execute(db);
  await sql`
    CREATE FUNCTION tenantry_is_system() RETURNS boolean LANGUAGE sql STABLE
    AS $$ SELECT coalesce(current_setting('tenantry.system', true), '') = 'on' $$
  `.execute(db);

  await sql`
    CREATE TABLE tenants (
      id text PRIMARY KEY CHECK (id ~ '^t[a-z2-7]{15}$'),
      slug text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$' AND length(slug) >= 2),
      name text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
      status text NOT NULL DEFAULT 'active'
        CHECK (status IN ('active', 'suspended', 'pending_deletion', 'deleted')),
      plan text,
      data jsonb NOT NULL DEFAULT '{}'::jsonb
        CHECK (jsonb_typeof(data) = 'object' AND octet_length(data::text) <= 65536),
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      last_active_at timestamptz
    )
  `.execute(db);
  await enableTenantIsolation(db, 'tenants', 'id');
  await sql`GRANT SELECT, INSERT, UPDATE, DELETE ON tenants TO tenantry_app`.execute(db);
}
