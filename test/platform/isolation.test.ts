import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Kysely, sql } from 'kysely';
import { createOperator } from '../../src/accounts/operator.service.ts';
import { requestApproval } from '../../src/approvals/approvals.service.ts';
import type { Database } from '../../src/platform/db/database.ts';
import { withSystem, withTenant } from '../../src/platform/db/context.ts';
import { findIsolationProblems } from '../../src/platform/db/safety.ts';
import { newTenantId } from '../../src/platform/ids.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { createTestDatabase, testEngines } from '../helpers/database.ts';
import { tenantScopedTables } from '../helpers/snapshot.ts';
import { signUpInvited } from '../helpers/invited.ts';
import { seedTenant } from '../helpers/tenants.ts';
import { bearer, GOOD_PASSWORD, signIn, uniqueEmail } from '../helpers/users.ts';

/** Tables that must be among those discovered; any other table with a `tenant_id` column is covered too. */
const KNOWN_SCOPED_TABLES = [
  'api_keys',
  'approval_requests',
  'audit_events',
  'invitations',
  'membership_roles',
  'memberships',
  'roles',
  'tenant_features',
  'tenant_tree',
  'webhook_deliveries',
  'webhook_endpoints',
];

/**
 * The documented exceptions to "a tenant's context shows and changes only that tenant's rows"
 * (ARCHITECTURE.md, "Contexts beyond the tenant" and "Invariants in the database"). Each is narrow: a
 * table not named here gets the plain rule, and a new exception has to be added here, with its reason.
 */
const EXCEPTIONS = {
  /** Tables readable in every context, and with none: the tree (ids only), because permission checks walk it. */
  readableEverywhere: new Set(['tenant_tree']),
  /** Tables whose rows a tenant's context may also read from its ancestors: custom roles are usable below where they are defined. */
  readableFromAncestors: new Set(['roles']),
  /** Tables an ancestor's context may UPDATE in its subtree: the tree, because a move rewrites every descendant's path. */
  updatableFromAncestors: new Set(['tenant_tree']),
  /** Statements the application role holds no privilege for, so they are refused whoever's rows they aim at. */
  notGranted: {
    // Audit events are append-only for the application; only the SECURITY DEFINER purge removes them.
    audit_events: new Set(['UPDATE', 'DELETE']),
    // A chain's head only moves forward; only the SECURITY DEFINER purge removes it.
    audit_heads: new Set(['DELETE']),
    // Revoking an API key keeps its row (revoked_at), for the listing and the audit trail.
    api_keys: new Set(['DELETE']),
  } as Record<string, Set<'UPDATE' | 'DELETE'>>,
  /**
   * Tables whose WITH CHECK does not look at tenant_id, so moving a row to another tenant is stopped by the
   * table's keys and checks instead: the tree's update policy checks that the row stays in the current
   * subtree (its path), and the moved id then collides with the other tenant's own row (or its parent_id).
   */
  movedRowStoppedByKey: new Set(['tenant_tree']),
};

const RLS_REFUSAL = /row-level security/;
const NOT_GRANTED = /permission denied/;

