import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import type { Database } from '../../src/platform/db/database.ts';
import { withSystem, withTenant } from '../../src/platform/db/context.ts';
import { findIsolationProblems } from '../../src/platform/db/safety.ts';
import { newTenantId } from '../../src/platform/ids.ts';
import { createTestDatabase, testEngines } from '../helpers/database.ts';
import { seedTenant } from '../helpers/tenants.ts';

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

    const names = async () =>
      (await withSystem(database.db, (trx) => trx.selectFrom('tenants').select('name').orderBy('name').execute())).map((r) => r.name);

    it('shows only the context tenant', async () => {
      const rows = await withTenant(database.db, a, (trx) => trx.selectFrom('tenants').select('id').execute());
      assert.deepEqual(rows, [{ id: a }]);
    });

    it('cannot update or delete another tenant from inside a context', async () => {
      const updated = await withTenant(database.db, a, (trx) =>
        trx.updateTable('tenants').set({ name: 'hijacked' }).where('id', '=', b).executeTakeFirst(),
      );
      assert.equal(updated.numUpdatedRows, 0n);
      const deleted = await withTenant(database.db, a, (trx) => trx.deleteFrom('tenants').where('id', '=', b).executeTakeFirst());
      assert.equal(deleted.numDeletedRows, 0n);
      assert.deepEqual(await names(), ['Tenant A', 'Tenant B']);
    });

    it('cannot write a row for another tenant, nor move its own row there', async () => {
      const c = newTenantId();
      await assert.rejects(
        withTenant(database.db, a, (trx) =>
          trx.insertInto('tenants').values({ id: c, slug: `c-${c}`, name: 'C', updated_at: new Date() }).execute(),
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
      assert.ok(problems.some((p) => p.includes('superuser')), problems.join('; '));
    });
  });
}
