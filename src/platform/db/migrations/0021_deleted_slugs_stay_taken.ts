import { type Kysely, sql } from 'kysely';

/**
 * Issue 14: a deleted tenant's slug is never reused. The purge (migration 0007) renamed the tombstone's slug to
 * `deleted-<id>`, freeing the old one for the next tenant to claim — and every link, bookmark and integration that
 * still named it led there. Now a tenant keeps its slug as it becomes `deleted`, and a deleted tenant's slug never
 * changes: the unique index keeps it taken for good (the id, the primary key, always was).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE FUNCTION tenantry_deleted_slug_stays() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF OLD.status = 'deleted' OR NEW.status = 'deleted' THEN
        NEW.slug := OLD.slug;
      END IF;
      RETURN NEW;
    END $$
  `.execute(db);
  await sql`
    CREATE TRIGGER deleted_slug_stays BEFORE UPDATE OF slug ON tenants
    FOR EACH ROW EXECUTE FUNCTION tenantry_deleted_slug_stays()
  `.execute(db);
}
