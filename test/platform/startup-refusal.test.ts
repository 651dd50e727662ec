import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Kysely, sql } from 'kysely';
import { type Config, loadConfig } from '../../src/platform/config.ts';
import { APP_ROLE, type Engine, openDatabase } from '../../src/platform/db/database.ts';
import { startServer, UnsafeDatabaseError } from '../../src/server.ts';
import { createTestDatabase, seedDataDir, type TestDatabase, testEngines } from '../helpers/database.ts';

const REFUSAL = 'refusing to serve: tenant isolation would not hold:';

/**
 * One way to make the application role escape row-level security, and its undoing. Each is confined to
 * the test's own database where the engine allows it: on PostgreSQL roles are cluster-wide (every
 * concurrent test database shares `tenantry_app`), so the role itself is only altered on PGlite, whose
 * roles live in the one throwaway instance.
 */
interface Breach {
  name: string;
  /** The one problem start-up must name. */
  problem: string;
  /** The engines it is tried on (default: both); see SHARED_ROLE. */
  engines?: readonly Engine[];
  make(owner: Kysely<unknown>): Promise<void>;
  undo(owner: Kysely<unknown>): Promise<void>;
}

/** The role is cluster-wide on PostgreSQL, shared with every concurrent test database: altered on PGlite only. */
const SHARED_ROLE: readonly Engine[] = ['pglite'];

const BREACHES: Breach[] = [
  {
    name: 'a tenant-scoped table with row-level security disabled',
    problem: 'the tenant-scoped table "invitations" has row-level security disabled',
    make: async (owner) => {
      await sql`ALTER TABLE invitations DISABLE ROW LEVEL SECURITY`.execute(owner);
    },
    undo: async (owner) => {
      await sql`ALTER TABLE invitations ENABLE ROW LEVEL SECURITY`.execute(owner);
    },
  },
  {
    name: 'a new table with a tenant_id column that nobody protected',
    problem: 'the tenant-scoped table "refusal_probe_scoped" has row-level security disabled',
    make: async (owner) => {
      await sql`CREATE TABLE refusal_probe_scoped (tenant_id text NOT NULL REFERENCES tenants (id))`.execute(owner);
    },
    undo: async (owner) => {
      await sql`DROP TABLE refusal_probe_scoped`.execute(owner);
    },
  },
  {
    // Its owner is exempt from the table's policies unless FORCE ROW LEVEL SECURITY is set.
    name: 'a table the application role owns, without FORCE ROW LEVEL SECURITY',
    problem: 'queries run as the owner of "refusal_probe_owned", which has no FORCE ROW LEVEL SECURITY',
    make: async (owner) => {
      await sql`CREATE TABLE refusal_probe_owned (id text PRIMARY KEY)`.execute(owner);
      await sql`ALTER TABLE refusal_probe_owned ENABLE ROW LEVEL SECURITY`.execute(owner);
      await sql`ALTER TABLE refusal_probe_owned OWNER TO ${sql.id(APP_ROLE)}`.execute(owner);
    },
    undo: async (owner) => {
      await sql`DROP TABLE refusal_probe_owned`.execute(owner);
    },
  },
  {
    name: 'an application role with BYPASSRLS',
    problem: `queries run as "${APP_ROLE}", which has BYPASSRLS`,
    engines: SHARED_ROLE,
    make: async (owner) => {
      await sql`ALTER ROLE ${sql.id(APP_ROLE)} BYPASSRLS`.execute(owner);
    },
    undo: async (owner) => {
      await sql`ALTER ROLE ${sql.id(APP_ROLE)} NOBYPASSRLS`.execute(owner);
    },
  },
  {
    name: 'an application role that is a superuser',
    problem: `queries run as "${APP_ROLE}", a superuser, which bypasses row-level security`,
    engines: SHARED_ROLE,
    make: async (owner) => {
      await sql`ALTER ROLE ${sql.id(APP_ROLE)} SUPERUSER`.execute(owner);
    },
    undo: async (owner) => {
      await sql`ALTER ROLE ${sql.id(APP_ROLE)} NOSUPERUSER`.execute(owner);
    },
  },
];

