import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sql } from 'kysely';
import { ManualClock } from '../../src/platform/clock.ts';
import { readTenant, withTenant } from '../../src/platform/db/context.ts';
import { findIsolationProblems } from '../../src/platform/db/safety.ts';
import { purgeDueTenants } from '../../src/tenants/deletion.service.ts';
import { createKey, machineToken } from '../helpers/api-keys.ts';
import { testEngines } from '../helpers/database.ts';
import { tenantScopedTables } from '../helpers/snapshot.ts';
import { assertProblem, enrol } from '../helpers/users.ts';
import { writeBody } from './routes.ts';
import { hostileWorld, type Method, type World } from './world.ts';

/**
 * Issue 14, isolation below and around the API (ASVS 5.0 V8.4, OWASP API1/API5:2023): the application's own database
 * role, inside A's context, neither sees nor touches B's rows, and outside any context sees none at all; a deleted
 * tenant's credentials die with it and its id and slug stay taken; operators' shadow memberships are nobody else's to
 * see or change; caches never answer for another tenant; and no registered route answers without credentials unless
 * it is on the list of public routes.
 */

/** Routes anyone may call: each is public by design (sign-in, sign-up, links from mails, discovery, health). */
const PUBLIC_ROUTES = new Set([
  'GET /healthz',
  'GET /readyz',
  'GET /metrics',
  'GET /.well-known/jwks.json',
  'GET /.well-known/openid-configuration',
  'POST /api/v1/auth/login',
  'POST /api/v1/auth/refresh',
  'POST /api/v1/auth/logout',
  'POST /api/v1/auth/signup',
  'POST /api/v1/auth/verify-email',
  'POST /api/v1/auth/password/forgot',
  'POST /api/v1/auth/password/reset',
  'POST /api/v1/setup',
  'GET /api/v1/invitations/:token',
  'POST /api/v1/oauth/token',
  'POST /api/v1/oauth/introspect',
  'GET /api/v1/portal',
]);

/** Valid bodies for the body-taking routes outside a tenant's path (those inside come from ./routes.ts). */
const OTHER_BODIES: Record<string, (w: World) => object> = {
  'POST /api/v1/auth/active-tenant': (w) => ({ tenantId: w.a.id }),
  'PATCH /api/v1/auth/me': () => ({ name: 'Nobody' }),
  'PUT /api/v1/admin/users/{userId}/default-tenant': (w) => ({ tenantId: w.a.id }),
  'POST /api/v1/tenants': () => ({ name: 'Anonymous', slug: 'anonymous-tenant' }),
  'POST /api/v1/check': (w) => ({ tenantId: w.a.id, permission: 'tenant.read' }),
  'POST /api/v1/admin/webhooks': () => ({ url: 'https://203.0.113.66/anonymous' }),
  'PATCH /api/v1/admin/webhooks/{webhookId}': () => ({ enabled: false }),
  'POST /api/v1/auth/verify-email/resend': () => ({}),
};

/** Tables a tenant's context may read beyond itself, by design (test/platform/isolation.test.ts says why). */
const READABLE_EVERYWHERE = new Set(['tenant_tree']);

