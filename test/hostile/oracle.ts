import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { verifyChain } from '../../src/audit/audit.service.ts';
import type { Database } from '../../src/platform/db/database.ts';
import type { Preset } from '../../src/presets/presets.ts';
import type { TestApp } from '../helpers/app.ts';
import { asOwner } from '../helpers/snapshot.ts';
import { WORLD_MAX_DEPTH, type World } from './world.ts';

/**
 * What must hold after every family of the hostile suite, whatever the family did (issue 14): the database's
 * invariants, read as the schema owner (row-level security filters nothing), and the list oracle — what a list shows
 * anyone, the single-object reads and `/check` confirm; what it does not show them, they deny.
 */

function ownerRows<T>(database: Database, query: string): Promise<T[]> {
  return asOwner(database, async (trx) => (await sql.raw<T>(query).execute(trx)).rows);
}

/** Every broken invariant, described; [] when all hold. */
export async function brokenInvariants(database: Database, preset: Preset, maxDepth = WORLD_MAX_DEPTH): Promise<string[]> {
  const problems: string[] = [];
  const owner = preset.ownerRole.replace(/'/g, "''");
  const ownerless = await ownerRows<{ id: string }>(
    database,
    `SELECT t.id FROM tenants t WHERE t.status <> 'deleted' AND NOT t.platform_owned AND NOT EXISTS (
       SELECT 1 FROM membership_roles r JOIN memberships m USING (tenant_id, user_id)
       WHERE r.tenant_id = t.id AND m.kind = 'direct' AND r.role_key = '${owner}')`,
  );
  for (const { id } of ownerless) problems.push(`tenant ${id} has no direct ${preset.ownerRole}`);

  const badPaths = await ownerRows<{ id: string; path: string[] }>(
    database,
    `SELECT t.tenant_id AS id, t.path FROM tenant_tree t LEFT JOIN tenant_tree p ON p.tenant_id = t.parent_id
     WHERE t.path[cardinality(t.path)] <> t.tenant_id
        OR cardinality(t.path) > ${maxDepth}
        OR (SELECT count(DISTINCT x) FROM unnest(t.path) x) <> cardinality(t.path)
        OR (t.parent_id IS NULL) <> (cardinality(t.path) = 1)
        OR (t.parent_id IS NOT NULL AND (p.tenant_id IS NULL OR t.path[1:cardinality(t.path) - 1] <> p.path))`,
  );
  for (const { id, path } of badPaths) problems.push(`tenant ${id} has a broken tree path ${JSON.stringify(path)} (cycle, depth over ${maxDepth}, or not its parent's path)`);

  const twice = await ownerRows<{ tenant_id: string; user_id: string }>(database, 'SELECT tenant_id, user_id FROM memberships GROUP BY 1, 2 HAVING count(*) > 1');
  for (const m of twice) problems.push(`${m.user_id} is a member of ${m.tenant_id} twice`);
  const orphanRoles = await ownerRows<{ tenant_id: string; user_id: string }>(
    database,
    'SELECT r.tenant_id, r.user_id FROM membership_roles r LEFT JOIN memberships m USING (tenant_id, user_id) WHERE m.user_id IS NULL',
  );
  for (const r of orphanRoles) problems.push(`${r.user_id} holds roles in ${r.tenant_id} without a membership`);

  // A role held, invited or granted is the preset's or one defined on the tenant's own path — never another tree's.
  const builtIn = [...preset.roles.keys()].map((k) => `'${k.replace(/'/g, "''")}'`).join(', ');
  const foreignRoles = await ownerRows<{ tenant_id: string; role_key: string; source: string }>(
    database,
    `WITH held AS (
       SELECT tenant_id, role_key, 'membership' AS source FROM membership_roles
       UNION ALL SELECT tenant_id, unnest(roles), 'invitation' FROM invitations WHERE status = 'pending')
     SELECT h.tenant_id, h.role_key, h.source FROM held h JOIN tenant_tree tt USING (tenant_id)
     WHERE h.role_key NOT IN (${builtIn})
       AND NOT EXISTS (SELECT 1 FROM roles r WHERE r.key = h.role_key AND r.tenant_id = ANY (tt.path))`,
  );
  for (const r of foreignRoles) problems.push(`${r.source} in ${r.tenant_id} names role ${r.role_key}, defined nowhere on its path`);

  const shadowsWithoutSource = await ownerRows<{ tenant_id: string; user_id: string }>(
    database,
    `SELECT m.tenant_id, m.user_id FROM memberships m LEFT JOIN tenants a ON a.id = m.shadow_of
     WHERE m.kind = 'shadow' AND (a.id IS NULL OR NOT a.is_admin_tenancy)`,
  );
  for (const m of shadowsWithoutSource) problems.push(`${m.user_id}'s shadow membership of ${m.tenant_id} comes from no admin tenancy`);

  const tenants = await ownerRows<{ id: string }>(database, 'SELECT DISTINCT tenant_id AS id FROM audit_events');
  for (const { id } of tenants) {
    const chain = await verifyChain(database.db, id);
    if (!chain.valid) problems.push(`the audit chain of ${id} is broken at ${chain.brokenAt?.seq}: ${chain.brokenAt?.reason}`);
  }
  return problems;
}

interface Caller {
  name: string;
  credential: string;
}

/** The world's people and keys, for the list oracle. */
export function callers(w: World): Caller[] {
  return [
    { name: 'operator', credential: w.operator.accessToken },
    ...(['a', 'b'] as const).flatMap((s) => [
      { name: `${s} owner`, credential: w[s].owner.accessToken },
      { name: `${s} admin`, credential: w[s].admin.accessToken },
      { name: `${s} member`, credential: w[s].member.accessToken },
      { name: `${s} auditor`, credential: w[s].auditor.accessToken },
      { name: `${s} read key`, credential: w[s].readKey.secret },
    ]),
    { name: 'member of both', credential: w.both.accessToken },
  ];
}

/**
 * The list oracle: for each caller, every tenant their lists show (`GET /tenants`, and the children and tree of each)
 * reads with `GET /tenants/{id}` and passes `/check tenant.read`; every other tenant of the world does neither; every
 * member, key, invitation and role a tenant's lists show belongs to that tenant in the database.
 */
export async function listOracleProblems(w: World): Promise<string[]> {
  const problems: string[] = [];
  const everyTenant = [w.a.id, w.b.id, ...w.a.chain, ...w.b.chain];
  for (const caller of callers(w)) {
    const listed = new Set<string>();
    const mine = await w.call('GET', '/api/v1/tenants', caller.credential);
    if (mine.statusCode === 200) for (const tenant of mine.json().tenants as Array<{ id: string }>) listed.add(tenant.id);
    for (const id of [...listed]) {
      for (const below of ['children', 'tree'] as const) {
        const res = await w.call('GET', `/api/v1/tenants/${id}/${below}`, caller.credential);
        if (res.statusCode !== 200) continue;
        for (const match of res.body.matchAll(/"id":"(t[a-z0-9]{15})"/g)) if (match[1] !== undefined) listed.add(match[1]);
      }
    }
    for (const id of everyTenant) {
      const read = await w.call('GET', `/api/v1/tenants/${id}`, caller.credential);
      const check = await w.call('POST', '/api/v1/check', caller.credential, { tenantId: id, permission: 'tenant.read' });
      const allowed = check.statusCode === 200 && check.json().allowed === true;
      if (listed.has(id) && (read.statusCode !== 200 || !allowed)) problems.push(`${caller.name} lists ${id} but reads it ${read.statusCode}, check ${check.body}`);
      if (!listed.has(id) && (read.statusCode !== 404 || allowed)) problems.push(`${caller.name} does not list ${id} but reads it ${read.statusCode}, check ${check.body}`);
    }
  }

  for (const side of [w.a, w.b]) {
    const owned = await ownerRows<{ kind: string; id: string }>(
      w.t.database,
      `SELECT 'member' AS kind, user_id AS id FROM memberships WHERE tenant_id = '${side.id}' AND kind = 'direct'
       UNION ALL SELECT 'key', id FROM api_keys WHERE tenant_id = '${side.id}'
       UNION ALL SELECT 'invitation', id FROM invitations WHERE tenant_id = '${side.id}'
       UNION ALL SELECT 'role', key FROM roles WHERE tenant_id = '${side.id}'`,
    );
    const belongs = (kind: string, id: string) => owned.some((o) => o.kind === kind && o.id === id) || (kind === 'role' && w.t.app.services.preset.roles.has(id));
    const lists: Array<[string, string, (body: any) => string[]]> = [
      ['member', 'members', (body) => body.members.map((m: { userId: string }) => m.userId)],
      ['key', 'api-keys', (body) => body.apiKeys.map((k: { id: string }) => k.id)],
      ['invitation', 'invitations', (body) => body.invitations.map((i: { id: string }) => i.id)],
      ['role', 'roles', (body) => body.roles.map((r: { key: string }) => r.key)],
    ];
    for (const [kind, path, ids] of lists) {
      const res = await w.call('GET', `/api/v1/tenants/${side.id}/${path}`, side.owner.accessToken);
      assert.equal(res.statusCode, 200, res.body);
      for (const id of ids(res.json())) if (!belongs(kind, id)) problems.push(`${side.id}'s ${path} lists ${id}, which is not its ${kind}`);
    }
  }
  return problems;
}

/**
 * Where a secret of the world shows up that it must not: a log line, an audit row (read as the schema owner) or an
 * error body the app sent. A secret is matched whole, and by its distinctive tail (a logged prefix would still leak
 * the rest). `extra` adds secrets a family made itself.
 */
export async function leakedSecrets(w: World, extra: readonly string[] = []): Promise<string[]> {
  const audit = await ownerRows<{ row: string }>(w.t.database, 'SELECT to_jsonb(e)::text AS row FROM audit_events e');
  const places: Array<[string, string]> = [
    ...w.t.logs.map((line): [string, string] => ['log', JSON.stringify(line)]),
    ...audit.map((r): [string, string] => ['audit row', r.row]),
    ...w.errorBodies.map((body): [string, string] => ['error body', body]),
  ];
  const found: string[] = [];
  for (const secret of [...w.secrets, ...extra]) {
    const tail = secret.slice(-24);
    for (const [where, text] of places) {
      if (text.includes(secret) || text.includes(tail)) found.push(`${where} holds …${tail.slice(-8)}: ${text.slice(0, 200)}`);
    }
  }
  return found;
}

/** Every check, as one assertion: what every family's `after` runs. */
export async function assertWorldHolds(w: World): Promise<void> {
  assert.deepEqual([...(await brokenInvariants(w.t.database, w.t.app.services.preset)), ...(await listOracleProblems(w)), ...(await leakedSecrets(w))], []);
}

/** For families without the fixture world: the database's invariants must hold when the family is done; then close. */
export async function closeChecked(t: TestApp): Promise<void> {
  try {
    assert.deepEqual(await brokenInvariants(t.database, t.app.services.preset, 32), []);
  } finally {
    await t.close();
  }
}
