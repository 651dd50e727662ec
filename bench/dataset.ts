/**
 * Dataset D (issue 13), generated in the database by set-returning SQL, and grown to D×10 for the scaling figures:
 * per unit of D, 10,000 tenants in trees of 50 (a binary tree each, so at most 6 levels below a root and within the
 * default limit of 7), 100,000 users, 200,000 memberships and 3,000 custom roles.
 *
 * - Tenant i of a tree of 50 has, for k = i mod 50 > 0, the parent k' = ⌊(k − 1) / 2⌋ of the same tree.
 * - User u's first ("home") membership is tenant ⌊u / 10⌋ of its unit: the first of each ten owns it, the second is
 *   `admin` (which reaches below), the rest `member`. Their second membership is in another tenant of the unit, as
 *   `auditor` — the custom role three tenants in ten define, reaching below — where that tenant defines it and
 *   u mod 3 = 0, else as `member`.
 * Ids are derived from the indexes (md5, mapped into the id alphabet), so growing D to D×10 adds units 1–9 beside it.
 *
 * The check asked is the same as bench/checks.ts's, for a fixed sample of (person, tenant) pairs: each person's home
 * tenant's descendants and their second tenant, through the resolver warm (cached) and cold (emptied before each call).
 */
import { sql } from 'kysely';
import { AccessResolver, type Subject } from '../src/permissions/access-resolver.ts';
import { withSystem } from '../src/platform/db/context.ts';
import type { Database } from '../src/platform/db/database.ts';
import type { Preset } from '../src/presets/presets.ts';

export const UNIT = { tenants: 10_000, users: 100_000, treeSize: 50, customRoleEvery: 10, customRolesPerTen: 3 } as const;
const PERMISSION = 'members.read';

const tenantId = (i: string) => sql`('t' || translate(substr(md5('D' || ${sql.raw(i)}), 1, 15), '0189', 'wxyz'))`;
const userId = (u: string) => sql`('usr_' || translate(substr(md5('U' || ${sql.raw(u)}), 1, 20), '0189', 'wxyz'))`;

/** Adds unit `unit` of the dataset (0 is D itself; 1–9 make D×10) in one transaction. */
export async function addUnit(database: Database, unit: number): Promise<void> {
  const t0 = unit * UNIT.tenants;
  const u0 = unit * UNIT.users;
  const tn = UNIT.tenants;
  const now = new Date();
  await withSystem(database.db, async (trx) => {
    await sql`
      INSERT INTO users (id, email, name, password_hash, email_verified_at, platform_role, created_at, updated_at)
      SELECT ${userId('u')}, 'd' || u || '@dataset.test', NULL, NULL, ${now}::timestamptz, NULL, ${now}::timestamptz, ${now}::timestamptz
      FROM generate_series(${u0}::int, ${u0 + UNIT.users - 1}::int) AS u
    `.execute(trx);
    await sql`
      INSERT INTO tenants (id, slug, name, platform_owned, created_at, updated_at)
      SELECT ${tenantId('i')}, 'd-' || i, 'Dataset tenant ' || i, false, ${now}::timestamptz, ${now}::timestamptz
      FROM generate_series(${t0}::int, ${t0 + tn - 1}::int) AS i
    `.execute(trx);
    // Level by level: a tenant's path is computed from its parent's.
    for (let depth = 0; 2 ** depth <= UNIT.treeSize; depth++) {
      await sql`
        INSERT INTO tenant_tree (tenant_id, parent_id)
        SELECT ${tenantId('i')}, CASE WHEN i % ${UNIT.treeSize} = 0 THEN NULL ELSE ${tenantId(`(i - i % ${UNIT.treeSize} + (i % ${UNIT.treeSize} - 1) / 2)`)} END
        FROM generate_series(${t0}::int, ${t0 + tn - 1}::int) AS i
        WHERE floor(log(2, (i % ${UNIT.treeSize}) + 1)) = ${depth}
      `.execute(trx);
    }
    await sql`
      INSERT INTO roles (tenant_id, key, name, description, scope, permissions, created_at, updated_at)
      SELECT ${tenantId('i')}, 'auditor', 'Auditor', NULL, 'tenant_and_descendants', ARRAY['tenant.read', 'members.read'], ${now}::timestamptz, ${now}::timestamptz
      FROM generate_series(${t0}::int, ${t0 + tn - 1}::int) AS i
      WHERE i % ${UNIT.customRoleEvery} < ${UNIT.customRolesPerTen}
    `.execute(trx);
    // Each user: home tenant h, second tenant s (never h).
    await sql`
      CREATE TEMP TABLE dataset_memberships ON COMMIT DROP AS
      SELECT u, h, s, CASE WHEN u % 10 = 0 THEN 'owner' WHEN u % 10 = 1 THEN 'admin' ELSE 'member' END AS home_role,
             CASE WHEN s % ${UNIT.customRoleEvery} < ${UNIT.customRolesPerTen} AND u % 3 = 0 THEN 'auditor' ELSE 'member' END AS second_role
      FROM (
        SELECT u, h, CASE WHEN x = h THEN ${t0} + (x - ${t0} + 1) % ${tn} ELSE x END AS s
        FROM (SELECT u, ${t0} + (u - ${u0}) / 10 AS h, ${t0} + ((u - ${u0})::bigint * 7919 % ${tn})::int AS x
              FROM generate_series(${u0}::int, ${u0 + UNIT.users - 1}::int) AS u) a
      ) b
    `.execute(trx);
    await sql`
      INSERT INTO memberships (tenant_id, user_id, kind, shadow_of, created_at)
      SELECT ${tenantId('h')}, ${userId('u')}, 'direct', NULL, ${now}::timestamptz FROM dataset_memberships
      UNION ALL SELECT ${tenantId('s')}, ${userId('u')}, 'direct', NULL, ${now}::timestamptz FROM dataset_memberships
    `.execute(trx);
    await sql`
      INSERT INTO membership_roles (tenant_id, user_id, role_key)
      SELECT ${tenantId('h')}, ${userId('u')}, home_role FROM dataset_memberships
      UNION ALL SELECT ${tenantId('s')}, ${userId('u')}, second_role FROM dataset_memberships
    `.execute(trx);
  });
  // Fresh statistics for the planner, as autovacuum would give a database that grew this way in time (only the
  // tables' owner may analyze them): without them the figure at D measures stale plans, not the data.
  await database.withOwner((owner) => sql`ANALYZE`.execute(owner));
}

