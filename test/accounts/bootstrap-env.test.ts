import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { loadConfig } from '../../src/platform/config.ts';
import { type Db, withSystem } from '../../src/platform/db/context.ts';
import { openDatabase } from '../../src/platform/db/database.ts';
import { hashSecret } from '../../src/platform/secrets.ts';
import { type RunningServer, startServer } from '../../src/server.ts';
import { CLI_BIN } from '../helpers/cli.ts';
import { createTestDatabase, seedDataDir, type TestDatabase, testEngines } from '../helpers/database.ts';
import { GOOD_PASSWORD } from '../helpers/users.ts';

const PUBLIC_URL = 'http://tenantry.test';
const ADMIN_EMAIL = 'root.operator@example.test';
const ADMIN_PASSWORD = 'a long operator passphrase 7';

/**
 * Runs `tenantry serve` until its start-up output is complete (the "listening on" line), then drains it
 * with SIGTERM. Returns everything it printed and its exit code.
 */
function serveOnce(env: Record<string, string>): Promise<{ out: string; code: number | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_BIN, 'serve'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let signalled = false;
    child.stdout.on('data', (d: Buffer) => {
      out += d;
      // The setup link is printed after the "listening on" line: wait for the whole block.
      if (!signalled && /listening on http:\/\/localhost:\d+/.test(out) && (/\(or set TENANTRY_ADMIN_EMAIL/.test(out) || !/No platform operator/.test(out))) {
        signalled = true;
        child.kill('SIGTERM');
      }
    });
    child.stderr.on('data', (d: Buffer) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => (signalled ? resolve({ out, code }) : reject(new Error(`serve exited (${code}) before starting: ${out}${err}`))));
  });
}

