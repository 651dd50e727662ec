import { type Kysely, sql } from 'kysely';
import { enableTenantIsolation } from '../rls.ts';

/**
 * Accounts and sessions: users (global, one per normalised email), memberships (tenant-scoped, with a
 * join table for roles), sessions with rotating refresh tokens, one-time tokens, signing keys, the mail
 * outbox, sign-in failure tracking, and the hash-chained audit trail.
 *
 * A third context joins the tenant and system ones: `tenantry_user()`, set by `withUser`, lets a person
 * read their own memberships (and the tenants they are in) across tenants — what sign-in, `GET /auth/me`
 * and the tenant switcher need — without seeing anybody else's.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE FUNCTION tenantry_user() RETURNS text LANGUAGE sql STABLE
    AS $$ SELECT nullif(current_setting('tenantry.user_id', true), '') $$
  `.execute(db);

  await sql`ALTER TABLE tenants ADD COLUMN is_admin_tenancy boolean NOT NULL DEFAULT false`.execute(db);
  await sql`CREATE UNIQUE INDEX tenants_single_admin_tenancy ON tenants (is_admin_tenancy) WHERE is_admin_tenancy`.execute(db);

  await sql`
    CREATE TABLE users (
      id text PRIMARY KEY,
      email text NOT NULL CHECK (email = lower(email) AND length(email) <= 254),
      name text CHECK (name IS NULL OR length(name) <= 200),
      password_hash text,
      email_verified_at timestamptz,
      data jsonb NOT NULL DEFAULT '{}'::jsonb
        CHECK (jsonb_typeof(data) = 'object' AND octet_length(data::text) <= 65536),
      default_tenant_id text REFERENCES tenants (id) ON DELETE SET NULL,
      platform_role text CHECK (platform_role IN ('super_admin')),
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    )
  `.execute(db);
  // One account per email, enforced here so concurrent sign-ups cannot both win.
  await sql`CREATE UNIQUE INDEX users_email_key ON users (email)`.execute(db);
  await sql`GRANT SELECT, INSERT, UPDATE, DELETE ON users TO tenantry_app`.execute(db);

  await sql`
    CREATE TABLE memberships (
      tenant_id text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
      user_id text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      kind text NOT NULL DEFAULT 'direct' CHECK (kind IN ('direct', 'shadow')),
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (tenant_id, user_id)
    )
  `.execute(db);
  await sql`CREATE INDEX memberships_by_user ON memberships (user_id)`.execute(db);
  await sql`
    CREATE TABLE membership_roles (
      tenant_id text NOT NULL,
      user_id text NOT NULL,
      role_key text NOT NULL CHECK (role_key ~ '^[a-z][a-z0-9_]{0,62}$'),
      PRIMARY KEY (tenant_id, user_id, role_key),
      FOREIGN KEY (tenant_id, user_id) REFERENCES memberships (tenant_id, user_id) ON DELETE CASCADE
    )
  `.execute(db);
  await sql`CREATE INDEX membership_roles_by_user ON membership_roles (user_id)`.execute(db);
  for (const table of ['memberships', 'membership_roles']) {
    await enableTenantIsolation(db, table);
    await sql`CREATE POLICY own_rows ON ${sql.table(table)} FOR SELECT USING (user_id = tenantry_user())`.execute(db);
    await sql`GRANT SELECT, INSERT, UPDATE, DELETE ON ${sql.table(table)} TO tenantry_app`.execute(db);
  }
  await sql`
    CREATE POLICY member_of ON tenants FOR SELECT USING (
      EXISTS (SELECT 1 FROM memberships m WHERE m.tenant_id = tenants.id AND m.user_id = tenantry_user())
    )
  `.execute(db);

  await sql`
    CREATE TABLE sessions (
      id text PRIMARY KEY,
      user_id text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      active_tenant_id text,
      created_at timestamptz NOT NULL DEFAULT now(),
      last_used_at timestamptz NOT NULL DEFAULT now(),
      expires_at timestamptz NOT NULL,
      revoked_at timestamptz,
      revoked_reason text,
      ip text,
      user_agent text
    )
  `.execute(db);
  await sql`CREATE INDEX sessions_by_user ON sessions (user_id) WHERE revoked_at IS NULL`.execute(db);
  // A session is one refresh-token family: presenting a used token revokes the session.
  await sql`
    CREATE TABLE refresh_tokens (
      token_hash text PRIMARY KEY,
      session_id text NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
      created_at timestamptz NOT NULL DEFAULT now(),
      expires_at timestamptz NOT NULL,
      used_at timestamptz
    )
  `.execute(db);
  await sql`CREATE INDEX refresh_tokens_by_session ON refresh_tokens (session_id)`.execute(db);

  await sql`
    CREATE TABLE one_time_tokens (
      token_hash text PRIMARY KEY,
      purpose text NOT NULL CHECK (purpose IN ('verify_email', 'reset_password', 'operator_setup')),
      user_id text REFERENCES users (id) ON DELETE CASCADE,
      email text,
      data jsonb NOT NULL DEFAULT '{}'::jsonb,
      created_at timestamptz NOT NULL DEFAULT now(),
      expires_at timestamptz NOT NULL,
      used_at timestamptz
    )
  `.execute(db);
  await sql`CREATE INDEX one_time_tokens_by_user ON one_time_tokens (user_id, purpose)`.execute(db);

  await sql`
    CREATE TABLE signing_keys (
      kid text PRIMARY KEY,
      alg text NOT NULL,
      public_jwk jsonb NOT NULL,
      private_jwk_encrypted text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      retired_at timestamptz
    )
  `.execute(db);

  await sql`
    CREATE TABLE outbox (
      id text PRIMARY KEY,
      topic text NOT NULL,
      payload jsonb NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      available_at timestamptz NOT NULL DEFAULT now(),
      attempts integer NOT NULL DEFAULT 0,
      last_error text,
      delivered_at timestamptz
    )
  `.execute(db);
  await sql`CREATE INDEX outbox_pending ON outbox (available_at) WHERE delivered_at IS NULL`.execute(db);

  await sql`
    CREATE TABLE login_failures (
      email text PRIMARY KEY,
      failures integer NOT NULL,
      window_started_at timestamptz NOT NULL,
      locked_until timestamptz
    )
  `.execute(db);

  // The audit trail, one hash chain per scope. A scope is a tenant id, or — for events about a person's
  // own account (sign-up, sign-in, password reset) — that user's id, readable and writable in their
  // user context; user ids can never equal a tenant id (different shapes).
  await sql`
    CREATE TABLE audit_events (
      tenant_id text NOT NULL,
      seq bigint NOT NULL,
      id text NOT NULL UNIQUE,
      occurred_at timestamptz NOT NULL,
      actor_type text NOT NULL CHECK (actor_type IN ('user', 'api_key', 'system')),
      actor_id text,
      via text NOT NULL DEFAULT 'direct' CHECK (via IN ('direct', 'shadow', 'platform_admin', 'ancestor')),
      action text NOT NULL,
      target_type text,
      target_id text,
      before jsonb,
      after jsonb,
      request_id text,
      ip text,
      prev_hash text NOT NULL,
      hash text NOT NULL,
      PRIMARY KEY (tenant_id, seq)
    )
  `.execute(db);
  await sql`
    CREATE TABLE audit_heads (
      tenant_id text PRIMARY KEY,
      seq bigint NOT NULL,
      hash text NOT NULL
    )
  `.execute(db);
  for (const table of ['audit_events', 'audit_heads']) {
    await enableTenantIsolation(db, table);
    await sql`
      CREATE POLICY own_account ON ${sql.table(table)}
      USING (tenant_id = tenantry_user()) WITH CHECK (tenant_id = tenantry_user())
    `.execute(db);
  }
  // Append-only for the application: no UPDATE or DELETE on events.
  await sql`GRANT SELECT, INSERT ON audit_events TO tenantry_app`.execute(db);
  await sql`GRANT SELECT, INSERT, UPDATE ON audit_heads TO tenantry_app`.execute(db);

  for (const table of ['sessions', 'refresh_tokens', 'one_time_tokens', 'signing_keys', 'outbox', 'login_failures']) {
    await sql`GRANT SELECT, INSERT, UPDATE, DELETE ON ${sql.table(table)} TO tenantry_app`.execute(db);
  }
}
