import { type Kysely, sql } from 'kysely';
import { enableTenantIsolation } from '../rls.ts';

/**
 * Invitations (SPEC 1 and 4): an email invited into a tenant with roles.
 * - The token is stored only as its sha256 (`token_hash`, unique), never in clear.
 * - `status` holds what happened to the row (pending, accepted, revoked); "expired" is not stored but
 *   computed from `expires_at`, so it needs no job and follows the injected clock.
 * - At most one pending invitation per (tenant, email): a partial unique index, so re-inviting replaces
 *   the pending row's token (one upsert) and concurrent invitations of one address cannot both insert.
 * - Tenant-scoped like every other tenant table: `tenant_id` leads the primary key and row-level security
 *   confines it. Looking an invitation up by its token crosses tenants by nature (the token is the only
 *   key the invitee has), which the application does in the system context.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE invitations (
      tenant_id text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
      id text NOT NULL,
      email text NOT NULL CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 254),
      roles text[] NOT NULL CHECK (cardinality(roles) BETWEEN 1 AND 50),
      token_hash text NOT NULL UNIQUE CHECK (token_hash ~ '^[0-9a-f]{64}$'),
      status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'accepted', 'revoked')),
      invited_by text REFERENCES users (id) ON DELETE SET NULL,
      created_at timestamptz NOT NULL,
      updated_at timestamptz NOT NULL,
      expires_at timestamptz NOT NULL,
      accepted_at timestamptz,
      accepted_by text REFERENCES users (id) ON DELETE SET NULL,
      revoked_at timestamptz,
      PRIMARY KEY (tenant_id, id),
      CHECK ((status = 'accepted') = (accepted_at IS NOT NULL)),
      CHECK ((status = 'revoked') = (revoked_at IS NOT NULL))
    )
  `.execute(db);
  await sql`CREATE UNIQUE INDEX invitations_one_pending ON invitations (tenant_id, email) WHERE status = 'pending'`.execute(db);
  await sql`CREATE INDEX invitations_listing ON invitations (tenant_id, created_at DESC, id DESC)`.execute(db);
  await enableTenantIsolation(db, 'invitations');
  await sql`GRANT SELECT, INSERT, UPDATE, DELETE ON invitations TO tenantry_app`.execute(db);
}
