import type { Config } from '../config.ts';
import { type Database, openDatabase } from './database.ts';

/** The database the configuration names: PostgreSQL when DATABASE_URL is set, else PGlite in the data dir. */
export function openConfiguredDatabase(config: Config): Promise<Database> {
  return config.databaseUrl === undefined ? openDatabase({ engine: 'pglite', dataDir: config.dataDir }) : openDatabase({ engine: 'postgres', url: config.databaseUrl });
}
