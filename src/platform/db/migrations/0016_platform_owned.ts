import { type Kysely, sql } from 'kysely';

/**
 * Tenants the platform owns (issue 11, seeds 001 and 004): no direct member owns them, the operator does.
 * - company-tree's Main Company exists from the first start, before any operator or member (its admins join it later);
 * - a customer organisation an operator creates from the admin tenancy (seed 001's "Add tenant") is reached by the
 *   operator's staff through shadow memberships only, so the customer's staff list never shows them.
 * The last-owner invariant holds for every other live tenant; here the owner is the platform (super admins, and the
 * admin tenancy's staff through their shadow memberships). Otherwise the check is 0013's.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE tenants ADD COLUMN platform_owned boolean NOT NULL DEFAULT false`.execute(db);
  // Decided when the tenant is created, never afterwards: otherwise an owner could mark their tenant platform-owned
  // and then leave it with no owner at all.
  await sql`
    CREATE FUNCTION tenantry_platform_owned_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.platform_owned IS DISTINCT FROM OLD.platform_owned THEN
        RAISE EXCEPTION 'whether the platform owns a tenant is decided when it is created'
          USING ERRCODE = 'check_violation', CONSTRAINT = 'tenant_platform_owned_fixed';
      END IF;
      RETURN NEW;
    END $$
  `.execute(db);
  await sql`CREATE TRIGGER tenants_platform_owned_fixed BEFORE UPDATE OF platform_owned ON tenants FOR EACH ROW EXECUTE FUNCTION tenantry_platform_owned_fixed()`.execute(db);
  await sql`
    CREATE OR REPLACE FUNCTION tenantry_check_owner() RETURNS trigger LANGUAGE plpgsql
    -- Sees every row whatever context the transaction ends in; the setting is restored on return.
    SET tenantry.system = 'on' AS $$
    DECLARE
      t text;
      owner_role text := (SELECT value FROM platform_settings WHERE key = 'owner_role');
      live boolean;
    BEGIN
      IF TG_TABLE_NAME = 'tenants' THEN
        t := NEW.id;
      ELSIF TG_OP = 'DELETE' THEN
        t := OLD.tenant_id;
      ELSE
        t := NEW.tenant_id;
      END IF;
      IF TG_TABLE_NAME = 'memberships' THEN
        IF OLD.kind = 'shadow' THEN
          RETURN NULL;
        END IF;
      ELSIF TG_TABLE_NAME = 'membership_roles' THEN
        -- Not a direct membership's role (any more): if the direct membership itself went or became shadow, the
        -- memberships trigger checks that change.
        IF NOT EXISTS (SELECT 1 FROM memberships m WHERE m.tenant_id = t AND m.user_id = OLD.user_id AND m.kind = 'direct') THEN
          RETURN NULL;
        END IF;
      END IF;
      -- Serialise with every other owner change in this tenant; the count below then sees their result.
      SELECT status <> 'deleted' AND NOT platform_owned INTO live FROM tenants WHERE id = t FOR UPDATE;
      IF live AND NOT EXISTS (
        SELECT 1 FROM memberships m
        JOIN membership_roles r ON r.tenant_id = m.tenant_id AND r.user_id = m.user_id
        WHERE m.tenant_id = t AND m.kind = 'direct' AND r.role_key = owner_role
      ) THEN
        RAISE EXCEPTION 'tenant % would be left without an owner', t
          USING ERRCODE = 'check_violation', CONSTRAINT = 'tenant_has_owner';
      END IF;
      RETURN NULL;
    END $$
  `.execute(db);
}
