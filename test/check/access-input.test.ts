import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { withTenant } from '../../src/platform/db/context.ts';
import { createTestDatabase, type TestDatabase, testEngines } from '../helpers/database.ts';
import { seedTenant } from '../helpers/tenants.ts';

/** The one statement behind a cold permission check (migration 0018). */
for (const engine of testEngines()) {
  describe(`tenantry_access_input [${engine}]`, () => {
    let database: TestDatabase;
    before(async () => {
      database = await createTestDatabase(engine);
    });
    after(() => database.close());

    const input = (tenantId: string, userId: string | null) =>
      sql<{
        input: { name: string; path: string[]; memberships: Array<{ tenantId: string; role: string }> } | null;
      }>`SELECT tenantry_access_input(${tenantId}, ${userId}) AS input`;

    it("reads a tenant, its path and the person's memberships on it in one statement, and a key's view without them", async () => {
      const parent = await seedTenant(database, { name: 'Parent' });
      const child = await seedTenant(database, { name: 'Child', parentId: parent.tenantId });
      const { rows } = await input(child.tenantId, parent.ownerId).execute(database.db);
      assert.equal(rows[0]?.input?.name, 'Child');
      assert.deepEqual(rows[0]?.input?.path, [parent.tenantId, child.tenantId]);
      assert.deepEqual(
        rows[0]?.input?.memberships.map((m) => [m.tenantId, m.role]),
        [[parent.tenantId, 'owner']],
      );
      const asKey = (await input(child.tenantId, null).execute(database.db)).rows[0]?.input;
      assert.deepEqual(asKey?.memberships, []);
      assert.equal((await input('tnosuchtenant0000', parent.ownerId).execute(database.db)).rows[0]?.input, null);
    });

    it('leaves a surrounding transaction in the context it was in', async () => {
      const here = await seedTenant(database, { name: 'Here' });
      const elsewhere = await seedTenant(database, { name: 'Elsewhere' });
      const after = await withTenant(database.db, here.tenantId, async (trx) => {
        await input(elsewhere.tenantId, elsewhere.ownerId).execute(trx);
        const { rows } = await sql<{
          tenant: string;
          user: string | null;
        }>`SELECT current_setting('tenantry.tenant_id', true) AS tenant, nullif(current_setting('tenantry.user_id', true), '') AS user`.execute(trx);
        const visible = await trx.selectFrom('tenants').select('name').execute();
        return { setting: rows[0], visible: visible.map((t) => t.name) };
      });
      assert.deepEqual(after.setting, { tenant: here.tenantId, user: null });
      assert.deepEqual(after.visible, ['Here'], 'still in its own tenant context: nothing of the other tenant shows');
    });
  });
}
