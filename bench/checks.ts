/**
 * The permission check itself, in-process (no HTTP): Tenantry's resolver warm (cached) and cold (cache emptied before
 * each call) against the floors the issue names — a `Map` walking up to 7 ancestors, and the best single SQL
 * statement for an inherited check on Tenantry's own schema. The world: a chain of 7 tenants, each owned by its own
 * person; the person asked about is admin of the root only, so `members.read` at the leaf is inherited 6 levels.
 */
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { AccessResolver } from '../src/permissions/access-resolver.ts';
import { withSystem } from '../src/platform/db/context.ts';
import { APP_ROLE, type Database, openDatabase } from '../src/platform/db/database.ts';
import { newId, newTenantId } from '../src/platform/ids.ts';
import { applyPresetSettings } from '../src/presets/apply.ts';
import { loadPreset, type Preset } from '../src/presets/presets.ts';
import { insertMembership } from '../src/members/memberships.repository.ts';
import { insertTenant } from '../src/tenants/tenants.repository.ts';

const DEPTH = 7;
const PERMISSION = 'members.read';

export interface CheckWorld {
  database: Database;
  /** The embedded engine's instance, or the PostgreSQL database's URL: the SQL floor opens its own session. */
  pglite?: PGlite;
  postgresUrl?: string;
  resolver: AccessResolver;
  userId: string;
  leaf: string;
  /** The floor's data: each tenant's parent and, per person, the permissions their roles there give. */
  tree: Map<string, { parent: string | null; grants: Map<string, ReadonlySet<string>> }>;
  /** Roles whose permissions include PERMISSION, for the SQL floor (the preset's role table lives in code). */
  granting: string[];
  /** The same data for the in-memory peers: every membership, each tenant's path (root first), the preset's roles. */
  memberships: Array<{ tenantId: string; userId: string; roles: string[] }>;
  paths: Map<string, string[]>;
  roles: Array<{ key: string; scope: 'tenant' | 'tenant_and_descendants'; permissions: string[] }>;
  permission: string;
}

/** A migrated database with the default preset applied: PGlite (in memory, or in `dataDir`) or the PostgreSQL database at the URL. */
export async function benchDatabase(
  engine: 'pglite' | 'postgres',
  postgresUrl: string | undefined,
  dataDir?: string,
): Promise<{ database: Database; pglite?: PGlite; preset: Preset }> {
  const pglite = engine === 'pglite' ? await PGlite.create(dataDir) : undefined;
  const database = pglite !== undefined ? await openDatabase({ engine: 'pglite', instance: pglite }) : await openDatabase({ engine: 'postgres', url: postgresUrl as string });
  await database.migrate();
  const preset = loadPreset('default');
  await applyPresetSettings(database, preset);
  return { database, ...(pglite === undefined ? {} : { pglite }), preset };
}

