import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { lockDataDir } from '../../src/platform/db/data-dir-lock.ts';
import { openDatabase } from '../../src/platform/db/database.ts';
import { CLI_BIN, runCli, runCliProcess } from '../helpers/cli.ts';

/** Resolves with the first stdout line matching `pattern`. */
function waitForLine(child: ChildProcess, pattern: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffer = '';
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${pattern}; got: ${buffer}`)), 60_000);
    child.stdout?.on('data', (d: Buffer) => {
      buffer += d;
      const match = buffer.split('\n').find((l) => pattern.test(l));
      if (match) {
        clearTimeout(timer);
        resolve(match);
      }
    });
    child.on('exit', () => reject(new Error(`exited before ${pattern}; got: ${buffer}`)));
  });
}

describe('the tenantry CLI on the embedded database', () => {
  let dataDir: string;
  before(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'tenantry-cli-'));
  });
  after(() => rm(dataDir, { recursive: true, force: true }));

  it('migrates, then doctor reports engine, version, migrations and isolation', async () => {
    const env = { TENANTRY_DATA_DIR: dataDir, DATABASE_URL: '' };
    const migrated = await runCli(['migrate'], env);
    assert.equal(migrated.code, 0, migrated.err);
    assert.match(migrated.out, /Applied \d+ migration\(s\)/);
    assert.equal((await runCli(['migrate'], env)).out.trim(), 'Database is up to date.');
    const doctor = await runCli(['doctor'], { ...env, TENANTRY_ADMIN_PASSWORD: 'do-not-print-me' });
    assert.equal(doctor.code, 0, doctor.err);
    assert.match(doctor.out, /Database: pglite/);
    assert.match(doctor.out, /PostgreSQL \d+/);
    assert.match(doctor.out, /Migrations: \d+ applied, 0 pending/);
    assert.match(doctor.out, /Isolation: ok/);
    assert.doesNotMatch(doctor.out, /do-not-print-me/);
  });

  it('refuses a second opener of the same data directory with a clear message', async () => {
    const release = lockDataDir(dataDir);
    try {
      // Another process: within this one the lock is this process's own.
      const second = await runCliProcess(['doctor'], { TENANTRY_DATA_DIR: dataDir, DATABASE_URL: '' });
      assert.equal(second.code, 1);
      assert.match(second.err, /in use by another Tenantry process \(pid \d+\)/);
      await assert.rejects(openDatabase({ engine: 'pglite', dataDir }), /already open in this process/);
    } finally {
      release();
    }
  });

  it('serves, then drains and exits 0 on SIGTERM', async () => {
    const child = spawn(process.execPath, [CLI_BIN, 'serve'], {
      env: { ...process.env, TENANTRY_DATA_DIR: dataDir, DATABASE_URL: '', PORT: '0', TENANTRY_HOST: '127.0.0.1', TENANTRY_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const setup = waitForLine(child, /\/setup\?token=/);
    const line = await waitForLine(child, /listening on http:\/\/localhost:\d+/);
    assert.match(await setup, /^\s+http:\/\/localhost:\d+\/setup\?token=[\w%-]+$/);
    const url = /listening on (http:\/\/localhost:\d+)/.exec(line)?.[1];
    const health = await fetch(`${url}/healthz`);
    assert.equal(health.status, 200);
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
  });

  it('creates the platform operator with `admin create`', async () => {
    const env = { TENANTRY_DATA_DIR: dataDir, DATABASE_URL: '' };
    const created = await runCli(['admin', 'create', '--email', 'ops@example.test', '--password', 'a long operator passphrase'], env);
    assert.equal(created.code, 0, created.err);
    assert.match(created.out, /Created operator ops@example\.test/);
    const again = await runCli(['admin', 'create', '--email', 'OPS@example.test', '--password', 'whatever it is now'], env);
    assert.match(again.out, /Promoted ops@example\.test/);
    const bad = await runCli(['admin', 'create', '--email', 'x@example.test'], env);
    assert.equal(bad.code, 1);
    assert.match(bad.err, /usage: tenantry admin create/);
  });

  it('prints usage and fails on an unknown command', async () => {
    const r = await runCli(['frobnicate'], {});
    assert.equal(r.code, 1);
    assert.match(r.err, /unknown command "frobnicate"/);
    assert.match(r.out, /doctor/);
  });
});
