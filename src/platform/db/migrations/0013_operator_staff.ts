import { type Kysely, sql } from 'kysely';

/**
 * Issue 10, operator staff and the shadow access they hold:
 *
 * - **Who is staff** (`tenantry_staff_roles_of`, the one definition): a direct member of the admin tenancy who
 *   holds at least one of the preset's staff roles there (`platform_settings.staff_roles`, from the preset's
 *   `adminTenancy.staffRoles`), or whose default tenant an operator has explicitly made the admin tenancy
 *   (`PUT /admin/users/:id/default-tenant`). Never a fallback: before this, anyone whose primary tenant fell back
 *   to "the first tenant joined" — a vendor invited into the admin tenancy who then deleted their own workspace —
 *   became staff by accident. `users.explicit_default_tenant_id` remembers a default tenant set explicitly; it is
 *   cleared by a trigger whenever the default tenant becomes anything else (a purge re-pointing it, leaving), so
 *   an automatic re-point can never designate anyone.
 * - **Shadow access follows the person** (`tenantry_sync_shadow_access`): each shadow membership records the
 *   admin tenancy whose staff it was granted to (`memberships.shadow_of`). It lasts exactly as long as its holder
 *   is staff there: removed from it, left, demoted to roles none of which is a staff role (or an explicit
 *   designation withdrawn), every shadow membership goes; roles changed, the shadow roles become the current
 *   ones. A tenancy that is no longer the admin tenancy keeps the shadow memberships it granted (SPEC 4:
 *   re-designating affects only tenants created afterwards), but they can only narrow from then on, never widen.
 *   Sync never creates a shadow membership: those are granted only when a tenant is created.
 * - **Guaranteed in the database**: deferred constraint triggers on memberships, membership roles and users
 *   re-sync the person at commit (deferred, so a role set replaced by delete-then-insert is judged as it ends,
 *   not half-way), whichever code path made the change; a change of `staff_roles` re-syncs everyone. Services
 *   call the same function before commit to record each change in the affected tenant's audit chain (the
 *   chain is hashed in TypeScript). Shadow rows changed here fire the `tenantry_invalidate` NOTIFY triggers
 *   like any other membership change.
 * - **No race with tenant creation**: granting (`tenantry_operator_staff`) holds a shared advisory lock and the
 *   commit-time sync of a change in the admin tenancy an exclusive one, so a tenant being created while someone
 *   stops being staff either commits first (and the sync then ends its new shadow membership) or reads the change.
 * - The last-owner check skips shadow rows (they never count as owners), so a sync never takes the row lock of
 *   every tenant it touches.
 * - Upgrading: existing shadow memberships are attributed to the admin tenancy there is now, and explicit default
 *   tenants are recovered from each person's audit chain (`user.default_tenant_set`) and the operator's own. Nothing
 *   is re-synced here (the preset, and so the staff roles, is not known yet): the first start writes `staff_roles`,
 *   which re-syncs everyone and ends the shadow memberships of people who were staff only by fallback.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  // Backfills below read and write rows of every tenant.
  await sql`SELECT set_config('tenantry.system', 'on', true)`.execute(db);

  await sql`ALTER TABLE memberships ADD COLUMN shadow_of text`.execute(db);
  await sql`ALTER TABLE memberships ADD CONSTRAINT memberships_shadow_of_shadow_only CHECK (kind = 'shadow' OR shadow_of IS NULL)`.execute(db);
  await sql`CREATE INDEX memberships_shadows ON memberships (user_id, shadow_of) WHERE kind = 'shadow'`.execute(db);
  // Shadow memberships granted so far came from the admin tenancy there is now (the only one on record).
  await sql`UPDATE memberships SET shadow_of = (SELECT id FROM tenants WHERE is_admin_tenancy) WHERE kind = 'shadow'`.execute(db);
  // A shadow membership that becomes direct (an invitation accepted) no longer mirrors anyone's staff membership.
  await sql`
    CREATE FUNCTION tenantry_direct_membership_clears_shadow_of() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      NEW.shadow_of := NULL;
      RETURN NEW;
    END $$
  `.execute(db);
  await sql`
    CREATE TRIGGER memberships_direct_clears_shadow_of BEFORE UPDATE OF kind ON memberships
    FOR EACH ROW WHEN (NEW.kind = 'direct' AND NEW.shadow_of IS NOT NULL)
    EXECUTE FUNCTION tenantry_direct_membership_clears_shadow_of()
  `.execute(db);

  await sql`ALTER TABLE users ADD COLUMN explicit_default_tenant_id text`.execute(db);
  await sql`
    ALTER TABLE users ADD CONSTRAINT users_explicit_default_tenant
      CHECK (explicit_default_tenant_id IS NULL OR explicit_default_tenant_id = default_tenant_id)
  `.execute(db);
  // Explicit so far: the default tenant an administrator last set (the person's own audit chain says which), and
  // the operator's admin tenancy (set when the operator was created).
  await sql`
    UPDATE users u SET explicit_default_tenant_id = u.default_tenant_id
    WHERE u.default_tenant_id IS NOT NULL AND (
      (SELECT e.after ->> 'defaultTenantId' FROM audit_events e
       WHERE e.tenant_id = u.id AND e.action = 'user.default_tenant_set' ORDER BY e.seq DESC LIMIT 1) = u.default_tenant_id
      OR (u.platform_role = 'super_admin' AND EXISTS (SELECT 1 FROM tenants a WHERE a.id = u.default_tenant_id AND a.is_admin_tenancy))
    )
  `.execute(db);
  await sql`
    CREATE FUNCTION tenantry_explicit_default_tenant() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.explicit_default_tenant_id IS DISTINCT FROM NEW.default_tenant_id THEN
        NEW.explicit_default_tenant_id := NULL;
      END IF;
      RETURN NEW;
    END $$
  `.execute(db);
  await sql`
    CREATE TRIGGER users_explicit_default_tenant BEFORE INSERT OR UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION tenantry_explicit_default_tenant()
  `.execute(db);

  await sql`
    CREATE FUNCTION tenantry_staff_roles() RETURNS text[] LANGUAGE sql STABLE AS $$
      SELECT string_to_array(coalesce(
        (SELECT value FROM platform_settings WHERE key = 'staff_roles'),
        (SELECT value FROM platform_settings WHERE key = 'owner_role')), ',')
    $$
  `.execute(db);

  // The one definition of operator staff: p_user's roles in p_tenancy if that makes them staff there, else null.
  await sql`
    CREATE FUNCTION tenantry_staff_roles_of(p_user text, p_tenancy text) RETURNS text[]
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public SET tenantry.system = 'on' AS $$
      SELECT CASE WHEN s.roles && tenantry_staff_roles() OR coalesce(s.designated, false) THEN s.roles END
      FROM (
        SELECT array_agg(r.role_key ORDER BY r.role_key) AS roles,
               bool_or(u.default_tenant_id = p_tenancy AND u.explicit_default_tenant_id = p_tenancy) AS designated
        FROM memberships m
        JOIN users u ON u.id = m.user_id
        JOIN membership_roles r ON r.tenant_id = m.tenant_id AND r.user_id = m.user_id
        WHERE m.tenant_id = p_tenancy AND m.user_id = p_user AND m.kind = 'direct'
      ) s
    $$
  `.execute(db);
  await sql`REVOKE ALL ON FUNCTION tenantry_staff_roles_of(text, text) FROM PUBLIC`.execute(db);

  // Granting, at tenant creation (src/tenants/operator-access.ts): the active admin tenancy's staff now.
  await sql`DROP FUNCTION tenantry_operator_staff()`.execute(db);
  await sql`
    CREATE FUNCTION tenantry_operator_staff() RETURNS TABLE (user_id text, roles text[], admin_tenancy_id text)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public SET tenantry.system = 'on' AS $$
    BEGIN
      -- Shared with other creations, exclusive with every change to the admin tenancy's staff: see
      -- tenantry_shadow_source_changed.
      PERFORM pg_advisory_xact_lock_shared(7262013);
      RETURN QUERY
        SELECT s.member, s.staff_roles, s.tenancy FROM (
          SELECT m.user_id AS member, tenantry_staff_roles_of(m.user_id, a.id) AS staff_roles, a.id AS tenancy
          FROM tenants a
          JOIN memberships m ON m.tenant_id = a.id AND m.kind = 'direct'
          WHERE a.is_admin_tenancy AND a.status = 'active'
        ) s
        WHERE s.staff_roles IS NOT NULL
        ORDER BY s.member;
    END $$
  `.execute(db);
  await sql`REVOKE ALL ON FUNCTION tenantry_operator_staff() FROM PUBLIC`.execute(db);
  await sql`GRANT EXECUTE ON FUNCTION tenantry_operator_staff() TO tenantry_app`.execute(db);

  // Re-syncs one person's shadow memberships (those granted by p_source, or all) with what they are now; returns
  // what it changed (roles_after null = the shadow membership ended). Idempotent: a second call changes nothing.
  await sql`
    CREATE FUNCTION tenantry_sync_shadow_access(p_user text, p_source text DEFAULT NULL)
    RETURNS TABLE (shadow_tenant_id text, roles_before text[], roles_after text[])
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public SET tenantry.system = 'on' AS $$
    DECLARE
      source text;
      staff text[];
      granting boolean;
      shadow record;
      target text[];
    BEGIN
      FOR source IN
        SELECT DISTINCT m.shadow_of FROM memberships m
        WHERE m.user_id = p_user AND m.kind = 'shadow' AND m.shadow_of IS NOT NULL AND (p_source IS NULL OR m.shadow_of = p_source)
        ORDER BY 1
      LOOP
        staff := tenantry_staff_roles_of(p_user, source);
        granting := EXISTS (SELECT 1 FROM tenants a WHERE a.id = source AND a.is_admin_tenancy);
        FOR shadow IN
          SELECT m.tenant_id AS tenant, coalesce(array_agg(r.role_key ORDER BY r.role_key) FILTER (WHERE r.role_key IS NOT NULL), '{}') AS roles
          FROM memberships m
          LEFT JOIN membership_roles r ON r.tenant_id = m.tenant_id AND r.user_id = m.user_id
          WHERE m.user_id = p_user AND m.kind = 'shadow' AND m.shadow_of = source
          GROUP BY m.tenant_id
          ORDER BY m.tenant_id
        LOOP
          IF staff IS NULL THEN
            target := '{}';
          ELSIF granting THEN
            target := staff;
          ELSE
            -- No longer the admin tenancy: what it granted may narrow, never widen.
            target := ARRAY(SELECT x FROM unnest(shadow.roles) AS x WHERE x = ANY (staff) ORDER BY x);
          END IF;
          IF cardinality(target) = 0 THEN
            DELETE FROM memberships m WHERE m.tenant_id = shadow.tenant AND m.user_id = p_user;
            shadow_tenant_id := shadow.tenant;
            roles_before := shadow.roles;
            roles_after := NULL;
            RETURN NEXT;
          ELSIF target IS DISTINCT FROM shadow.roles THEN
            DELETE FROM membership_roles r WHERE r.tenant_id = shadow.tenant AND r.user_id = p_user AND r.role_key <> ALL (target);
            INSERT INTO membership_roles (tenant_id, user_id, role_key)
              SELECT shadow.tenant, p_user, x FROM unnest(target) AS x
              ON CONFLICT DO NOTHING;
            shadow_tenant_id := shadow.tenant;
            roles_before := shadow.roles;
            roles_after := target;
            RETURN NEXT;
          END IF;
        END LOOP;
      END LOOP;
    END $$
  `.execute(db);
  await sql`REVOKE ALL ON FUNCTION tenantry_sync_shadow_access(text, text) FROM PUBLIC`.execute(db);
  await sql`GRANT EXECUTE ON FUNCTION tenantry_sync_shadow_access(text, text) TO tenantry_app`.execute(db);

  // The guarantee: at commit, whoever changed what makes someone staff (or not), their shadow access follows.
  await sql`
    CREATE FUNCTION tenantry_shadow_source_changed() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public SET tenantry.system = 'on' AS $$
    DECLARE
      changed jsonb := to_jsonb(CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END);
      member text;
      tenant text;
    BEGIN
      -- A change concerning the admin tenancy is ordered against tenant creations granting shadow memberships
      -- (tenantry_operator_staff holds this lock shared): someone holding no shadow membership yet may be getting
      -- one from a tenant being created right now; that tenant either commits first, and the sync below (a new
      -- snapshot) ends its shadow membership, or it reads the state this transaction commits.
      IF TG_TABLE_NAME = 'users' THEN
        member := changed ->> 'id';
        IF EXISTS (SELECT 1 FROM tenants a JOIN memberships m ON m.tenant_id = a.id AND m.user_id = member AND m.kind = 'direct' WHERE a.is_admin_tenancy) THEN
          PERFORM pg_advisory_xact_lock(7262013);
        END IF;
        PERFORM tenantry_sync_shadow_access(member);
        RETURN NULL;
      END IF;
      member := changed ->> 'user_id';
      tenant := changed ->> 'tenant_id';
      IF EXISTS (SELECT 1 FROM tenants a WHERE a.id = tenant AND a.is_admin_tenancy) THEN
        PERFORM pg_advisory_xact_lock(7262013);
        PERFORM tenantry_sync_shadow_access(member, tenant);
      ELSIF EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = member AND m.kind = 'shadow' AND m.shadow_of = tenant) THEN
        -- A former admin tenancy: it grants nothing any more, so there is nothing to order against.
        PERFORM tenantry_sync_shadow_access(member, tenant);
      END IF;
      RETURN NULL;
    END $$
  `.execute(db);
  await sql`
    CREATE CONSTRAINT TRIGGER shadow_access_follows_staff AFTER DELETE OR UPDATE OF kind ON memberships
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (OLD.kind = 'direct')
    EXECUTE FUNCTION tenantry_shadow_source_changed()
  `.execute(db);
  await sql`
    CREATE CONSTRAINT TRIGGER shadow_access_follows_staff AFTER INSERT OR UPDATE OR DELETE ON membership_roles
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION tenantry_shadow_source_changed()
  `.execute(db);
  await sql`
    CREATE CONSTRAINT TRIGGER shadow_access_follows_staff AFTER UPDATE OF default_tenant_id, explicit_default_tenant_id ON users
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (OLD.default_tenant_id IS DISTINCT FROM NEW.default_tenant_id OR OLD.explicit_default_tenant_id IS DISTINCT FROM NEW.explicit_default_tenant_id)
    EXECUTE FUNCTION tenantry_shadow_source_changed()
  `.execute(db);

  // The preset's staff roles written (first start after this migration) or changed: everyone is re-synced.
  await sql`
    CREATE FUNCTION tenantry_staff_roles_changed() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public SET tenantry.system = 'on' AS $$
    DECLARE
      member text;
    BEGIN
      IF TG_OP = 'UPDATE' AND OLD.value IS NOT DISTINCT FROM NEW.value THEN
        RETURN NULL;
      END IF;
      PERFORM pg_advisory_xact_lock(7262013);
      FOR member IN SELECT DISTINCT m.user_id FROM memberships m WHERE m.kind = 'shadow' AND m.shadow_of IS NOT NULL ORDER BY 1 LOOP
        PERFORM tenantry_sync_shadow_access(member);
      END LOOP;
      RETURN NULL;
    END $$
  `.execute(db);
  await sql`
    CREATE TRIGGER staff_roles_changed AFTER INSERT OR UPDATE ON platform_settings
    FOR EACH ROW WHEN (NEW.key = 'staff_roles') EXECUTE FUNCTION tenantry_staff_roles_changed()
  `.execute(db);

  // A shadow membership never counts as an owner, so removing one (or its roles) can never leave a tenant without
  // one: the last-owner check skips those rows and so never locks the tenant rows a sync touches. Otherwise as in 0003.
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
}
