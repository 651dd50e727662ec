import { type Kysely, sql } from 'kysely';
import { enableTenantIsolation } from '../rls.ts';

/**
 * Tenancy core, with its invariants in the database:
 * - `platform_settings`: values the triggers need from configuration (owner role, maximum depth), written
 *   at start-up.
 * - `tenant_tree`: each tenant's parent and materialised path (root first, itself last), so the ancestors
 *   of a tenant are one indexed row and its subtree one GIN lookup. The path is computed by a trigger,
 *   which also refuses cycles and trees deeper than the maximum — moves and inserts included. Moves take
 *   an exclusive advisory lock and inserts a shared one, so no child is ever inserted under a subtree
 *   while that subtree's paths are being rewritten. The structure (ids only) is readable in every context
 *   because permission checks walk it; writes stay confined to the subtree of the current tenant.
 * - `roles`: custom roles per tenant, visible in that tenant and its descendants.
 * - `tenant_features`: per-tenant feature overrides (absent = the preset's default).
 * - a deferred constraint trigger keeps at least one direct owner in every live tenant, checked at commit
 *   under a lock on the tenant row, so concurrent demotions cannot both pass.
 * - `idempotency_keys`: stored responses for `Idempotency-Key` replays.
 * - every change that can alter someone's permissions notifies `tenantry_invalidate`, so each server
 *   process drops its cached permissions at commit (LISTEN/NOTIFY is transactional).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE platform_settings (
      key text PRIMARY KEY,
      value text NOT NULL
    )
  `.execute(db);
  await sql`INSERT INTO platform_settings VALUES ('owner_role', 'owner'), ('max_tree_depth', '7')`.execute(db);
  await sql`GRANT SELECT ON platform_settings TO tenantry_app`.execute(db);

  await sql`
    CREATE TABLE tenant_tree (
      tenant_id text PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
      parent_id text REFERENCES tenant_tree (tenant_id),
      path text[] NOT NULL,
      CHECK (parent_id IS NULL OR parent_id <> tenant_id)
    )
  `.execute(db);
  await sql`CREATE INDEX tenant_tree_path ON tenant_tree USING gin (path)`.execute(db);
  await sql`CREATE INDEX tenant_tree_parent ON tenant_tree (parent_id)`.execute(db);
  await sql`ALTER TABLE tenant_tree ENABLE ROW LEVEL SECURITY`.execute(db);
  await sql`ALTER TABLE tenant_tree FORCE ROW LEVEL SECURITY`.execute(db);
  await sql`CREATE POLICY structure_readable ON tenant_tree FOR SELECT USING (true)`.execute(db);
  await sql`
    CREATE POLICY insert_own ON tenant_tree FOR INSERT
    WITH CHECK (tenant_id = tenantry_tenant() OR tenantry_is_system())
  `.execute(db);
  await sql`
    CREATE POLICY update_subtree ON tenant_tree FOR UPDATE
    USING (tenantry_tenant() = ANY (path) OR tenantry_is_system())
    WITH CHECK (tenantry_tenant() = ANY (path) OR tenantry_is_system())
  `.execute(db);
  await sql`
    CREATE POLICY delete_own ON tenant_tree FOR DELETE
    USING (tenant_id = tenantry_tenant() OR tenantry_is_system())
  `.execute(db);
  await sql`GRANT SELECT, INSERT, UPDATE, DELETE ON tenant_tree TO tenantry_app`.execute(db);

  await sql`
    CREATE FUNCTION tenantry_tree_path() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
      parent_path text[];
      max_depth integer := (SELECT value::integer FROM platform_settings WHERE key = 'max_tree_depth');
    BEGIN
      IF TG_OP = 'INSERT' THEN
        PERFORM pg_advisory_xact_lock_shared(7262001);
      ELSE
        PERFORM pg_advisory_xact_lock(7262001);
      END IF;
      IF NEW.parent_id IS NULL THEN
        NEW.path := ARRAY[NEW.tenant_id];
      ELSE
        SELECT path INTO parent_path FROM tenant_tree WHERE tenant_id = NEW.parent_id;
        IF parent_path IS NULL THEN
          RAISE EXCEPTION 'parent tenant % does not exist', NEW.parent_id USING ERRCODE = 'foreign_key_violation';
        END IF;
        IF NEW.tenant_id = ANY (parent_path) THEN
          RAISE EXCEPTION 'tenant % cannot be placed under its own descendant %', NEW.tenant_id, NEW.parent_id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'tenant_tree_no_cycle';
        END IF;
        NEW.path := parent_path || NEW.tenant_id;
      END IF;
      IF cardinality(NEW.path) > max_depth THEN
        RAISE EXCEPTION 'tenant tree deeper than % levels', max_depth
          USING ERRCODE = 'check_violation', CONSTRAINT = 'tenant_tree_max_depth';
      END IF;
      RETURN NEW;
    END $$
  `.execute(db);
  await sql`
    CREATE TRIGGER tenant_tree_path BEFORE INSERT OR UPDATE OF parent_id ON tenant_tree
    FOR EACH ROW EXECUTE FUNCTION tenantry_tree_path()
  `.execute(db);
  await sql`
    CREATE FUNCTION tenantry_tree_move_subtree() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
      max_depth integer := (SELECT value::integer FROM platform_settings WHERE key = 'max_tree_depth');
      old_depth integer := cardinality(OLD.path);
      deepest integer;
    BEGIN
      UPDATE tenant_tree SET path = NEW.path || path[old_depth + 1:]
      WHERE OLD.tenant_id = ANY (path) AND tenant_id <> NEW.tenant_id;
      SELECT max(cardinality(path)) INTO deepest FROM tenant_tree WHERE NEW.tenant_id = ANY (path);
      IF deepest > max_depth THEN
        RAISE EXCEPTION 'moving % would make the tree deeper than % levels', NEW.tenant_id, max_depth
          USING ERRCODE = 'check_violation', CONSTRAINT = 'tenant_tree_max_depth';
      END IF;
      RETURN NULL;
    END $$
  `.execute(db);
  await sql`
    CREATE TRIGGER tenant_tree_move AFTER UPDATE OF parent_id ON tenant_tree
    FOR EACH ROW WHEN (OLD.parent_id IS DISTINCT FROM NEW.parent_id)
    EXECUTE FUNCTION tenantry_tree_move_subtree()
  `.execute(db);

  // A tenant's context may read the tenant rows of its descendants (names for the tree and children
  // listings); nothing else about them.
  await sql`
    CREATE POLICY descendants_readable ON tenants FOR SELECT USING (
      tenantry_tenant() = ANY ((SELECT path FROM tenant_tree WHERE tenant_tree.tenant_id = tenants.id)::text[])
    )
  `.execute(db);

  await sql`
    CREATE TABLE roles (
      tenant_id text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
      key text NOT NULL CHECK (key ~ '^[a-z][a-z0-9_]{0,62}$'),
      name text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 100),
      description text CHECK (description IS NULL OR length(description) <= 500),
      scope text NOT NULL DEFAULT 'tenant' CHECK (scope IN ('tenant', 'tenant_and_descendants')),
      permissions text[] NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (tenant_id, key)
    )
  `.execute(db);
  await enableTenantIsolation(db, 'roles');
  await sql`
    CREATE POLICY ancestors_readable ON roles FOR SELECT USING (
      tenant_id = ANY ((SELECT path FROM tenant_tree WHERE tenant_tree.tenant_id = tenantry_tenant())::text[])
    )
  `.execute(db);
  await sql`GRANT SELECT, INSERT, UPDATE, DELETE ON roles TO tenantry_app`.execute(db);

  await sql`
    CREATE TABLE tenant_features (
      tenant_id text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
      feature text NOT NULL CHECK (feature ~ '^[a-z][a-z0-9_]{0,62}$'),
      enabled boolean NOT NULL,
      updated_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (tenant_id, feature)
    )
  `.execute(db);
  await enableTenantIsolation(db, 'tenant_features');
  await sql`GRANT SELECT, INSERT, UPDATE, DELETE ON tenant_features TO tenantry_app`.execute(db);

  // At least one direct owner per live tenant, checked at commit so a transfer may add before it removes.
  await sql`
    CREATE FUNCTION tenantry_check_owner() RETURNS trigger LANGUAGE plpgsql
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
      -- Serialise with every other owner change in this tenant; the count below then sees their result.
      SELECT status <> 'deleted' INTO live FROM tenants WHERE id = t FOR UPDATE;
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
  await sql`
    CREATE CONSTRAINT TRIGGER tenant_has_owner AFTER DELETE OR UPDATE ON membership_roles
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION tenantry_check_owner()
  `.execute(db);
  await sql`
    CREATE CONSTRAINT TRIGGER tenant_has_owner AFTER DELETE OR UPDATE OF kind ON memberships
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION tenantry_check_owner()
  `.execute(db);
  await sql`
    CREATE CONSTRAINT TRIGGER tenant_has_owner AFTER INSERT OR UPDATE OF status ON tenants
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION tenantry_check_owner()
  `.execute(db);

  // Cache invalidation: the payload is the tenant whose permissions may have changed ('*' = everything).
  await sql`
    CREATE FUNCTION tenantry_notify_invalidate() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
      row jsonb := to_jsonb(CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END);
    BEGIN
      PERFORM pg_notify('tenantry_invalidate', CASE TG_TABLE_NAME
        WHEN 'users' THEN 'user:' || (row ->> 'id')
        WHEN 'tenants' THEN row ->> 'id'
        ELSE row ->> 'tenant_id' END);
      RETURN NULL;
    END $$
  `.execute(db);
  for (const table of ['memberships', 'membership_roles', 'roles', 'tenant_tree', 'tenant_features']) {
    await sql`
      CREATE TRIGGER notify_invalidate AFTER INSERT OR UPDATE OR DELETE ON ${sql.table(table)}
      FOR EACH ROW EXECUTE FUNCTION tenantry_notify_invalidate()
    `.execute(db);
  }
  await sql`
    CREATE TRIGGER notify_invalidate AFTER UPDATE OF status OR DELETE ON tenants
    FOR EACH ROW EXECUTE FUNCTION tenantry_notify_invalidate()
  `.execute(db);
  await sql`
    CREATE TRIGGER notify_invalidate AFTER UPDATE OF platform_role OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION tenantry_notify_invalidate()
  `.execute(db);

  await sql`
    CREATE TABLE idempotency_keys (
      scope text NOT NULL,
      key text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
      request_hash text NOT NULL,
      status_code integer,
      response_headers jsonb,
      response_body text,
      created_at timestamptz NOT NULL,
      completed_at timestamptz,
      PRIMARY KEY (scope, key)
    )
  `.execute(db);
  await sql`CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at)`.execute(db);
  await sql`GRANT SELECT, INSERT, UPDATE, DELETE ON idempotency_keys TO tenantry_app`.execute(db);

  // Existing tenants (from earlier migrations) become roots.
  await sql`SELECT set_config('tenantry.system', 'on', true)`.execute(db);
  await sql`INSERT INTO tenant_tree (tenant_id, parent_id, path) SELECT id, NULL, ARRAY[id] FROM tenants`.execute(db);
}