/** A fixed sample of questions in unit 0: person j×97's home tenant's first child (or the home), and their second tenant. */
export async function samplePairs(database: Database, count = 1_000): Promise<Array<{ subject: Subject; tenantId: string }>> {
  const rows = await withSystem(database.db, (trx) =>
    sql<{ user_id: string; tenant_id: string }>`
      SELECT ${userId('u')} AS user_id,
             CASE WHEN j % 2 = 0 THEN ${tenantId(`(h - h % ${UNIT.treeSize} + least(2 * (h % ${UNIT.treeSize}) + 1, ${UNIT.treeSize - 1}))`)} ELSE ${tenantId('h')} END AS tenant_id
      FROM (SELECT j, (j * 97) % ${UNIT.users} AS u, ((j * 97) % ${UNIT.users}) / 10 AS h FROM generate_series(0, ${count - 1}) AS j) q
    `.execute(trx),
  );
  return rows.rows.map((r) => ({ subject: { userId: r.user_id, isSuperAdmin: false }, tenantId: r.tenant_id }));
}

/** The warm check over the sample: every pair asked once first, then round and round. */
export async function warmSampleCheck(database: Database, preset: Preset, pairs: Array<{ subject: Subject; tenantId: string }>): Promise<() => Promise<boolean>> {
  const resolver = new AccessResolver({ db: database.db, preset });
  for (const p of pairs) await resolver.forUser(p.subject, p.tenantId);
  let next = 0;
  return async () => {
    const p = pairs[next++ % pairs.length] as (typeof pairs)[number];
    return (await resolver.forUser(p.subject, p.tenantId)).permissions.has(PERMISSION);
  };
}

/** The cold check over the sample: the cache emptied before each question. */
export function coldSampleCheck(database: Database, preset: Preset, pairs: Array<{ subject: Subject; tenantId: string }>): () => Promise<boolean> {
  const resolver = new AccessResolver({ db: database.db, preset });
  let next = 0;
  return async () => {
    const p = pairs[next++ % pairs.length] as (typeof pairs)[number];
    resolver.invalidate('*');
    return (await resolver.forUser(p.subject, p.tenantId)).permissions.has(PERMISSION);
  };
}
