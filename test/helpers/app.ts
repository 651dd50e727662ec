import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import type { PasswordHashing } from '../../src/accounts/passwords.ts';
import { buildApp } from '../../src/app.ts';
import { ManualClock } from '../../src/platform/clock.ts';
import { type Config, loadConfig } from '../../src/platform/config.ts';
import type { Database, Engine } from '../../src/platform/db/database.ts';
import type { FastifyTypebox } from '../../src/platform/http/types.ts';
import { applyPresetSettings } from '../../src/presets/apply.ts';
import { loadPreset } from '../../src/presets/presets.ts';
import { ensureRootTenant } from '../../src/tenants/root-tenant.ts';
import { createTestDatabase } from './database.ts';

const NO_PORTAL = '/nonexistent/tenantry-portal/';

/** One per test process, so apps sharing a database (two "nodes") can read each other's signing keys. */
const TEST_SECRET_KEY = randomBytes(32);

export interface TestApp {
  app: FastifyTypebox;
  database: Database;
  clock: ManualClock;
  config: Config;
  /** Every log line the app wrote, parsed. */
  logs: Array<Record<string, unknown>>;
  close(): Promise<void>;
}

/** An app on a fresh database of `engine`, with a manual clock and captured logs; nothing listens. */
export interface TestAppOptions {
  env?: Record<string, string>;
  /** Extra routes for tests of the HTTP machinery itself, registered before the app is ready. */
  extend?: (app: FastifyTypebox) => void;
  /** Where the manual clock starts (default 2026-01-01); tokens checked by real-time verifiers need "now". */
  clockStart?: Date;
  /** Use this database instead of a fresh one (a second app on the same PostgreSQL = a second node). */
  database?: Database;
  /** Serve the built portal from here (browser tests); API tests serve none, whether or not one is built. */
  portalDir?: string;
  /** argon2 parameters for new hashes: the cheap TEST_PASSWORD_HASHING unless a test asks for 'production'. */
  passwordHashing?: PasswordHashing | 'production';
}

/**
 * What tests hash passwords with: argon2id at 1 MiB and one pass instead of 19 MiB and two. The suite hashes and
 * verifies hundreds of passwords and what they test is who may sign in, not the work factor; the production
 * parameters are tested once (test/accounts/passwords.test.ts) and are what the server passes (none: the default).
 */
export const TEST_PASSWORD_HASHING: PasswordHashing = Object.freeze({ algorithm: 2, memoryCost: 1024, timeCost: 1, parallelism: 1 });

export async function createTestApp(engine: Engine, options: TestAppOptions = {}): Promise<TestApp> {
  const database = options.database ?? (await createTestDatabase(engine));
  const config = loadConfig({ TENANTRY_LOG_LEVEL: 'info', TENANTRY_PUBLIC_URL: 'http://tenantry.test', ...options.env });
  const clock = new ManualClock(options.clockStart);
  const logs: Array<Record<string, unknown>> = [];
  const logStream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) logs.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  let app: FastifyTypebox;
  try {
    const preset = loadPreset(config.preset);
    await applyPresetSettings(database, preset, config.maxTreeDepth);
    await ensureRootTenant({ db: database.db, clock, preset, config });
    const passwordHashing = options.passwordHashing === 'production' ? undefined : (options.passwordHashing ?? TEST_PASSWORD_HASHING);
    app = await buildApp(
      { config, database, clock, secretKey: TEST_SECRET_KEY, preset, ...(passwordHashing === undefined ? {} : { passwordHashing }) },
      { logStream, portalDir: options.portalDir ?? NO_PORTAL },
    );
  } catch (error) {
    // A failed start must not keep the test process alive with an open pool or PGlite instance.
    if (options.database === undefined) await database.close();
    throw error;
  }
  try {
    options.extend?.(app);
    await app.ready();
  } catch (error) {
    await app.close().catch(() => undefined);
    if (options.database === undefined) await database.close();
    throw error;
  }
  return {
    app,
    database,
    clock,
    config,
    logs,
    close: async () => {
      await app.close();
      await database.close();
    },
  };
}
