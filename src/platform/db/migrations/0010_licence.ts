import { type Kysely, sql } from 'kysely';

/**
 * The licence's tenant limit (SPEC 4): `platform_settings.tenant_limit` (written from the licence file at
 * start and whenever it changes; empty = no limit) caps the tenants the installation holds, every status but
 * deleted. Checked on every insert into `tenants`, whichever path makes one (sign-up, the API, the operator),
 * under one advisory lock so concurrent creations cannot overshoot it. The count spans every tenant, so the
 * check runs in the system context for the call only.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE FUNCTION tenantry_check_tenant_limit() RETURNS trigger LANGUAGE plpgsql
    SET tenantry.system = 'on' AS $$
    DECLARE
      tenant_limit integer := (SELECT nullif(value, '')::integer FROM platform_settings WHERE key = 'tenant_limit');
      in_use bigint;
    BEGIN
      IF tenant_limit IS NULL THEN
        RETURN NEW;
      END IF;
      PERFORM pg_advisory_xact_lock(7262002);
      SELECT count(*) INTO in_use FROM tenants WHERE status <> 'deleted';
      IF in_use >= tenant_limit THEN
        RAISE EXCEPTION 'the licence allows % tenants and % are in use', tenant_limit, in_use
          USING ERRCODE = 'check_violation', CONSTRAINT = 'licence_tenant_limit';
      END IF;
      RETURN NEW;
    END $$
  `.execute(db);
  await sql`CREATE TRIGGER tenants_licence_limit BEFORE INSERT ON tenants FOR EACH ROW EXECUTE FUNCTION tenantry_check_tenant_limit()`.execute(db);
}
