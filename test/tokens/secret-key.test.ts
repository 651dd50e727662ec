import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/platform/config.ts';
import { loadSecretKey, SECRET_KEY_FILE } from '../../src/tokens/secret-key.ts';

describe('loadSecretKey', () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'tenantry-secret-key-'));
  });
  after(() => rm(root, { recursive: true, force: true }));

  const postgres = () => loadConfig({ DATABASE_URL: 'postgres://tenantry@db.example/tenantry' });
  const embedded = (dataDir: string) => loadConfig({ TENANTRY_DATA_DIR: dataDir });

  it('reads 64 hex characters from TENANTRY_SECRET_KEY', () => {
    const key = randomBytes(32);
    assert.deepEqual(loadSecretKey(postgres(), { TENANTRY_SECRET_KEY: key.toString('hex') }), key);
    assert.deepEqual(loadSecretKey(postgres(), { TENANTRY_SECRET_KEY: ` ${key.toString('hex').toUpperCase()}\n` }), key);
  });

  it('reads base64 (padded or not) and base64url', () => {
    for (let i = 0; i < 20; i++) {
      const key = randomBytes(32);
      assert.deepEqual(loadSecretKey(postgres(), { TENANTRY_SECRET_KEY: key.toString('base64') }), key);
      assert.deepEqual(loadSecretKey(postgres(), { TENANTRY_SECRET_KEY: key.toString('base64').replace(/=$/, '') }), key);
      assert.deepEqual(loadSecretKey(postgres(), { TENANTRY_SECRET_KEY: key.toString('base64url') }), key);
    }
  });

  it('refuses a key of the wrong length or alphabet with a ConfigError that does not echo it', () => {
    const bad = [
      randomBytes(16).toString('hex'),
      randomBytes(33).toString('hex'),
      randomBytes(31).toString('base64'),
      randomBytes(48).toString('base64url'),
      'correct horse battery staple correct horse battery staple 12345',
      `${randomBytes(32).toString('hex').slice(0, 63)}g`,
    ];
    for (const value of bad) {
      assert.throws(
        () => loadSecretKey(postgres(), { TENANTRY_SECRET_KEY: value }),
        (error: unknown) => error instanceof ConfigError && /TENANTRY_SECRET_KEY must be 32 bytes/.test(error.message) && !error.message.includes(value),
        value,
      );
    }
  });

  it('refuses PostgreSQL without a key, explaining that every node must share it', () => {
    for (const env of [{}, { TENANTRY_SECRET_KEY: '  ' }]) {
      assert.throws(
        () => loadSecretKey(postgres(), env),
        (error: unknown) => error instanceof ConfigError && /every node must share/.test(error.message) && /openssl rand -hex 32/.test(error.message),
      );
    }
  });

  it('on the embedded engine creates <dataDir>/secret.key once (mode 0600) and reuses it', async () => {
    const dataDir = path.join(root, 'embedded', 'nested');
    const first = loadSecretKey(embedded(dataDir), {});
    assert.equal(first.length, 32);
    const file = path.join(dataDir, SECRET_KEY_FILE);
    const info = await stat(file);
    assert.equal(info.mode & 0o777, 0o600);
    assert.equal(await readFile(file, 'utf8'), `${first.toString('hex')}\n`);
    const second = loadSecretKey(embedded(dataDir), {});
    assert.deepEqual(second, first);
    assert.equal(await readFile(file, 'utf8'), `${first.toString('hex')}\n`);
    assert.deepEqual(await readdir(dataDir), [SECRET_KEY_FILE], 'no temporary files are left behind');
  });

  it('prefers TENANTRY_SECRET_KEY over the file, and creates no file then', async () => {
    const dataDir = path.join(root, 'env-wins');
    const key = randomBytes(32);
    assert.deepEqual(loadSecretKey(embedded(dataDir), { TENANTRY_SECRET_KEY: key.toString('hex') }), key);
    await assert.rejects(stat(path.join(dataDir, SECRET_KEY_FILE)), { code: 'ENOENT' });
  });

  it('refuses a damaged secret.key instead of replacing it', async () => {
    const dataDir = path.join(root, 'damaged');
    loadSecretKey(embedded(dataDir), {});
    const file = path.join(dataDir, SECRET_KEY_FILE);
    await writeFile(file, 'not a key\n');
    assert.throws(
      () => loadSecretKey(embedded(dataDir), {}),
      (error: unknown) => error instanceof ConfigError && error.message.includes(file),
    );
    assert.equal(await readFile(file, 'utf8'), 'not a key\n');
  });
});
