import { type Kysely, sql } from 'kysely';

/**
 * Plans (SPEC 4): a tenant's tier and the limits it sets on members (pending invitations included), child
 * tenants and API keys.
 * - `plan` (since 0001) is the tier in force; a new tenant gets the preset's default plan from
 *   `platform_settings.default_plan`, whichever code path inserts it.
 * - `scheduled_plan` / `scheduled_plan_at`: a downgrade waiting for the end of the billing period.
 * - `tenantry_plan_usage(t, at, lock)` reads the tenant's plan and counts what the limits cover; with `lock`
 *   it first locks the tenant row, so two requests racing for the last seat queue up behind each other. Counting spans tables the caller's context may not
 *   show whole (a child tenant's rows, from the parent), so it runs in the system context for the call only.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE tenants ADD COLUMN scheduled_plan text, ADD COLUMN scheduled_plan_at timestamptz`.execute(db);
  await sql`ALTER TABLE tenants ADD CONSTRAINT tenants_scheduled_plan_pair CHECK ((scheduled_plan IS NULL) = (scheduled_plan_at IS NULL))`.execute(db);
  await sql`CREATE INDEX tenants_plan_change_due ON tenants (scheduled_plan_at) WHERE scheduled_plan IS NOT NULL`.execute(db);

  await sql`
    CREATE FUNCTION tenantry_default_plan() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.plan IS NULL THEN
        NEW.plan := (SELECT nullif(value, '') FROM platform_settings WHERE key = 'default_plan');
      END IF;
      RETURN NEW;
    END $$
  `.execute(db);
  await sql`CREATE TRIGGER tenants_default_plan BEFORE INSERT ON tenants FOR EACH ROW EXECUTE FUNCTION tenantry_default_plan()`.execute(db);

  await sql`
    CREATE FUNCTION tenantry_plan_usage(t text, at timestamptz, lock boolean)
    RETURNS TABLE (plan text, scheduled_plan text, scheduled_plan_at timestamptz, created_at timestamptz,
                   members bigint, pending_invitations bigint, child_tenants bigint, api_keys bigint)
    LANGUAGE plpgsql SET tenantry.system = 'on' AS $$
    BEGIN
      IF lock THEN
        PERFORM 1 FROM tenants WHERE id = t FOR NO KEY UPDATE;
      END IF;
      RETURN QUERY SELECT tn.plan, tn.scheduled_plan, tn.scheduled_plan_at, tn.created_at,
        (SELECT count(*) FROM memberships m WHERE m.tenant_id = t AND m.kind = 'direct'),
        (SELECT count(*) FROM invitations i WHERE i.tenant_id = t AND i.status = 'pending' AND i.expires_at > at),
        (SELECT count(*) FROM tenant_tree c JOIN tenants ct ON ct.id = c.tenant_id WHERE c.parent_id = t AND ct.status <> 'deleted'),
        (SELECT count(*) FROM api_keys k WHERE k.tenant_id = t AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > at))
      FROM tenants tn WHERE tn.id = t AND tn.status <> 'deleted';
    END $$
  `.execute(db);
  await sql`REVOKE ALL ON FUNCTION tenantry_plan_usage(text, timestamptz, boolean) FROM PUBLIC`.execute(db);
  await sql`GRANT EXECUTE ON FUNCTION tenantry_plan_usage(text, timestamptz, boolean) TO tenantry_app`.execute(db);
}