/** What start-up's check reads, so a test can tell that an undo really restored the database. */
async function safetyState(owner: Kysely<unknown>) {
  const role = await sql`SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = ${APP_ROLE}`.execute(owner);
  const tables = await sql`
    SELECT relname, pg_get_userbyid(relowner) AS owner, relrowsecurity, relforcerowsecurity, relacl::text AS acl
    FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'p') ORDER BY relname
  `.execute(owner);
  return { role: role.rows, tables: tables.rows };
}

for (const engine of testEngines()) {
  describe(`start-up refuses to serve when row-level security would not bind the application [${engine}]`, () => {
    let config: Config;
    /** Runs `fn` as the schema owner of the database the server will open. */
    let asOwner: <T>(fn: (owner: Kysely<unknown>) => Promise<T>) => Promise<T>;
    let cleanup: () => Promise<void>;
    let intact: Awaited<ReturnType<typeof safetyState>>;
    const savedSecret = process.env.TENANTRY_SECRET_KEY;

    before(async () => {
      const env = { PORT: '0', TENANTRY_HOST: '127.0.0.1', TENANTRY_LOG_LEVEL: 'silent', TENANTRY_PUBLIC_URL: 'http://tenantry.test' };
      if (engine === 'pglite') {
        // The server opens the data directory itself (and locks it), so the owner opens it only in between.
        const dataDir = await mkdtemp(path.join(os.tmpdir(), 'tenantry-refusal-'));
        config = loadConfig({ ...env, TENANTRY_DATA_DIR: dataDir });
        asOwner = async (fn) => {
          const database = await openDatabase({ engine: 'pglite', dataDir });
          try {
            return await database.withOwner(fn);
          } finally {
            await database.close();
          }
        };
        await seedDataDir(dataDir);
        cleanup = () => rm(dataDir, { recursive: true, force: true });
      } else {
        const database: TestDatabase = await createTestDatabase('postgres');
        config = loadConfig({ ...env, DATABASE_URL: database.url ?? '' });
        asOwner = (fn) => database.withOwner(fn);
        // PostgreSQL needs a shared secret key; only the start that succeeds gets that far.
        process.env.TENANTRY_SECRET_KEY = randomBytes(32).toString('hex');
        cleanup = () => database.close();
      }
      intact = await asOwner(safetyState);
    });
    after(async () => {
      if (savedSecret === undefined) delete process.env.TENANTRY_SECRET_KEY;
      else process.env.TENANTRY_SECRET_KEY = savedSecret;
      await cleanup?.();
    });

    for (const breach of BREACHES.filter((b) => b.engines?.includes(engine) ?? true)) {
      it(`refuses ${breach.name}, naming it`, async () => {
        await asOwner(breach.make);
        let restored: Awaited<ReturnType<typeof safetyState>> | undefined;
        try {
          await assert.rejects(startServer(config), (error: unknown) => {
            assert.ok(error instanceof UnsafeDatabaseError, String(error));
            assert.equal(error.message, `${REFUSAL}\n- ${breach.problem}`);
            return true;
          });
        } finally {
          // On PGlite this open also shows that the refused start let go of the data directory.
          restored = await asOwner(async (owner) => {
            await breach.undo(owner);
            return safetyState(owner);
          });
        }
        assert.deepEqual(restored, intact, 'the breach is undone');
      });
    }

    it('serves once the database is safe again (the refusals were the check at work)', async () => {
      const server = await startServer(config);
      try {
        const health = await server.app.inject({ url: '/healthz' });
        assert.equal(health.statusCode, 200, health.body);
      } finally {
        await server.stop();
      }
    });
  });
}
