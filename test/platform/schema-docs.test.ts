import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { renderSchema, SCHEMA_FILE } from '../../src/platform/db/schema-docs.ts';
import { createTestDatabase } from '../helpers/database.ts';

describe('docs/schema.sql', () => {
  it('is the schema the migrations make (run `npm run schema` after adding a migration)', async () => {
    const database = await createTestDatabase('pglite');
    try {
      const rendered = await database.withOwner(renderSchema);
      assert.ok(rendered.includes('CREATE TABLE tenants ('), 'the tenants table is missing');
      assert.ok(rendered.includes('CREATE POLICY tenant_isolation ON memberships'), 'the policies are missing');
      assert.equal(await readFile(SCHEMA_FILE, 'utf8'), rendered);
    } finally {
      await database.close();
    }
  });
});
