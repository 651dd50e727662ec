// Regenerates docs/schema.sql from the migrations: `npm run schema`.
import { writeFile } from 'node:fs/promises';
import { PGlite } from '@electric-sql/pglite';
import { openDatabase } from '../src/platform/db/database.ts';
import { renderSchema, SCHEMA_FILE } from '../src/platform/db/schema-docs.ts';

const database = await openDatabase({ engine: 'pglite', instance: await PGlite.create() });
await database.migrate();
await writeFile(SCHEMA_FILE, await database.withOwner(renderSchema));
await database.close();
console.log(`wrote ${SCHEMA_FILE.pathname}`);