for (const engine of testEngines()) {
  describe(`hostile: isolation below the API, deletion, shadows, caches, routes [${engine}]`, () => {
    let w: World;
    let routes: Array<{ method: string; url: string }> = [];
    hostileWorld(engine, async (built) => {
      w = built;
      routes = registeredRoutes(w.t.app.printRoutes({ commonPrefix: false }));
    });

    it("reads and changes none of B's rows in any tenant-scoped table as the application role in A's context, and refuses rows that name B", async () => {
      const tables = (await tenantScopedTables(w.t.database)).filter((t) => !READABLE_EVERYWHERE.has(t));
      assert.ok(tables.length >= 9, tables.join(', '));
      const bIds = [w.b.id, ...w.b.chain];
      for (const table of tables) {
        const seen = await readTenant(w.t.database.db, w.a.id, (trx) =>
          sql<{ n: string }>`SELECT count(*) AS n FROM ${sql.table(table)} WHERE tenant_id = ANY(${bIds})`.execute(trx),
        );
        assert.equal(Number(seen.rows[0]?.n), 0, `${table}: B's rows visible in A's context`);
        const touched = await withTenant(w.t.database.db, w.a.id, (trx) =>
          sql`UPDATE ${sql.table(table)} SET tenant_id = tenant_id WHERE tenant_id = ANY(${bIds})`.execute(trx),
        ).then(
          (r) => Number(r.numAffectedRows ?? 0n),
          (error: Error) => (/permission denied|append-only/.test(error.message) ? 0 : Promise.reject(error)),
        );
        assert.equal(touched, 0, `${table}: B's rows updatable in A's context`);
      }
      await assert.rejects(
        withTenant(w.t.database.db, w.a.id, (trx) =>
          sql`INSERT INTO roles (tenant_id, key, name, scope, permissions, created_at, updated_at) VALUES (${w.b.id}, 'planted', 'Planted', 'tenant', '{members.manage}', now(), now())`.execute(
            trx,
          ),
        ),
        /row-level security/,
      );
    });

    it('shows the application role no row of any tenant-scoped table outside a context', async () => {
      for (const table of (await tenantScopedTables(w.t.database)).filter((t) => !READABLE_EVERYWHERE.has(t))) {
        const rows = await w.t.database.db.transaction().execute((trx) => sql<{ n: string }>`SELECT count(*) AS n FROM ${sql.table(table)}`.execute(trx));
        assert.equal(Number(rows.rows[0]?.n), 0, `${table} shows rows with no context`);
      }
    });

    it('runs as a role row-level security confines (not superuser, not BYPASSRLS, FORCE on owned tables), and would refuse to start as the owner', async () => {
      assert.deepEqual(await findIsolationProblems(w.t.database.db), []);
      const asOwner = await w.t.database.withOwner((owner) => findIsolationProblems(owner));
      assert.ok(
        asOwner.some((p) => /superuser|BYPASSRLS|FORCE/.test(p)),
        asOwner.join('\n'),
      );
    });

    it("ends a deleted tenant's keys, machine tokens and its only-members' sessions (401), hides it from everyone (404), and keeps its id and slug taken for good", async () => {
      const leaf = w.a.chain.at(-1)!;
      const leafSlug = (await w.call('GET', `/api/v1/tenants/${leaf}`, w.a.owner.accessToken)).json().slug as string;
      const member = await enrol(w.t, leaf, ['admin']);
      const key = await createKey(w.t, w.a.owner.accessToken, leaf, ['tenant.read']);
      const token = await machineToken(w.t, key);
      const deleted = await w.call('DELETE', `/api/v1/tenants/${leaf}`, w.a.owner.accessToken, { confirm: leafSlug });
      assert.ok([200, 202].includes(deleted.statusCode), deleted.body);
      const later = new ManualClock(new Date(w.t.clock.now().getTime() + 400 * 86_400_000));
      assert.ok((await purgeDueTenants({ db: w.t.database.db, clock: later })).some((r) => r.tenantId === leaf));
      assertProblem(await w.call('GET', `/api/v1/tenants/${leaf}`, key.secret), 401, 'invalid_api_key');
      assert.equal((await w.call('GET', `/api/v1/tenants/${leaf}`, token)).statusCode, 401);
      // Their only membership is gone, so is their account (SPEC: people left with none are deleted), so is their session.
      assertProblem(await w.call('GET', `/api/v1/tenants/${leaf}`, member.accessToken), 401, 'session_ended');
      assertProblem(await w.call('GET', `/api/v1/tenants/${leaf}`, w.operator.accessToken), 404, 'tenant_not_found');
      // The slug stays with the tombstone (finding: the purge freed it, so old links led to whoever took it next).
      assertProblem(await w.call('POST', '/api/v1/tenants', w.b.owner.accessToken, { name: 'Squatter', slug: leafSlug }), 409, 'slug_taken');
      const tombstone = await w.t.database.withOwner((db) => sql<{ status: string; slug: string }>`SELECT status, slug FROM tenants WHERE id = ${leaf}`.execute(db));
      assert.deepEqual(tombstone.rows, [{ status: 'deleted', slug: leafSlug }]);
    });

    it("keeps operators' shadow memberships out of tenant admins' sight and reach, and never counts one as the owner", async () => {
      const listed = (await w.call('GET', `/api/v1/tenants/${w.a.id}/members`, w.a.owner.accessToken)).json().members.map((m: { userId: string }) => m.userId);
      assert.ok(!listed.includes(w.operator.userId), 'the shadow membership is listed');
      assertProblem(await w.call('PATCH', `/api/v1/tenants/${w.a.id}/members/${w.operator.userId}`, w.a.owner.accessToken, { roles: ['member'] }), 404, 'member_not_found');
      assertProblem(await w.call('DELETE', `/api/v1/tenants/${w.a.id}/members/${w.operator.userId}`, w.a.owner.accessToken), 404, 'member_not_found');
      assertProblem(
        await w.call('POST', `/api/v1/tenants/${w.a.id}/transfer-ownership`, w.a.owner.accessToken, { userId: w.operator.userId, confirm: w.a.slug }),
        404,
        'member_not_found',
      );
      // The operator's shadow owner role does not make A's only direct owner removable.
      assertProblem(await w.call('DELETE', `/api/v1/tenants/${w.a.id}/members/${w.a.owner.userId}`, w.a.owner.accessToken), 409, 'last_owner');
    });

    it('never answers from a warm cache for the wrong tenant: a person and a key in A, asking about B, and a person in both after leaving one', async () => {
      for (const credential of [w.a.member.accessToken, w.a.readKey.secret, w.both.accessToken]) {
        assert.equal((await w.call('GET', `/api/v1/tenants/${w.a.id}/members`, credential)).statusCode, 200);
      }
      for (const credential of [w.a.member.accessToken, w.a.readKey.secret]) assert.equal((await w.call('GET', `/api/v1/tenants/${w.b.id}/members`, credential)).statusCode, 404);
      const inB = await w.call('GET', `/api/v1/tenants/${w.b.id}/members`, w.both.accessToken);
      assert.equal(inB.statusCode, 200);
      assert.ok(!inB.body.includes(w.a.owner.userId), "A's people in B's list");
      const check = await w.call('POST', '/api/v1/check', w.both.accessToken, { tenantId: w.b.id, permission: 'members.read' });
      assert.equal(check.json().allowed, true);
      assert.equal((await w.call('DELETE', `/api/v1/tenants/${w.b.id}/members/${w.both.userId}`, w.b.owner.accessToken)).statusCode, 204);
      assert.equal((await w.call('GET', `/api/v1/tenants/${w.b.id}/members`, w.both.accessToken)).statusCode, 404);
      assert.equal((await w.call('POST', '/api/v1/check', w.both.accessToken, { tenantId: w.b.id, permission: 'members.read' })).json().allowed, false);
      assert.equal((await w.call('GET', `/api/v1/tenants/${w.a.id}/members`, w.both.accessToken)).statusCode, 200, 'A still answers');
    });

    it('fails for any registered route that answers without credentials and is not on the list of public routes', async () => {
      assert.ok(routes.length >= 50, `${routes.length} routes seen`);
      const open: string[] = [];
      for (const { method, url } of routes) {
        // The portal's pages and the API's own documentation are public by design.
        if (
          PUBLIC_ROUTES.has(`${method} ${url}`) ||
          url.startsWith('/api/docs') ||
          (!url.startsWith('/api/') && !url.startsWith('/.well-known') && !['/healthz', '/readyz', '/metrics'].includes(url))
        )
          continue;
        const concrete = url
          .replace(/:tenantId/g, w.a.id)
          .replace(/:userId/g, w.a.member.userId)
          .replace(/:[A-Za-z]+/g, 'x');
        // A body that passes the schema, so what answers is the route's authorization and not its validation.
        const documented = url.replace(/:([A-Za-z]+)/g, '{$1}');
        const body =
          writeBody({ method: method as Method, path: documented, hasBody: true }, { userId: w.a.member.userId, slug: w.a.slug }) ?? OTHER_BODIES[`${method} ${documented}`]?.(w);
        const res = await w.t.app.inject({ method: method as Method, url: concrete, ...(body === undefined ? {} : { payload: body }) });
        if (res.statusCode !== 401) open.push(`${method} ${url}: ${res.statusCode}`);
      }
      assert.deepEqual(open, []);
      // The public list names only routes that exist.
      const registered = new Set(routes.map((r) => `${r.method} ${r.url}`));
      assert.deepEqual(
        [...PUBLIC_ROUTES].filter((r) => !registered.has(r)),
        [],
      );
    });
  });
}

/** Every method and path the app registered, from Fastify's route tree (`printRoutes`), HEAD and OPTIONS aside. */
function registeredRoutes(tree: string): Array<{ method: string; url: string }> {
  const routes: Array<{ method: string; url: string }> = [];
  const paths: string[] = [];
  for (const line of tree.split('\n')) {
    const match = /^((?:[│ ] {3})*)[├└]── (.+?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (match === null) continue;
    const depth = (match[1] ?? '').length / 4;
    const path = `${depth === 0 ? '' : paths[depth - 1]}${match[2]}`;
    paths[depth] = path;
    for (const method of (match[3] ?? '').split(', ')) if (method !== '' && method !== 'HEAD' && method !== 'OPTIONS') routes.push({ method, url: path });
  }
  return routes;
}