for (const engine of testEngines()) {
  describe(`row-level security [${engine}]`, () => {
    let database: Database;
    let a: string;
    let b: string;

    before(async () => {
      database = await createTestDatabase(engine);
      a = (await seedTenant(database, { name: 'Tenant A' })).tenantId;
      b = (await seedTenant(database, { name: 'Tenant B' })).tenantId;
    });
    after(() => database.close());

    const names = async () => (await withSystem(database.db, (trx) => trx.selectFrom('tenants').select('name').orderBy('name').execute())).map((r) => r.name);

    it('shows only the context tenant', async () => {
      const rows = await withTenant(database.db, a, (trx) => trx.selectFrom('tenants').select('id').execute());
      assert.deepEqual(rows, [{ id: a }]);
    });

    it('cannot update or delete another tenant from inside a context', async () => {
      const updated = await withTenant(database.db, a, (trx) => trx.updateTable('tenants').set({ name: 'hijacked' }).where('id', '=', b).executeTakeFirst());
      assert.equal(updated.numUpdatedRows, 0n);
      const deleted = await withTenant(database.db, a, (trx) => trx.deleteFrom('tenants').where('id', '=', b).executeTakeFirst());
      assert.equal(deleted.numDeletedRows, 0n);
      assert.deepEqual(await names(), ['Tenant A', 'Tenant B']);
    });

    it('cannot write a row for another tenant, nor move its own row there', async () => {
      const c = newTenantId();
      await assert.rejects(
        withTenant(database.db, a, (trx) =>
          trx
            .insertInto('tenants')
            .values({ id: c, slug: `c-${c}`, name: 'C', updated_at: new Date() })
            .execute(),
        ),
        /row-level security/,
      );
      await assert.rejects(
        withTenant(database.db, a, (trx) => trx.updateTable('tenants').set({ id: c }).where('id', '=', a).execute()),
        /row-level security/,
      );
      assert.deepEqual(await names(), ['Tenant A', 'Tenant B']);
    });

    it('sees no tenant rows at all without a context', async () => {
      assert.deepEqual(await database.db.selectFrom('tenants').selectAll().execute(), []);
      const outside = await database.db.transaction().execute((trx) => trx.selectFrom('tenants').selectAll().execute());
      assert.deepEqual(outside, []);
    });

    it('does not carry a context past its transaction, even on a reused connection', async () => {
      for (let i = 0; i < 10; i++) {
        await withTenant(database.db, i % 2 ? a : b, (trx) => trx.selectFrom('tenants').select('id').execute());
        const leaked = await sql<{ ctx: string | null }>`SELECT tenantry_tenant() AS ctx`.execute(database.db);
        assert.equal(leaked.rows[0]?.ctx, null);
      }
    });

    it('keeps concurrent contexts apart', async () => {
      const seen = await Promise.all(
        Array.from({ length: 20 }, (_, i) => {
          const id = i % 2 ? a : b;
          return withTenant(database.db, id, async (trx) => ({ id, rows: await trx.selectFrom('tenants').select('id').execute() }));
        }),
      );
      for (const { id, rows } of seen) assert.deepEqual(rows, [{ id }]);
    });

    it('runs application queries as a role that row-level security binds', async () => {
      assert.deepEqual(await findIsolationProblems(database.db), []);
      const role = await sql<{ user: string }>`SELECT current_user AS user`.execute(database.db);
      assert.equal(role.rows[0]?.user, 'tenantry_app');
    });

    it('reports the owner connection as unsafe, which start-up refuses', async () => {
      const problems = await database.withOwner((owner) => findIsolationProblems(owner as never));
      assert.ok(
        problems.some((p) => p.includes('superuser')),
        problems.join('; '),
      );
    });
  });
}

