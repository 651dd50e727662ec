import { readdir } from 'node:fs/promises';
import type { Kysely } from 'kysely';
import { type Migration, type MigrationProvider, type MigrationResultSet, Migrator } from 'kysely/migration';

const MIGRATIONS_DIR = new URL('./migrations/', import.meta.url);
const MIGRATION_FILE = /^\d{4}_[a-z0-9_]+\.ts$/;

/** Every `NNNN_name.ts` in migrations/, in name order: adding a migration is adding a file. */
class DirectoryMigrationProvider implements MigrationProvider {
  async getMigrations(): Promise<Record<string, Migration>> {
    const files = (await readdir(MIGRATIONS_DIR)).filter((f) => MIGRATION_FILE.test(f)).sort();
    const migrations: Record<string, Migration> = {};
    for (const file of files) {
      migrations[file.replace(/\.ts$/, '')] = (await import(new URL(file, MIGRATIONS_DIR).href)) as Migration;
    }
    return migrations;
  }
}

export function createMigrator(ownerDb: Kysely<unknown>): Migrator {
  return new Migrator({ db: ownerDb, provider: new DirectoryMigrationProvider() });
}

export class MigrationError extends Error {
  override name = 'MigrationError';
}

/** Applies every pending migration in one go; throws with the failing migration's name and cause. */
export async function migrateToLatest(ownerDb: Kysely<unknown>): Promise<string[]> {
  const { error, results }: MigrationResultSet = await createMigrator(ownerDb).migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  if (error !== undefined) {
    throw new MigrationError(`migration ${failed?.migrationName ?? '(unknown)'} failed: ${String(error)}`, { cause: error });
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

export interface MigrationState {
  name: string;
  executedAt: Date | undefined;
}

export async function migrationState(ownerDb: Kysely<unknown>): Promise<MigrationState[]> {
  const migrations = await createMigrator(ownerDb).getMigrations();
  return migrations.map((m) => ({ name: m.name, executedAt: m.executedAt }));
}
