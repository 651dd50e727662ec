import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { type Database, type Engine, openDatabase } from '../../src/platform/db/database.ts';

/**
 * The engines this run tests: PGlite always, PostgreSQL too when TEST_DATABASE_URL is set
 * (CI sets it). Test files never name an engine; they loop over this list.
 */
export function testEngines(): Engine[] {
  return process.env.TEST_DATABASE_URL ? ['pglite', 'postgres'] : ['pglite'];
}

let template: Promise<Buffer> | undefined;

/**
 * A migrated PGlite data directory as a tarball. initdb in WebAssembly takes seconds, loading a tarball
 * well under one, so the tarball is cached on disk (keyed by the migrations and the PGlite version) and
 * shared by every test process; each test database is a fresh in-memory instance loaded from it.
 */
function migratedTemplate(): Promise<Buffer> {
  template ??= (async () => {
    const cacheDir = fileURLToPath(new URL('../../node_modules/.cache/tenantry-test/', import.meta.url));
    const file = path.join(cacheDir, `pglite-${await templateKey()}.tar`);
    try {
      return await readFile(file);
    } catch {
      // Not cached yet: build it below.
    }
    const instance = await PGlite.create();
    const database = await openDatabase({ engine: 'pglite', instance });
    await database.migrate();
    await instance.exec('RESET ROLE');
    const tarball = Buffer.from(await (await instance.dumpDataDir('none')).arrayBuffer());
    await instance.close();
    await mkdir(cacheDir, { recursive: true });
    // Write then rename, so a concurrent test process never reads half a file.
    const partial = `${file}.${process.pid}.partial`;
    await writeFile(partial, tarball);
    await rename(partial, file);
    return tarball;
  })();
  return template;
}

async function templateKey(): Promise<string> {
  const hash = createHash('sha256');
  const dir = new URL('../../src/platform/db/migrations/', import.meta.url);
  for (const file of (await readdir(dir)).sort()) {
    hash.update(file).update(await readFile(new URL(file, dir)));
  }
  hash.update(JSON.parse(await readFile(new URL('../../node_modules/@electric-sql/pglite/package.json', import.meta.url), 'utf8')).version);
  return hash.digest('hex').slice(0, 16);
}

/**
 * Makes `dir` a migrated PGlite data directory from the cached template, for tests that start a real server or CLI
 * process on the embedded engine: loading the tarball takes well under a second, initdb in WebAssembly several.
 */
export async function seedDataDir(dir: string): Promise<void> {
  // Where openDatabase keeps PGlite's files inside a data directory (src/platform/db/database.ts).
  const instance = await PGlite.create({ dataDir: path.join(dir, 'pglite'), loadDataDir: new Blob([await migratedTemplate()]) });
  await instance.close();
}

export type TestDatabase = Database & {
  /** PostgreSQL only: where it is, so a second "server process" can open it too. */
  url?: string;
};

/** A fresh, migrated database of the given engine; `close()` disposes of it (PostgreSQL: drops it). */
export async function createTestDatabase(engine: Engine): Promise<TestDatabase> {
  if (engine === 'pglite') {
    const instance = await PGlite.create({ loadDataDir: new Blob([await migratedTemplate()]) });
    return openDatabase({ engine: 'pglite', instance });
  }
  const adminUrl = process.env.TEST_DATABASE_URL;
  if (!adminUrl) throw new Error('TEST_DATABASE_URL is not set');
  const name = `tenantry_test_${randomBytes(6).toString('hex')}`;
  await adminQuery(adminUrl, `CREATE DATABASE ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const database = await openDatabase({ engine: 'postgres', url: url.toString(), poolSize: 8 });
  try {
    await database.migrate();
  } catch (error) {
    await database.close();
    await adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    throw error;
  }
  return {
    ...database,
    url: url.toString(),
    close: async () => {
      await database.close();
      await adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}

/** Runs one statement as the PostgreSQL superuser at `url` (creating and dropping test databases, cutting one off). */
export async function adminQuery(url: string, text: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}
