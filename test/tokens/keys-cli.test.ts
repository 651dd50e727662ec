import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { CliIo } from '../../src/cli/command.ts';
import { keys } from '../../src/cli/commands/keys.ts';
import { migrate } from '../../src/cli/commands/migrate.ts';
import { type Config, ConfigError, loadConfig } from '../../src/platform/config.ts';
import { testEngines } from '../helpers/database.ts';

const BIN = fileURLToPath(new URL('../../bin/tenantry.js', import.meta.url));

function captured(): CliIo & { out: (line: string) => void; lines: string[]; errors: string[] } {
  const lines: string[] = [];
  const errors: string[] = [];
  return { lines, errors, out: (line) => lines.push(line), err: (line) => errors.push(line) };
}

async function adminQuery(url: string, text: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

const KID = /^[A-Za-z0-9_-]{43}$/;

describe('tenantry keys (command line)', () => {
  it('is registered and explains its usage', async () => {
    const result = await new Promise<{ code: number | null; err: string }>((resolve) => {
      const child = spawn(process.execPath, [BIN, 'keys'], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d));
      child.on('close', (code) => resolve({ code, err }));
    });
    assert.equal(result.code, 1);
    assert.match(result.err, /Usage: tenantry keys rotate \| keys list/);
  });
});

for (const engine of testEngines()) {
  describe(`tenantry keys [${engine}]`, () => {
    let config: Config;
    let cleanup: () => Promise<void>;
    let dataDir: string;
    const savedSecret = process.env.TENANTRY_SECRET_KEY;

    before(async () => {
      dataDir = await mkdtemp(path.join(os.tmpdir(), 'tenantry-keys-'));
      if (engine === 'pglite') {
        delete process.env.TENANTRY_SECRET_KEY;
        config = loadConfig({ TENANTRY_DATA_DIR: dataDir });
        cleanup = async () => {};
      } else {
        const adminUrl = process.env.TEST_DATABASE_URL ?? '';
        const name = `tenantry_test_${randomBytes(6).toString('hex')}`;
        await adminQuery(adminUrl, `CREATE DATABASE ${name}`);
        const url = new URL(adminUrl);
        url.pathname = `/${name}`;
        config = loadConfig({ DATABASE_URL: url.toString(), TENANTRY_DATA_DIR: dataDir });
        cleanup = () => adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      }
    });
    after(async () => {
      if (savedSecret === undefined) delete process.env.TENANTRY_SECRET_KEY;
      else process.env.TENANTRY_SECRET_KEY = savedSecret;
      await cleanup();
      await rm(dataDir, { recursive: true, force: true });
    });

    it('asks for `tenantry migrate` on an unmigrated database', async () => {
      const io = captured();
      assert.equal(await keys.run(['list'], config, io), 1);
      assert.match(io.errors.join('\n'), /run `tenantry migrate` first/);
    });

    if (engine === 'postgres') {
      it('refuses to rotate without TENANTRY_SECRET_KEY', async () => {
        delete process.env.TENANTRY_SECRET_KEY;
        await assert.rejects(keys.run(['rotate'], config, captured()), (error: unknown) => error instanceof ConfigError && /every node must share/.test(error.message));
        process.env.TENANTRY_SECRET_KEY = randomBytes(32).toString('hex');
      });
    }

    it('rotates (printing the new kid) and lists keys with their status', async () => {
      assert.equal(await migrate.run([], config, captured()), 0);
      const empty = captured();
      assert.equal(await keys.run(['list'], config, empty), 0);
      assert.match(empty.lines.join('\n'), /No signing keys yet/);

      const first = captured();
      assert.equal(await keys.run(['rotate'], config, first), 0);
      assert.equal(first.lines.length, 1);
      const firstKid = first.lines[0] ?? '';
      assert.match(firstKid, KID);
      if (engine === 'pglite') assert.equal((await stat(path.join(dataDir, 'secret.key'))).mode & 0o777, 0o600);

      const second = captured();
      assert.equal(await keys.run(['rotate'], config, second), 0);
      const secondKid = second.lines[0] ?? '';
      assert.match(secondKid, KID);
      assert.notEqual(secondKid, firstKid);

      const listed = captured();
      assert.equal(await keys.run(['list'], config, listed), 0);
      const [header, ...rows] = listed.lines;
      assert.match(header ?? '', /^KID\s+ALG\s+CREATED\s+STATUS$/);
      assert.equal(rows.length, 2);
      assert.match(rows[0] ?? '', new RegExp(`^${secondKid}\\s+ES256\\s+\\S+Z\\s+active \\(signing\\)$`));
      assert.match(rows[1] ?? '', new RegExp(`^${firstKid}\\s+ES256\\s+\\S+Z\\s+retired \\d{4}-\\d\\d-\\d\\dT`));
    });

    it('refuses unknown subcommands', async () => {
      const io = captured();
      assert.equal(await keys.run(['delete'], config, io), 1);
      assert.equal(await keys.run(['list', 'extra'], config, io), 1);
      assert.match(io.errors.join('\n'), /Usage: tenantry keys rotate \| keys list/);
    });
  });
}
