import { type Kysely, sql } from 'kysely';

/**
 * Issue 11, "tenant details say where a tenant stands": when a tenant was suspended and why, kept on the tenant
 * (before this only the audit trail's `tenant.suspended` events knew).
 * - `suspended_at`, `suspension_reason`: set by a suspension, kept while the tenant is pending deletion (a restore
 *   brings the suspension back with them), cleared when it becomes active again or is purged. A trigger clears them
 *   whatever path changes the status, and stamps `suspended_at` if a path suspends without saying when.
 * - Tenants suspended now (or suspended when their deletion was requested) take both from their latest
 *   `tenant.suspended` event.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE tenants ADD COLUMN suspended_at timestamptz, ADD COLUMN suspension_reason text`.execute(db);
  await sql`ALTER TABLE tenants ADD CONSTRAINT tenants_suspension_reason_needs_time CHECK (suspension_reason IS NULL OR suspended_at IS NOT NULL)`.execute(db);

  // Reads every tenant's trail (the schema owner may be subject to row-level security like anyone else).
  await sql`SELECT set_config('tenantry.system', 'on', true)`.execute(db);
  await sql`
    UPDATE tenants t SET suspended_at = e.occurred_at, suspension_reason = e.after ->> 'reason'
    FROM (
      SELECT DISTINCT ON (tenant_id) tenant_id, occurred_at, after FROM audit_events
      WHERE action = 'tenant.suspended' ORDER BY tenant_id, seq DESC
    ) e
    WHERE e.tenant_id = t.id AND (t.status = 'suspended' OR (t.status = 'pending_deletion' AND t.status_before_deletion = 'suspended'))
  `.execute(db);
  await sql`SELECT set_config('tenantry.system', '', true)`.execute(db);

  await sql`
    CREATE FUNCTION tenantry_tenant_standing() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.status IN ('active', 'deleted') THEN
        NEW.suspended_at := NULL;
        NEW.suspension_reason := NULL;
      ELSIF NEW.status = 'suspended' AND NEW.suspended_at IS NULL THEN
        NEW.suspended_at := now();
      END IF;
      RETURN NEW;
    END $$
  `.execute(db);
  await sql`CREATE TRIGGER tenants_standing BEFORE UPDATE OF status ON tenants FOR EACH ROW EXECUTE FUNCTION tenantry_tenant_standing()`.execute(db);
}
