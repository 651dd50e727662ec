import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import { readSystem, withTenant } from '../../src/platform/db/context.ts';
import { type Database, openDatabase } from '../../src/platform/db/database.ts';
import { DataDirLockedError } from '../../src/platform/db/data-dir-lock.ts';
import type { FaultPoint } from '../../src/platform/db/faults.ts';
import { loadPreset } from '../../src/presets/presets.ts';
import { replaceMemberRoles } from '../../src/members/memberships.repository.ts';
import { insertMembership } from '../../src/members/memberships.repository.ts';
import { adminQuery, createTestDatabase, seedDataDir, testEngines, type TestDatabase } from '../helpers/database.ts';
import { eventually } from '../helpers/eventually.ts';
import { startTestSmtp } from '../helpers/smtp.ts';
import { GOOD_PASSWORD, uniqueEmail } from '../helpers/users.ts';
import { brokenInvariants } from './oracle.ts';

/**
 * Issue 14, crashes (ASVS 5.0 V15/V16 resilience): the real server in a process of its own (./crash-server.ts), killed
 * with SIGKILL while a command is inside its transaction, restarted on the same database: nothing of the command is
 * there, everything answered 2xx before is. SIGTERM drains; a second process cannot open an embedded database in
 * use; committed mail survives a crash and an SMTP outage; an unreachable database is a 503, never a stale answer.
 */

const SERVER = fileURLToPath(new URL('./crash-server.ts', import.meta.url));
const SECRET = randomBytes(32).toString('hex');

interface Child {
  process: ChildProcess;
  url: string;
  /** Resolves at the next stdout line matching `pattern`. */
  next(pattern: RegExp): Promise<string>;
  exited: Promise<number | null>;
}

