import { type Kysely, sql } from 'kysely';
import { enableTenantIsolation } from '../rls.ts';

/**
 * Approval requests (SPEC 4, seed 004): a sensitive action the preset's policy holds for a higher admin.
 * - `action` and `params` are what to run once approved (re-checked then, as the initiator).
 * - `status`: pending → approved-and-`executed` or `failed` (why in `outcome`), `declined`, `cancelled`;
 *   "expired" is computed from `expires_at` like an invitation's, so it needs no job and follows the clock.
 * - `decided_by` is never `requested_by` (the initiator cannot decide their own request).
 * Tenant-scoped like every tenant table: `tenant_id` leads the key and row-level security confines it.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE approval_requests (
      tenant_id text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
      id text NOT NULL,
      action text NOT NULL CHECK (action IN ('tenant.delete', 'tenant.transfer_ownership', 'tenant.change_plan', 'member.remove_admin')),
      params jsonb NOT NULL,
      status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'executed', 'failed', 'declined', 'cancelled')),
      requested_by text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      decided_by text REFERENCES users (id) ON DELETE SET NULL,
      note text CHECK (note IS NULL OR length(note) <= 500),
      outcome jsonb,
      created_at timestamptz NOT NULL,
      expires_at timestamptz NOT NULL,
      decided_at timestamptz,
      PRIMARY KEY (tenant_id, id),
      CHECK (decided_by IS NULL OR decided_by <> requested_by),
      CHECK ((status = 'pending') = (decided_at IS NULL))
    )
  `.execute(db);
  await sql`CREATE INDEX approval_requests_listing ON approval_requests (tenant_id, created_at DESC, id DESC)`.execute(db);
  await enableTenantIsolation(db, 'approval_requests');
  await sql`GRANT SELECT, INSERT, UPDATE, DELETE ON approval_requests TO tenantry_app`.execute(db);
}
