import { type Kysely, sql } from 'kysely';
import { enableTenantIsolation } from '../rls.ts';

/**
 * API keys (SPEC 1, 4 "API keys & machine tokens"): tenant-scoped machine credentials.
 * - The secret (`tnty_<tenantId>_<key id>_<random><checksum>`) is never stored; `secret_hash` is its sha256.
 *   The secret names its tenant, so even authenticating a key is a read in that tenant's RLS context.
 * - `permissions` is the explicit list the key acts with; the application checks it against the creator's
 *   own permissions when the key is made (SPEC 1: nothing granted exceeds the granter's permissions).
 * - Revocation keeps the row (`revoked_at`), so the listing and the audit trail can still name the key.
 * - `created_by_type`/`created_by_id`: a person, another key, or the operator's CLI (`system`, no id).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE api_keys (
      tenant_id text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
      id text NOT NULL CHECK (id ~ '^key_[a-z2-7]{20}$'),
      name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
      permissions text[] NOT NULL CHECK (cardinality(permissions) BETWEEN 1 AND 200),
      secret_hash text NOT NULL CHECK (secret_hash ~ '^[0-9a-f]{64}$'),
      created_by_type text NOT NULL CHECK (created_by_type IN ('user', 'api_key', 'system')),
      created_by_id text,
      created_at timestamptz NOT NULL,
      expires_at timestamptz,
      last_used_at timestamptz,
      revoked_at timestamptz,
      PRIMARY KEY (tenant_id, id),
      CHECK ((created_by_type = 'system') = (created_by_id IS NULL)),
      CHECK (expires_at IS NULL OR expires_at > created_at)
    )
  `.execute(db);
  await sql`CREATE INDEX api_keys_listing ON api_keys (tenant_id, created_at DESC, id DESC)`.execute(db);
  await enableTenantIsolation(db, 'api_keys');
  await sql`GRANT SELECT, INSERT, UPDATE ON api_keys TO tenantry_app`.execute(db);
}