async function startChild(env: Record<string, string>): Promise<Child> {
  const child = spawn(process.execPath, [SERVER], {
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', TENANTRY_LOG_LEVEL: 'warn', TENANTRY_AUTH_RATE_LIMIT: '10000', TENANTRY_SECRET_KEY: SECRET, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let buffered = '';
  let stderr = '';
  const waiters: Array<{ pattern: RegExp; resolve: (line: string) => void }> = [];
  child.stdout?.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    let newline = buffered.indexOf('\n');
    while (newline >= 0) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      const i = waiters.findIndex((w) => w.pattern.test(line));
      if (i >= 0) waiters.splice(i, 1)[0]?.resolve(line);
      newline = buffered.indexOf('\n');
    }
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const next = (pattern: RegExp) =>
    Promise.race([
      new Promise<string>((resolve) => waiters.push({ pattern, resolve })),
      exited.then((code) => Promise.reject(new Error(`the server exited (${code}) waiting for ${pattern}: ${stderr.slice(-2000)}`))),
      new Promise<string>((_, reject) => setTimeout(() => reject(new Error(`no ${pattern} in 60 s: ${stderr.slice(-2000)}`)), 60_000).unref()),
    ]);
  const listening = await next(/^LISTENING /);
  return { process: child, url: listening.replace(/^LISTENING /, '').replace('localhost', '127.0.0.1'), next, exited };
}

async function api(url: string, method: string, pathname: string, body?: object, token?: string): Promise<{ status: number; json: any }> {
  const res = await fetch(`${url}${pathname}`, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, json: text === '' ? null : JSON.parse(text) };
}

for (const engine of testEngines()) {
  describe(`hostile: crashes and outages [${engine}]`, () => {
    let dataDir = '';
    let pgDatabase: TestDatabase | undefined;
    const trigger = path.join(tmpdir(), `tenantry-crash-${process.pid}-${engine}`);
    const env = (point: FaultPoint, extra: Record<string, string> = {}): Record<string, string> => ({
      CRASH_AT: point,
      CRASH_FILE: trigger,
      ...(engine === 'postgres' ? { DATABASE_URL: pgDatabase?.url ?? '' } : { TENANTRY_DATA_DIR: dataDir }),
      ...extra,
    });
    /** The database the killed server used, opened by this process. */
    const reopen = async (): Promise<Database> => (engine === 'postgres' ? (pgDatabase as Database) : openDatabase({ engine: 'pglite', dataDir }));
    const release = async (database: Database) => {
      if (engine === 'pglite') await database.close();
    };

    before(async () => {
      dataDir = mkdtempSync(path.join(tmpdir(), 'tenantry-crash-'));
      if (engine === 'postgres') pgDatabase = await createTestDatabase('postgres');
      else await seedDataDir(dataDir);
    });
    after(async () => {
      rmSync(trigger, { force: true });
      rmSync(dataDir, { recursive: true, force: true });
      await pgDatabase?.close();
    });

    /** Signs a person up and creates tenants below theirs, each answered 201; then starts one more that the kill interrupts. */
    const crashDuring = async (point: FaultPoint, interrupted: (url: string, token: string, tenantId: string) => Promise<unknown>) => {
      const child = await startChild(env(point));
      const owner = await api(child.url, 'POST', '/api/v1/auth/signup', { email: uniqueEmail('crash'), password: GOOD_PASSWORD });
      assert.equal(owner.status, 201, JSON.stringify(owner.json));
      const answered: string[] = [];
      for (let i = 0; i < 3; i += 1) {
        const created = await api(
          child.url,
          'POST',
          '/api/v1/tenants',
          { name: `Kept ${i}`, slug: `kept-${i}-${point.replace(/\W/g, '')}-${process.pid}`, parentId: owner.json.tenant.id },
          owner.json.accessToken,
        );
        assert.equal(created.status, 201, JSON.stringify(created.json));
        answered.push(created.json.id);
      }
      writeFileSync(trigger, '');
      const inFlight = interrupted(child.url, owner.json.accessToken, owner.json.tenant.id).catch((error: Error) => error);
      await child.next(/^PAUSED /);
      child.process.kill('SIGKILL');
      await child.exited;
      rmSync(trigger, { force: true });
      assert.ok((await inFlight) instanceof Error, 'the interrupted request was never answered');
      return { owner: owner.json as { user: { id: string }; tenant: { id: string } }, answered };
    };

    it('keeps every 2xx and nothing of the command a SIGKILL interrupted inside its transaction (creating a tenant)', async () => {
      const slug = `interrupted-${process.pid}`;
      const { owner, answered } = await crashDuring('tenant.created', (url, token, parentId) =>
        api(url, 'POST', '/api/v1/tenants', { name: 'Interrupted', slug, parentId }, token),
      );
      const database = await reopen();
      try {
        const rows = await readSystem(database.db, (trx) =>
          trx
            .selectFrom('tenants')
            .select(['id', 'slug'])
            .where('id', 'in', [owner.tenant.id, ...answered])
            .execute(),
        );
        assert.equal(rows.length, 4, 'a tenant answered 201 before the kill is missing');
        const owners = await readSystem(database.db, (trx) =>
          trx.selectFrom('membership_roles').select('tenant_id').where('user_id', '=', owner.user.id).where('role_key', '=', 'owner').execute(),
        );
        assert.equal(owners.length, 4);
        assert.deepEqual(await readSystem(database.db, (trx) => trx.selectFrom('tenants').select('id').where('slug', '=', slug).execute()), []);
        const mentions = await readSystem(database.db, (trx) => sql<{ n: string }>`SELECT count(*) AS n FROM audit_events WHERE after::text LIKE ${`%${slug}%`}`.execute(trx));
        assert.equal(Number(mentions.rows[0]?.n), 0);
        assert.deepEqual(await brokenInvariants(database, loadPreset('default'), 32), []);
      } finally {
        await release(database);
      }
    });

    it('keeps nothing of an API key whose creation a SIGKILL interrupted just before COMMIT, and serves again after the restart', async () => {
      const { owner } = await crashDuring('commit', (url, token, tenantId) =>
        api(url, 'POST', `/api/v1/tenants/${tenantId}/api-keys`, { name: 'interrupted', permissions: ['tenant.read'] }, token),
      );
      const database = await reopen();
      try {
        assert.deepEqual(await readSystem(database.db, (trx) => trx.selectFrom('api_keys').select('id').where('tenant_id', '=', owner.tenant.id).execute()), []);
        assert.deepEqual(await brokenInvariants(database, loadPreset('default'), 32), []);
      } finally {
        await release(database);
      }
      const child = await startChild(env('commit'));
      try {
        assert.equal((await api(child.url, 'GET', '/readyz')).status, 200);
      } finally {
        child.process.kill('SIGKILL');
        await child.exited;
      }
    });

    if (engine === 'pglite') {
      it('refuses a second process on an embedded data directory that a live server holds', async () => {
        const child = await startChild(env('commit'));
        try {
          await assert.rejects(openDatabase({ engine: 'pglite', dataDir }), DataDirLockedError);
        } finally {
          child.process.kill('SIGKILL');
          await child.exited;
        }
      });
    }

    it('drains on SIGTERM: the request in flight is answered 2xx, the next one on its connection 503 shutting_down, new connections are refused, then exit 0', async () => {
      const child = await startChild(env('tenant.created'));
      try {
        const owner = await api(child.url, 'POST', '/api/v1/auth/signup', { email: uniqueEmail('drain'), password: GOOD_PASSWORD });
        writeFileSync(trigger, '');
        // Two requests pipelined on one connection: the first is held inside its transaction when SIGTERM arrives.
        const { port } = new URL(child.url);
        const socket = net.connect(Number(port), '127.0.0.1');
        let received = '';
        socket.on('data', (chunk: Buffer) => {
          received += chunk.toString();
        });
        const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
        const body = JSON.stringify({ name: 'In flight', slug: `in-flight-${engine}-${process.pid}`, parentId: owner.json.tenant.id });
        socket.write(
          `POST /api/v1/tenants HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${owner.json.accessToken}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
        );
        await child.next(/^PAUSED /);
        child.process.kill('SIGTERM');
        await child.next(/^SHUTTING DOWN/).catch(() => undefined);
        socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
        await assert.rejects(fetch(`${child.url}/healthz`), 'a new connection is refused while draining');
        rmSync(trigger, { force: true });
        await closed;
        const statuses = [...received.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
        assert.deepEqual(statuses, [201, 503], received);
        assert.match(received, /"code":"shutting_down"/);
        assert.equal(await child.exited, 0);
      } finally {
        rmSync(trigger, { force: true });
        child.process.kill('SIGKILL');
      }
    });

    it('delivers mail committed before a SIGKILL once the SMTP server is back, after an outage that spanned the crash', async () => {
      const smtp = await startTestSmtp();
      await smtp.stop();
      try {
        const email = uniqueEmail('outage');
        const first = await startChild(env('commit', { TENANTRY_MAIL_URL: smtp.url }));
        assert.equal((await api(first.url, 'POST', '/api/v1/auth/signup', { email, password: GOOD_PASSWORD })).status, 201);
        // Long enough for the first delivery attempt to meet the outage (refused at once) and schedule a retry.
        await new Promise((resolve) => setTimeout(resolve, 1500));
        first.process.kill('SIGKILL');
        await first.exited;
        await smtp.restart();
        const second = await startChild(env('commit', { TENANTRY_MAIL_URL: smtp.url }));
        try {
          const mail = await smtp.waitFor((m) => m.to.includes(email), 30_000);
          assert.match(mail.subject, /verify|confirm/i);
        } finally {
          second.process.kill('SIGKILL');
          await second.exited;
        }
      } finally {
        await smtp.close();
      }
    });

    if (engine === 'postgres') {
      it('never answers with a permission a committed change took away while the database cannot be reached: 503 database_unavailable, then recovers', async () => {
        const child = await startChild(env('commit'));
        const database = pgDatabase as Database;
        const name = new URL(pgDatabase?.url ?? '').pathname.slice(1);
        const admin = (statement: string) => adminQuery(process.env.TEST_DATABASE_URL ?? '', statement);
        try {
          const owner = await api(child.url, 'POST', '/api/v1/auth/signup', { email: uniqueEmail('outage'), password: GOOD_PASSWORD });
          const tenantId = owner.json.tenant.id as string;
          // An admin of the tenant, signed in on the server; their members.manage is in its caches after three checks.
          const email = uniqueEmail('demoted');
          const signedUp = await api(child.url, 'POST', '/api/v1/auth/signup', { email, password: GOOD_PASSWORD });
          const adminId = signedUp.json.user.id as string;
          await withTenant(database.db, tenantId, (trx) => insertMembership(trx, { tenantId, userId: adminId, kind: 'direct', roles: ['admin'], now: new Date() }));
          const token = (await api(child.url, 'POST', '/api/v1/auth/login', { email, password: GOOD_PASSWORD, tenantId })).json.accessToken as string;
          const ask = () => api(child.url, 'POST', '/api/v1/check', { tenantId, permission: 'members.manage' }, token);
          for (let i = 0; i < 3; i += 1) assert.equal((await ask()).json.allowed, true);
          // Demoted by another node (this process), and the database cut off the moment that commits.
          await withTenant(database.db, tenantId, (trx) => replaceMemberRoles(trx, { tenantId, userId: adminId, roles: ['member'] }));
          await admin(`ALTER DATABASE ${name} ALLOW_CONNECTIONS false`);
          await admin(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${name}' AND pid <> pg_backend_pid()`);
          const during = [];
          for (let i = 0; i < 5; i += 1) during.push(await ask());
          for (const answer of during) assert.notEqual(answer.json?.allowed, true, `the removed permission answered while the database is down: ${JSON.stringify(answer.json)}`);
          assert.ok(
            during.every((a) => a.status === 503 && a.json.code === 'database_unavailable'),
            JSON.stringify(during.map((a) => [a.status, a.json?.code])),
          );
          await admin(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`);
          const back = await eventually(ask, (a) => a.status === 200, 10_000);
          assert.equal(back.json.allowed, false);
        } finally {
          await admin(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`).catch(() => undefined);
          child.process.kill('SIGKILL');
          await child.exited;
        }
      });
    }
  });
}