for (const engine of testEngines()) {
  describe(`operator bootstrap from the environment at start-up [${engine}]`, () => {
    let dataDir: string;
    let pgDatabase: TestDatabase | undefined;
    /** Where the server keeps its data: a fresh data dir (PGlite) or a fresh database (PostgreSQL). */
    let storage: Record<string, string>;
    let savedSecretKey: string | undefined;
    let printedSetupToken: string | undefined;

    before(async () => {
      dataDir = await mkdtemp(path.join(os.tmpdir(), 'tenantry-bootstrap-'));
      savedSecretKey = process.env.TENANTRY_SECRET_KEY;
      if (engine === 'postgres') {
        pgDatabase = await createTestDatabase('postgres');
        assert.ok(pgDatabase.url);
        // startServer reads the key from the process environment; PostgreSQL requires one.
        process.env.TENANTRY_SECRET_KEY = randomBytes(32).toString('hex');
        storage = { DATABASE_URL: pgDatabase.url, TENANTRY_SECRET_KEY: process.env.TENANTRY_SECRET_KEY };
      } else {
        delete process.env.TENANTRY_SECRET_KEY;
        await seedDataDir(dataDir);
        storage = { DATABASE_URL: '', TENANTRY_DATA_DIR: dataDir };
      }
    });
    after(async () => {
      if (savedSecretKey === undefined) delete process.env.TENANTRY_SECRET_KEY;
      else process.env.TENANTRY_SECRET_KEY = savedSecretKey;
      await pgDatabase?.close();
      await rm(dataDir, { recursive: true, force: true });
    });

    const config = (admin: boolean) =>
      loadConfig({
        ...storage,
        PORT: '0',
        TENANTRY_HOST: '127.0.0.1',
        TENANTRY_PUBLIC_URL: PUBLIC_URL,
        TENANTRY_LOG_LEVEL: 'error',
        ...(admin ? { TENANTRY_ADMIN_EMAIL: ADMIN_EMAIL, TENANTRY_ADMIN_PASSWORD: ADMIN_PASSWORD } : {}),
      });

    /** Starts the server in-process, runs `use`, and always stops it. */
    async function withServer<T>(admin: boolean, use: (server: RunningServer) => Promise<T>): Promise<T> {
      const server = await startServer(config(admin));
      try {
        return await use(server);
      } finally {
        await server.stop();
      }
    }

    const operatorState = (db: Db) =>
      withSystem(db, async (trx) => {
        const superAdmins = await trx.selectFrom('users').selectAll().where('platform_role', '=', 'super_admin').execute();
        const withEmail = await trx.selectFrom('users').select('id').where('email', '=', ADMIN_EMAIL).execute();
        const adminTenancies = await trx.selectFrom('tenants').selectAll().where('is_admin_tenancy', '=', true).execute();
        const adminMembers =
          adminTenancies.length === 0
            ? []
            : await trx
                .selectFrom('memberships')
                .select(['memberships.user_id', 'memberships.kind'])
                .select((eb) =>
                  eb
                    .selectFrom('membership_roles')
                    .select(sql<string[]>`coalesce(array_agg(membership_roles.role_key order by membership_roles.role_key), '{}')`.as('roles'))
                    .whereRef('membership_roles.tenant_id', '=', 'memberships.tenant_id')
                    .whereRef('membership_roles.user_id', '=', 'memberships.user_id')
                    .as('roles'),
                )
                .where(
                  'memberships.tenant_id',
                  'in',
                  adminTenancies.map((tenant) => tenant.id),
                )
                .execute();
        return { superAdmins, withEmail, adminTenancies, adminMembers };
      });

    /** Signs in over real HTTP and reads /auth/me with the access token. */
    async function signInAndReadMe(server: RunningServer, password: string) {
      const login = await fetch(`${server.url}/api/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: ADMIN_EMAIL, password }),
      });
      assert.equal(login.status, 200, await login.clone().text());
      const { accessToken } = (await login.json()) as { accessToken: string };
      assert.ok(accessToken);
      const me = await fetch(`${server.url}/api/v1/auth/me`, { headers: { authorization: `Bearer ${accessToken}` } });
      assert.equal(me.status, 200, await me.clone().text());
      return (await me.json()) as {
        user: { email: string; platformRole: string | null; emailVerified: boolean };
        activeTenantId: string;
        authorization: Record<string, { roles: string[] }>;
      };
    }

    it('with neither variable set, the start-up log prints a one-time setup link', async () => {
      const { out, code } = await serveOnce({
        ...storage,
        PORT: '0',
        TENANTRY_HOST: '127.0.0.1',
        TENANTRY_PUBLIC_URL: PUBLIC_URL,
        TENANTRY_LOG_LEVEL: 'error',
        TENANTRY_ADMIN_EMAIL: '',
        TENANTRY_ADMIN_PASSWORD: '',
      });
      assert.equal(code, 0, out);
      assert.match(out, /No platform operator exists yet/);
      const links = out.split('\n').filter((line) => line.includes('/setup?token='));
      assert.equal(links.length, 1, out);
      const link = /^\s+(http:\/\/tenantry\.test\/setup\?token=[\w%-]+)$/.exec(links[0] ?? '')?.[1];
      assert.ok(link, out);
      printedSetupToken = decodeURIComponent(new URL(link).searchParams.get('token') ?? '');

      // The printed link is a live one-time setup token, and no operator was made without one. (Looked up
      // without starting the server again: every start without an operator issues a new link, voiding this one.)
      const database = pgDatabase ?? (await openDatabase({ engine: 'pglite', dataDir }));
      try {
        const stored = await database.db.selectFrom('one_time_tokens').selectAll().where('token_hash', '=', hashSecret(printedSetupToken)).executeTakeFirst();
        assert.ok(stored, 'the printed token is stored (hashed)');
        assert.equal(stored.purpose, 'operator_setup');
        assert.equal(stored.used_at, null);
        assert.ok(stored.expires_at.getTime() > Date.now());
        const state = await operatorState(database.db);
        assert.equal(state.superAdmins.length, 0);
        assert.equal(state.adminTenancies.length, 0);
      } finally {
        if (database !== pgDatabase) await database.close();
      }
    });

    it('TENANTRY_ADMIN_EMAIL and TENANTRY_ADMIN_PASSWORD create a verified super_admin who owns the admin tenancy', async () => {
      await withServer(true, async (server) => {
        assert.deepEqual(server.operator, { kind: 'configured', email: ADMIN_EMAIL, created: true });
        const state = await operatorState(server.database.db);
        assert.equal(state.superAdmins.length, 1);
        const operator = state.superAdmins[0]!;
        assert.equal(operator.email, ADMIN_EMAIL);
        assert.notEqual(operator.email_verified_at, null, 'the operator is verified');
        assert.equal(state.adminTenancies.length, 1);
        const adminTenancy = state.adminTenancies[0]!;
        assert.equal(operator.default_tenant_id, adminTenancy.id);
        assert.deepEqual(
          state.adminMembers.map((m) => ({ user: m.user_id, kind: m.kind, roles: m.roles })),
          [{ user: operator.id, kind: 'direct', roles: [server.app.services.preset.ownerRole] }],
        );

        const me = await signInAndReadMe(server, ADMIN_PASSWORD);
        assert.equal(me.user.email, ADMIN_EMAIL);
        assert.equal(me.user.platformRole, 'super_admin');
        assert.equal(me.user.emailVerified, true);
        assert.equal(me.activeTenantId, adminTenancy.id);
        assert.deepEqual(me.authorization[adminTenancy.id]?.roles, ['owner']);

        // The setup link printed before the operator existed can no longer make one.
        assert.ok(printedSetupToken);
        const setup = await fetch(`${server.url}/api/v1/setup`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ token: printedSetupToken, email: 'intruder@example.test', password: GOOD_PASSWORD }),
        });
        assert.equal(setup.status, 400, await setup.clone().text());
        assert.equal(((await setup.json()) as { code: string }).code, 'invalid_setup_token');
      });
    });

    it('starting again with the same environment neither fails nor creates a second operator', async () => {
      const before = await withServer(true, async (server) => {
        assert.deepEqual(server.operator, { kind: 'configured', email: ADMIN_EMAIL, created: false });
        const state = await operatorState(server.database.db);
        assert.equal(state.superAdmins.length, 1);
        assert.equal(state.withEmail.length, 1);
        assert.equal(state.adminTenancies.length, 1);
        assert.equal(state.adminMembers.length, 1);
        const me = await signInAndReadMe(server, ADMIN_PASSWORD);
        assert.equal(me.user.platformRole, 'super_admin');
        return state;
      });

      // And a start without the variables finds the operator: no new setup link.
      await withServer(false, async (server) => {
        assert.deepEqual(server.operator, { kind: 'exists' });
        const state = await operatorState(server.database.db);
        assert.deepEqual(
          state.superAdmins.map((u) => u.id),
          before.superAdmins.map((u) => u.id),
        );
        assert.deepEqual(
          state.adminTenancies.map((tenant) => tenant.id),
          before.adminTenancies.map((tenant) => tenant.id),
        );
      });
    });
  });
}
