import { type Kysely, sql } from 'kysely';

/**
 * Issue 14, audit: the application's role may append to a tenant's trail but never edit or erase it (no UPDATE or
 * DELETE on `audit_events`). It must update the chain's head, though, and could set it anywhere: rewound to 0, every
 * later append of that tenant failed (its sequence numbers exist) and the trail stopped at the rewind. Now a head
 * starts at the genesis and only ever advances by one, to the event just appended with that number and hash.
 * An AFTER trigger, so row-level security refuses a row in another tenant's chain first, as on every other table.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE FUNCTION tenantry_audit_head_advances() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'INSERT' THEN
        IF NEW.seq <> 0 OR NEW.hash <> repeat('0', 64) THEN
          RAISE EXCEPTION 'audit trails are append-only: a chain head starts at the genesis' USING ERRCODE = 'check_violation';
        END IF;
      ELSIF (NEW.tenant_id, NEW.seq, NEW.hash) = (OLD.tenant_id, OLD.seq, OLD.hash) THEN
        NULL; -- unchanged
      ELSIF NEW.tenant_id <> OLD.tenant_id OR NEW.seq <> OLD.seq + 1
         OR NOT EXISTS (SELECT 1 FROM audit_events e WHERE e.tenant_id = NEW.tenant_id AND e.seq = NEW.seq AND e.hash = NEW.hash AND e.prev_hash = OLD.hash) THEN
        RAISE EXCEPTION 'audit trails are append-only: a chain head only advances to the event appended after it' USING ERRCODE = 'check_violation';
      END IF;
      RETURN NULL;
    END $$
  `.execute(db);
  await sql`
    CREATE TRIGGER audit_head_advances AFTER INSERT OR UPDATE ON audit_heads
    FOR EACH ROW EXECUTE FUNCTION tenantry_audit_head_advances()
  `.execute(db);
}
