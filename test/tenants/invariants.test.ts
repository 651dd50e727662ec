import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import type { Database } from '../../src/platform/db/database.ts';
import { enterTenantContext, withSystem, withTenant } from '../../src/platform/db/context.ts';
import { newTenantId } from '../../src/platform/ids.ts';
import { insertTenant } from '../../src/tenants/tenants.repository.ts';
import { createTestDatabase, testEngines } from '../helpers/database.ts';
import { seedTenant } from '../helpers/tenants.ts';

/** The tenancy invariants hold in the database itself, whatever the application does. */
for (const engine of testEngines()) {
  describe(`tenancy invariants in the database [${engine}]`, () => {
    let database: Database;
    before(async () => {
      database = await createTestDatabase(engine);
    });
    after(() => database.close());

    const ownerCount = (tenantId: string) =>
      withSystem(database.db, async (trx) =>
        Number(
          (
            await trx
              .selectFrom('membership_roles')
              .select((e) => e.fn.countAll().as('n'))
              .where('tenant_id', '=', tenantId)
              .where('role_key', '=', 'owner')
              .executeTakeFirstOrThrow()
          ).n,
        ),
      );

    it('refuses to commit a tenant without an owner, whatever context the transaction ends in', async () => {
      const parent = await seedTenant(database, { name: 'Parent' });
      const id = newTenantId();
      await assert.rejects(
        withTenant(database.db, id, async (trx) => {
          await insertTenant(trx, { id, slug: `orphan-${id}`, name: 'Orphan', parentId: parent.tenantId, now: new Date() });
          await enterTenantContext(trx, parent.tenantId);
        }),
        /without an owner/,
      );
      const found = await withSystem(database.db, (trx) => trx.selectFrom('tenants').select('id').where('id', '=', id).executeTakeFirst());
      assert.equal(found, undefined);
    });

    it('refuses to remove the last owner, and allows it once another owner exists', async () => {
      const { tenantId, ownerId } = await seedTenant(database, { name: 'Solo' });
      await assert.rejects(
        withTenant(database.db, tenantId, (trx) => trx.deleteFrom('membership_roles').where('tenant_id', '=', tenantId).where('user_id', '=', ownerId).execute()),
        /without an owner/,
      );
      await assert.rejects(
        withTenant(database.db, tenantId, (trx) => trx.updateTable('memberships').set({ kind: 'shadow' }).where('tenant_id', '=', tenantId).execute()),
        /without an owner/,
        'a shadow membership never counts as the owner',
      );
      assert.equal(await ownerCount(tenantId), 1);
    });

    it('keeps the tree acyclic and within the maximum depth', async () => {
      const root = await seedTenant(database, { name: 'Root' });
      const ids = [root.tenantId];
      for (let level = 2; level <= 7; level++) ids.push((await seedTenant(database, { name: `L${level}`, parentId: ids.at(-1)!, ownerId: root.ownerId })).tenantId);
      await assert.rejects(seedTenant(database, { name: 'L8', parentId: ids.at(-1)!, ownerId: root.ownerId }), /deeper than 7/);
      await assert.rejects(
        withTenant(database.db, ids[0]!, (trx) => trx.updateTable('tenant_tree').set({ parent_id: ids[3]! }).where('tenant_id', '=', ids[0]!).execute()),
        /own descendant/,
      );
      const paths = await sql<{ depth: number }>`SELECT max(cardinality(path))::int AS depth FROM tenant_tree`.execute(database.db);
      assert.equal(paths.rows[0]?.depth, 7);
    });

    it('computes every path itself: a tenant cannot write one to adopt a foreign ancestor', async () => {
      const mine = await seedTenant(database, { name: 'Mine' });
      const theirs = await seedTenant(database, { name: 'Theirs' });
      const pathOf = (id: string) =>
        withSystem(database.db, async (trx) => (await trx.selectFrom('tenant_tree').select('path').where('tenant_id', '=', id).executeTakeFirstOrThrow()).path);
      await assert.rejects(
        withTenant(database.db, mine.tenantId, (trx) =>
          trx
            .updateTable('tenant_tree')
            .set({ path: [theirs.tenantId, mine.tenantId] } as never)
            .where('tenant_id', '=', mine.tenantId)
            .execute(),
        ),
        /computed from parent_id/,
      );
      assert.deepEqual(await pathOf(mine.tenantId), [mine.tenantId]);
      // Moving (parent_id) still rewrites the path, and the subtree's, through the triggers.
      const child = await seedTenant(database, { name: 'Child', parentId: mine.tenantId, ownerId: mine.ownerId });
      await withTenant(database.db, mine.tenantId, (trx) => trx.updateTable('tenant_tree').set({ parent_id: theirs.tenantId }).where('tenant_id', '=', mine.tenantId).execute());
      assert.deepEqual(await pathOf(child.tenantId), [theirs.tenantId, mine.tenantId, child.tenantId]);
    });
  });
}

describe('the maximum depth is configuration', () => {
  it('follows TENANTRY_MAX_TREE_DEPTH', async () => {
    const { createTestApp } = await import('../helpers/app.ts');
    const t = await createTestApp('pglite', { env: { TENANTRY_MAX_TREE_DEPTH: '2' } });
    try {
      const root = await seedTenant(t.database, { name: 'Root' });
      const child = await seedTenant(t.database, { name: 'Child', parentId: root.tenantId, ownerId: root.ownerId });
      await assert.rejects(seedTenant(t.database, { name: 'Grandchild', parentId: child.tenantId, ownerId: root.ownerId }), /deeper than 2/);
    } finally {
      await t.close();
    }
  });
});
