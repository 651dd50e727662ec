import { type Kysely, sql } from 'kysely';

/**
 * `tenant_tree.path` is computed from `parent_id` by the tree triggers and nothing else may write it: a
 * path is what permission checks, ancestor role lookups and descendant visibility trust. Before this, the
 * update policy only required the current tenant to stay in the path, so a tenant's context could write
 * `path = {other, self}` and adopt a foreign ancestor. Now a statement that changes `path` without changing
 * `parent_id` is refused; the subtree rewrite done inside the move trigger (trigger depth > 1) still passes.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE FUNCTION tenantry_tree_path_guard() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF pg_trigger_depth() = 1 AND NEW.parent_id IS NOT DISTINCT FROM OLD.parent_id AND NEW.path IS DISTINCT FROM OLD.path THEN
        RAISE EXCEPTION 'tenant_tree.path is computed from parent_id and cannot be written'
          USING ERRCODE = 'check_violation', CONSTRAINT = 'tenant_tree_path_computed';
      END IF;
      RETURN NEW;
    END $$
  `.execute(db);
  await sql`
    CREATE TRIGGER tenant_tree_path_guard BEFORE UPDATE OF path ON tenant_tree
    FOR EACH ROW EXECUTE FUNCTION tenantry_tree_path_guard()
  `.execute(db);
}
