import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { Kysely, PGliteAdapter, PGliteDialect, PGliteDriver, PostgresDialect, PostgresIntrospector, PostgresQueryCompiler, sql } from 'kysely';
import pg from 'pg';
import { lockDataDir } from './data-dir-lock.ts';
import { migrateToLatest } from './migrator.ts';
import { Mutex } from './mutex.ts';
import type { DB } from './schema.ts';
import { SerialDriver } from './serial-driver.ts';

export type Engine = 'pglite' | 'postgres';

/** The role every application query runs as (created by the first migration). */
export const APP_ROLE = 'tenantry_app';

/**
 * One open database. `db` runs as the restricted application role, so row-level security binds it;
 * `withOwner` hands out a connection as the schema owner for migrations and nothing else.
 */
export interface Database {
  readonly engine: Engine;
  readonly db: Kysely<DB>;
  withOwner<T>(fn: (owner: Kysely<unknown>) => Promise<T>): Promise<T>;
  migrate(): Promise<string[]>;
  /**
   * Calls `onMessage` for every NOTIFY on `channel` (delivered at the notifier's commit), and `onReset`
   * whenever messages may have been missed (a dropped listener connection). Returns the unsubscribe.
   */
  listen(channel: string, onMessage: (payload: string) => void, onReset: () => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

export type OpenOptions =
  | { engine: 'postgres'; url: string; poolSize?: number }
  | { engine: 'pglite'; dataDir: string }
  /** An already-open PGlite (tests clone a migrated template); the caller owns no lock. */
  | { engine: 'pglite'; instance: PGlite };

export async function openDatabase(options: OpenOptions): Promise<Database> {
  return options.engine === 'postgres' ? openPostgres(options.url, options.poolSize ?? 10) : openPglite(options);
}

function openPostgres(url: string, poolSize: number): Database {
  const pool = new pg.Pool({
    connectionString: url,
    max: poolSize,
    // A startup parameter, so the role is in force before the first statement on every pooled connection.
    options: `-c role=${APP_ROLE}`,
    application_name: 'tenantry',
  });
  // An idle pooled connection can die (server restart, DROP DATABASE … FORCE); pg then emits 'error' on the
  // pool, and an unhandled 'error' event would crash the process. The pool replaces the connection.
  pool.on('error', () => {});
  // A connection checked out between two statements of a transaction (no query running) reports its death as an
  // 'error' event on the client itself, which would crash the process just the same; the transaction's next statement
  // fails instead, and the client is discarded when released. (Background workers polling every second made the
  // window wide enough to hit when the database went away.)
  pool.on('connect', (client) => client.on('error', () => {}));
  const db = new Kysely<DB>({ dialect: new PostgresDialect({ pool }) });
  const withOwner = async <T>(fn: (owner: Kysely<unknown>) => Promise<T>): Promise<T> => {
    const ownerPool = new pg.Pool({ connectionString: url, max: 1, application_name: 'tenantry-owner' });
    ownerPool.on('error', () => {});
    const owner = new Kysely<unknown>({ dialect: new PostgresDialect({ pool: ownerPool }) });
    try {
      return await fn(owner);
    } finally {
      await owner.destroy();
    }
  };
  const listeners = new Set<() => Promise<void>>();
  return {
    engine: 'postgres',
    db,
    withOwner,
    migrate: () => withOwner(migrateToLatest),
    listen: async (channel, onMessage, onReset) => {
      const stop = await listenPostgres(url, channel, onMessage, onReset);
      listeners.add(stop);
      return async () => {
        listeners.delete(stop);
        await stop();
      };
    },
    close: async () => {
      await Promise.all([...listeners].map((stop) => stop()));
      await db.destroy();
    },
  };
}

/** One dedicated connection per channel, reconnecting with backoff; a reconnect resets the listener. */
async function listenPostgres(url: string, channel: string, onMessage: (payload: string) => void, onReset: () => void): Promise<() => Promise<void>> {
  let client: pg.Client | undefined;
  let stopped = false;
  let retry: NodeJS.Timeout | undefined;
  const connect = async (delayMs: number): Promise<void> => {
    const next = new pg.Client({ connectionString: url, application_name: 'tenantry-listen' });
    next.on('notification', (n) => {
      if (n.channel === channel) onMessage(n.payload ?? '');
    });
    next.on('error', () => {
      if (stopped) return;
      client = undefined;
      onReset();
      retry = setTimeout(() => void connect(Math.min(delayMs * 2, 30_000)).catch(() => {}), delayMs).unref();
    });
    await next.connect();
    await next.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
    if (stopped) await next.end();
    else client = next;
  };
  await connect(500);
  return async () => {
    stopped = true;
    clearTimeout(retry);
    await client?.end().catch(() => {});
  };
}

async function openPglite(options: { dataDir: string } | { instance: PGlite }): Promise<Database> {
  let release: () => void = () => {};
  let pglite: PGlite;
  if ('instance' in options) {
    pglite = options.instance;
  } else {
    release = lockDataDir(options.dataDir);
    try {
      // relaxedDurability stays off: a 2xx write is fsynced before the response.
      pglite = await PGlite.create({ dataDir: path.join(options.dataDir, 'pglite'), relaxedDurability: false });
    } catch (error) {
      release();
      throw error;
    }
  }
  const mutex = new Mutex();
  const db = new Kysely<DB>({
    dialect: {
      createAdapter: () => new PGliteAdapter(),
      createDriver: () =>
        new SerialDriver(
          new PGliteDriver({
            pglite,
            onCreateConnection: async (connection) => {
              await connection.executeQuery(sql`SET ROLE ${sql.id(APP_ROLE)}`.compile(db));
            },
          }),
          mutex,
        ),
      createIntrospector: (k) => new PostgresIntrospector(k),
      createQueryCompiler: () => new PostgresQueryCompiler(),
    },
  });
  // Shares the instance but not the mutex: only used while withOwner holds it.
  const owner = new Kysely<unknown>({ dialect: new PGliteDialect({ pglite }) });
  const withOwner = <T>(fn: (owner: Kysely<unknown>) => Promise<T>): Promise<T> =>
    mutex.run(async () => {
      await pglite.exec('RESET ROLE');
      try {
        return await fn(owner);
      } finally {
        const role = await pglite.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [APP_ROLE]);
        if (role.rows.length > 0) await pglite.exec(`SET ROLE ${APP_ROLE}`);
      }
    });
  return {
    engine: 'pglite',
    db,
    withOwner,
    migrate: () => withOwner(migrateToLatest),
    // One process, one instance: notifications cannot be missed, so onReset is never needed.
    listen: async (channel, onMessage) => {
      const unsubscribe = await mutex.run(() => pglite.listen(channel, onMessage));
      return async () => {
        if (!pglite.closed) await mutex.run(() => unsubscribe());
      };
    },
    close: async () => {
      try {
        if (!pglite.closed) await pglite.close();
      } finally {
        release();
      }
    },
  };
}