for (const engine of testEngines()) {
  describe(`row-level security on every tenant-scoped table [${engine}]`, () => {
    let t: TestApp;
    /** Every public table with a tenant_id column, from information_schema. */
    let tables: string[];
    /** Two unrelated roots, and a child of `a` (for the exceptions that follow the tree). */
    let a: string;
    let b: string;
    let child: string;
    let pathOf: Map<string, string[]>;

    before(async () => {
      t = await createTestApp(engine, { env: { TENANTRY_PRESET: 'msp', TENANTRY_AUTH_RATE_LIMIT: '1000' } });
      const api = async (method: 'POST' | 'PUT', url: string, token: string, payload: object) => {
        const res = await t.app.inject({ method, url: `/api/v1${url}`, headers: bearer(token), payload });
        assert.ok(res.statusCode === 200 || res.statusCode === 201, `${method} ${url}: ${res.statusCode} ${res.body}`);
        return res.json();
      };
      // Through the real API, so each table holds the rows the application itself writes.
      const furnish = async (tenantId: string, token: string, roleKey: string, userId: string) => {
        // The msp preset holds nothing for approval, so the request is recorded through the service itself.
        await requestApproval(
          { db: t.database.db, clock: t.clock, preset: t.app.services.preset },
          { userId, audit: { actorType: 'user', actorId: userId, via: 'direct', requestId: null, ip: null } },
          tenantId,
          'tenant.delete',
          { confirm: 'isolation-probe' },
        );
        await api('POST', `/tenants/${tenantId}/roles`, token, { key: roleKey, name: 'Isolation probe', scope: 'tenant', permissions: ['tenant.read'] });
        await api('POST', `/tenants/${tenantId}/invitations`, token, { email: uniqueEmail('invitee'), roles: ['agent'] });
        // A public address (TEST-NET-3, never delivered to here): the endpoint and, once fanned out, the new key's delivery.
        await api('POST', `/tenants/${tenantId}/webhooks`, token, { url: 'https://203.0.113.10/hooks', eventTypes: ['api_key.created'] });
        await api('POST', `/tenants/${tenantId}/api-keys`, token, { name: 'isolation probe', permissions: ['tenant.read'] });
        await api('PUT', `/tenants/${tenantId}/features`, token, { features: { kb: false } });
      };
      // Two customers, onboarded as seed 001 does: the operator adds each tenant and invites its SUPER_ADMIN.
      const operatorEmail = uniqueEmail('operator');
      await createOperator({ db: t.database.db, clock: t.clock, ownerRole: 'super_admin' }, { email: operatorEmail, password: GOOD_PASSWORD });
      const operator = (await signIn(t, operatorEmail)).accessToken;
      a = (await api('POST', '/tenants', operator, { name: 'A', slug: `iso-a-${process.pid}` })).id;
      b = (await api('POST', '/tenants', operator, { name: 'B', slug: `iso-b-${process.pid}` })).id;
      const alice = await signUpInvited(t, operator, a, ['super_admin']);
      const bob = await signUpInvited(t, operator, b, ['super_admin']);
      child = (await api('POST', '/tenants', alice.accessToken, { name: 'A child', slug: `iso-child-${process.pid}`, parentId: a })).id;
      // Role keys differ: a key defined above a tenant is taken there.
      await furnish(a, alice.accessToken, 'probe_a', alice.userId);
      await furnish(child, alice.accessToken, 'probe_child', alice.userId);
      await furnish(b, bob.accessToken, 'probe_b', bob.userId);

      while ((await t.app.services.webhooks.events.runOnce()).delivered > 0);
      tables = await tenantScopedTables(t.database);
      pathOf = new Map((await ownerRows('tenant_tree')).map((r) => [r.tenant_id, (JSON.parse(r.row) as { path: string[] }).path]));
    });
    after(() => t.close());

    type Row = { tenant_id: string; row: string };

    /** Every row of `table` as the schema owner (in the system context too, should the owner not be a superuser). */
    const ownerRows = (table: string): Promise<Row[]> =>
      t.database.withOwner((owner) =>
        owner.transaction().execute(async (trx) => {
          await sql`SELECT set_config('tenantry.system', 'on', true)`.execute(trx);
          return (await sql<Row>`SELECT x.tenant_id, to_jsonb(x)::text AS row FROM ${sql.table(table)} x ORDER BY 2`.execute(trx)).rows;
        }),
      );

    /** Every row of `table` the application role sees in this transaction. */
    const visibleRows = async (trx: Kysely<any>, table: string): Promise<Row[]> =>
      (await sql<Row>`SELECT x.tenant_id, to_jsonb(x)::text AS row FROM ${sql.table(table)} x ORDER BY 2`.execute(trx)).rows;

    /** The tenants whose rows of `table` the context of `ctx` may read (null: no context). */
    const readable = (table: string, ctx: string | null) => (tenantId: string) => {
      if (EXCEPTIONS.readableEverywhere.has(table)) return true;
      if (ctx === null) return false;
      if (EXCEPTIONS.readableFromAncestors.has(table)) return (pathOf.get(ctx) ?? [ctx]).includes(tenantId);
      return tenantId === ctx;
    };

    /** [context, foreign tenant]: unrelated roots both ways, parent on child and child on parent. */
    const pairs = () =>
      [
        [a, b],
        [b, a],
        [a, child],
        [child, a],
      ] as const;
    const name = (id: string) => (id === a ? 'A' : id === b ? 'B' : id === child ? 'A/child' : id);

    it('discovers the tenant-scoped tables, and the API seeded rows in each for every tenant', async () => {
      for (const table of KNOWN_SCOPED_TABLES) assert.ok(tables.includes(table), `${table} not among ${tables.join(', ')}`);
      for (const table of tables) {
        const owners = new Set((await ownerRows(table)).map((r) => r.tenant_id));
        // A new tenant-scoped table fails here until the seeding above writes rows to it.
        for (const id of [a, b, child]) assert.ok(owners.has(id), `${table} has no row for tenant ${name(id)}: seed one`);
      }
      assert.deepEqual(pathOf.get(child), [a, child]);
    });

    it("shows a tenant's context only that tenant's rows, the documented exceptions aside", async (ctx) => {
      for (const table of tables) {
        await ctx.test(table, async () => {
          const all = await ownerRows(table);
          for (const tenant of [a, b, child]) {
            const seen = await withTenant(t.database.db, tenant, (trx) => visibleRows(trx, table));
            assert.deepEqual(
              seen,
              all.filter((r) => readable(table, tenant)(r.tenant_id)),
              `${table} in ${name(tenant)}'s context`,
            );
            assert.ok(
              seen.some((r) => r.tenant_id === tenant),
              `${table}: ${name(tenant)} sees its own rows`,
            );
            if (!EXCEPTIONS.readableEverywhere.has(table)) {
              const foreign = tenant === b ? a : b;
              assert.ok(!seen.some((r) => r.tenant_id === foreign), `${table}: ${name(tenant)} sees ${name(foreign)}'s rows`);
            }
          }
        });
      }
    });

    it('shows no tenant rows without a context', async (ctx) => {
      for (const table of tables) {
        await ctx.test(table, async () => {
          const all = await ownerRows(table);
          const expected = all.filter((r) => readable(table, null)(r.tenant_id));
          assert.deepEqual(await visibleRows(t.database.db, table), expected, `${table}, outside any transaction`);
          assert.deepEqual(await t.database.db.transaction().execute((trx) => visibleRows(trx, table)), expected, `${table}, in a transaction`);
          if (!EXCEPTIONS.readableEverywhere.has(table)) assert.deepEqual(expected, []);
        });
      }
    });

    /**
     * Runs `statement` in `ctx`'s context: the rows it changed, or 'refused' (by privilege), and it fails the
     * test on any other error. A refusal by row-level security is an error too: UPDATE and DELETE only filter.
     */
    async function attempt(ctx: string, kind: 'UPDATE' | 'DELETE', table: string, target: string): Promise<bigint | 'refused'> {
      const statement =
        kind === 'UPDATE'
          ? sql`UPDATE ${sql.table(table)} SET tenant_id = tenant_id WHERE tenant_id = ${target}`
          : sql`DELETE FROM ${sql.table(table)} WHERE tenant_id = ${target}`;
      try {
        return (await withTenant(t.database.db, ctx, (trx) => statement.execute(trx))).numAffectedRows ?? -1n;
      } catch (error) {
        assert.match((error as Error).message, NOT_GRANTED);
        return 'refused';
      }
    }

    it("changes none of another tenant's rows from a tenant's context", async (ctx) => {
      for (const table of tables) {
        await ctx.test(table, async () => {
          const before = await ownerRows(table);
          for (const kind of ['UPDATE', 'DELETE'] as const) {
            const notGranted = EXCEPTIONS.notGranted[table]?.has(kind) ?? false;
            for (const [tenant, foreign] of pairs()) {
              const changed = await attempt(tenant, kind, table, foreign);
              const where = `${kind} ${table}: ${name(tenant)} on ${name(foreign)}'s rows`;
              if (notGranted) assert.equal(changed, 'refused', where);
              else if (kind === 'UPDATE' && EXCEPTIONS.updatableFromAncestors.has(table) && pathOf.get(foreign)?.includes(tenant)) {
                assert.equal(changed, BigInt(before.filter((r) => r.tenant_id === foreign).length), where);
              } else assert.equal(changed, 0n, where);
            }
            // The same statement does reach the context's own rows, so the 0 above is the policy at work.
            // (b is a leaf, so deleting its tree row breaks no reference; both are rolled back.)
            if (!notGranted) {
              const own = before.filter((r) => r.tenant_id === b).length;
              await assert.rejects(
                withTenant(t.database.db, b, async (trx) => {
                  const statement =
                    kind === 'UPDATE'
                      ? sql`UPDATE ${sql.table(table)} SET tenant_id = tenant_id WHERE tenant_id = ${b}`
                      : sql`DELETE FROM ${sql.table(table)} WHERE tenant_id = ${b}`;
                  assert.equal((await statement.execute(trx)).numAffectedRows, BigInt(own), `${kind} ${table}: B on its own rows`);
                  throw new Error('roll back');
                }),
                /^Error: roll back$/,
              );
            }
          }
          assert.deepEqual(await ownerRows(table), before, `${table} unchanged`);
        });
      }
    });

    it("refuses a row for another tenant from a tenant's context, inserted or moved there", async (ctx) => {
      for (const table of tables) {
        await ctx.test(table, async () => {
          const before = await ownerRows(table);
          const copyOf = (tenantId: string) => before.find((r) => r.tenant_id === tenantId)!.row;
          const insert = (row: string) => sql`INSERT INTO ${sql.table(table)} SELECT * FROM jsonb_populate_record(NULL::${sql.table(table)}, ${row}::jsonb)`;
          for (const [tenant, foreign] of pairs()) {
            // A copy of one of the foreign tenant's real rows: valid in every other respect.
            await assert.rejects(
              withTenant(t.database.db, tenant, (trx) => insert(copyOf(foreign)).execute(trx)),
              RLS_REFUSAL,
              `INSERT ${table}: ${name(tenant)} as ${name(foreign)}`,
            );
            const move = withTenant(t.database.db, tenant, (trx) => sql`UPDATE ${sql.table(table)} SET tenant_id = ${foreign} WHERE tenant_id = ${tenant}`.execute(trx));
            if (EXCEPTIONS.notGranted[table]?.has('UPDATE')) await assert.rejects(move, NOT_GRANTED, `move ${table}`);
            else if (EXCEPTIONS.movedRowStoppedByKey.has(table)) await assert.rejects(move, /duplicate key|violates check constraint/, `move ${table}`);
            else await assert.rejects(move, RLS_REFUSAL, `move ${table}: ${name(tenant)} to ${name(foreign)}`);
          }
          // The same copy of its own row passes the policy and only meets the table's keys (or goes in, rolled
          // back), so the refusals above are the policy at work.
          await assert.rejects(
            withTenant(t.database.db, b, async (trx) => {
              await insert(copyOf(b)).execute(trx);
              throw new Error('roll back');
            }),
            (error: Error) => !RLS_REFUSAL.test(error.message),
          );
          assert.deepEqual(await ownerRows(table), before, `${table} unchanged`);
        });
      }
    });

    it('refuses a row for any tenant without a context', async (ctx) => {
      for (const table of tables) {
        await ctx.test(table, async () => {
          const row = (await ownerRows(table)).find((r) => r.tenant_id === b)!.row;
          await assert.rejects(
            sql`INSERT INTO ${sql.table(table)} SELECT * FROM jsonb_populate_record(NULL::${sql.table(table)}, ${row}::jsonb)`.execute(t.database.db),
            RLS_REFUSAL,
          );
        });
      }
    });
  });
}
