// Regenerates docs/openapi.json from the route schemas: `npm run openapi`.
import { writeFile } from 'node:fs/promises';
import { PGlite } from '@electric-sql/pglite';
import { buildApp } from '../src/app.ts';
import { systemClock } from '../src/platform/clock.ts';
import { loadConfig } from '../src/platform/config.ts';
import { openDatabase } from '../src/platform/db/database.ts';
import { OPENAPI_FILE, renderOpenApi } from '../src/platform/http/openapi.ts';
import { loadPreset } from '../src/presets/presets.ts';

// The app warms its signing key when ready, so the throwaway in-memory database is migrated first.
const database = await openDatabase({ engine: 'pglite', instance: await PGlite.create() });
await database.migrate();
const app = await buildApp({ config: loadConfig({ TENANTRY_LOG_LEVEL: 'warn' }), database, clock: systemClock, secretKey: Buffer.alloc(32), preset: loadPreset('default') });
await app.ready();
await writeFile(OPENAPI_FILE, renderOpenApi(app));
await app.close();
await database.close();
console.log(`wrote ${OPENAPI_FILE.pathname}`);