export async function checkWorld(engine: 'pglite' | 'postgres', postgresUrl: string | undefined): Promise<CheckWorld> {
  const { database, pglite, preset } = await benchDatabase(engine, postgresUrl);
  const now = new Date();
  const userId = newId('user');
  const tree: CheckWorld['tree'] = new Map();
  const memberships: CheckWorld['memberships'] = [];
  const paths: CheckWorld['paths'] = new Map();
  let parent: string | null = null;
  let leaf = '';
  await withSystem(database.db, async (trx) => {
    for (let depth = 0; depth < DEPTH; depth++) {
      const owner = newId('user');
      for (const id of depth === 0 ? [owner, userId] : [owner]) {
        await trx
          .insertInto('users')
          .values({ id, email: `${id}@bench.test`, name: null, password_hash: null, email_verified_at: now, platform_role: null, created_at: now, updated_at: now })
          .execute();
      }
      const tenantId = newTenantId();
      await insertTenant(trx, { id: tenantId, slug: `chain-${tenantId}`, name: `Level ${depth}`, parentId: parent, now });
      await insertMembership(trx, { tenantId, userId: owner, kind: 'direct', roles: ['owner'], now });
      memberships.push({ tenantId, userId: owner, roles: ['owner'] });
      paths.set(tenantId, [...(parent === null ? [] : (paths.get(parent) ?? [])), tenantId]);
      const grants = new Map<string, ReadonlySet<string>>();
      if (depth === 0) {
        await insertMembership(trx, { tenantId, userId, kind: 'direct', roles: ['admin'], now });
        memberships.push({ tenantId, userId, roles: ['admin'] });
        grants.set(userId, new Set([PERMISSION]));
      }
      tree.set(tenantId, { parent, grants });
      parent = tenantId;
      leaf = tenantId;
    }
  });
  const granting = [...preset.roles.values()].filter((r) => r.permissions.has('*') || r.permissions.has(PERMISSION)).map((r) => r.key);
  const roles = [...preset.roles.values()].map((r) => ({ key: r.key, scope: r.scope, permissions: [...r.permissions] }));
  return {
    database,
    ...(pglite ? { pglite } : { postgresUrl }),
    resolver: new AccessResolver({ db: database.db, preset }),
    userId,
    leaf,
    tree,
    granting,
    memberships,
    paths,
    roles,
    permission: PERMISSION,
  };
}

export function warmCheck(world: CheckWorld): () => Promise<boolean> {
  const subject = { userId: world.userId, isSuperAdmin: false };
  return async () => (await world.resolver.forUser(subject, world.leaf)).permissions.has(PERMISSION);
}

export function coldCheck(world: CheckWorld): () => Promise<boolean> {
  const subject = { userId: world.userId, isSuperAdmin: false };
  return async () => {
    world.resolver.invalidate('*');
    return (await world.resolver.forUser(subject, world.leaf)).permissions.has(PERMISSION);
  };
}

/** The floor for a warm check: walk up from the tenant through a Map. */
export function mapCheck(world: CheckWorld): () => boolean {
  return () => {
    for (let id: string | null = world.leaf; id !== null; ) {
      const node = world.tree.get(id);
      if (node === undefined) return false;
      if (node.grants.get(world.userId)?.has(PERMISSION)) return true;
      id = node.parent;
    }
    return false;
  };
}

/**
 * The floor for a cold check: one statement on Tenantry's tables (the tree's materialised path, the person's roles
 * anywhere on it), as the application role on a session that is in the system context already, so no row-level
 * security context needs setting first. It ignores what Tenantry's check also weighs (tenant status, features,
 * custom roles, shadow memberships): a floor, not a peer. `close` ends that session.
 */
export async function sqlFloor(world: CheckWorld): Promise<{ check: () => Promise<boolean>; close: () => Promise<void> }> {
  const text = `SELECT EXISTS (
      SELECT 1 FROM tenant_tree tt JOIN membership_roles r ON r.tenant_id = ANY (tt.path)
      WHERE tt.tenant_id = $1 AND r.user_id = $2 AND r.role_key = ANY ($3)
    ) AS allowed`;
  const params = [world.leaf, world.userId, world.granting];
  if (world.pglite !== undefined) {
    const pglite = world.pglite;
    // The embedded engine has one session, which Tenantry's resolver shares: the setting is made around each use.
    return {
      check: async () => {
        await pglite.exec(`SET tenantry.system = 'on'`);
        try {
          return (await pglite.query<{ allowed: boolean }>(text, params)).rows[0]?.allowed === true;
        } finally {
          await pglite.exec('RESET tenantry.system');
        }
      },
      close: async () => undefined,
    };
  }
  const client = new pg.Client({ connectionString: world.postgresUrl, options: `-c role=${APP_ROLE} -c tenantry.system=on` });
  await client.connect();
  return { check: async () => (await client.query<{ allowed: boolean }>(text, params)).rows[0]?.allowed === true, close: () => client.end() };
}
