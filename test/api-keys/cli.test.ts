import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { CliIo } from '../../src/cli/command.ts';
import { apiKeys } from '../../src/cli/commands/api-keys.ts';
import { loadConfig } from '../../src/platform/config.ts';
import { readTenant } from '../../src/platform/db/context.ts';
import { openDatabase } from '../../src/platform/db/database.ts';
import { newTenantId } from '../../src/platform/ids.ts';
import { SECRET_SHAPE } from '../helpers/api-keys.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { runCli } from '../helpers/cli.ts';
import { createTestDatabase, seedDataDir, type TestDatabase, testEngines } from '../helpers/database.ts';
import { seedTenant } from '../helpers/tenants.ts';
import { assertProblem, bearer } from '../helpers/users.ts';

const KEY_ID = /^key_[a-z2-7]{20}$/;

function captured(): CliIo & { lines: string[]; errors: string[] } {
  const lines: string[] = [];
  const errors: string[] = [];
  return { lines, errors, out: (line) => lines.push(line), err: (line) => errors.push(line) };
}

describe('tenantry api-keys (command line)', () => {
  it('is registered, and a malformed command line prints the usage and exits 2', async () => {
    const r = await runCli(['api-keys', 'create', '--tenant', newTenantId()], { TENANTRY_DATA_DIR: path.join(os.tmpdir(), 'tenantry-never-opened'), DATABASE_URL: '' });
    assert.equal(r.code, 2, r.err);
    assert.match(r.err, /--name is required/);
    assert.match(r.err, /Usage:\n {2}tenantry api-keys create --tenant <tenantId> --name <name> --permission <p>/);
    assert.match(r.err, /tenantry api-keys revoke --tenant <tenantId> --key <keyId>/);

    const help = await runCli(['help'], {});
    assert.match(help.out, /api-keys create\|list\|revoke\s+Create, list or revoke a tenant's API keys/);
    assert.match(help.out, /keys rotate \| keys list\s+Rotate the access-token signing key/, '`tenantry keys` stays the signing-key command');
  });

  it('refuses bad arguments before opening the database', async () => {
    // A data directory that does not exist: any attempt to open it would fail differently.
    const config = loadConfig({ TENANTRY_DATA_DIR: path.join(os.tmpdir(), 'tenantry-never-opened', 'nested') });
    const tenant = newTenantId();
    const cases: Array<[string[], RegExp]> = [
      [[], /missing subcommand/],
      [['rotate'], /unknown subcommand "rotate"/],
      [['list'], /--tenant is required/],
      [['list', '--tenant', 'acme'], /"acme" is not a tenant id/],
      [['list', '--tenant', tenant, '--name', 'x'], /Unknown option '--name'/],
      [['list', '--tenant', tenant, 'extra'], /positional argument/],
      [['create', '--tenant', tenant, '--name', 'ci'], /at least one --permission is required/],
      [['create', '--tenant', tenant, '--name', '   ', '--permission', 'members.read'], /--name is required/],
      [['create', '--tenant', tenant, '--name', 'x'.repeat(101), '--permission', 'members.read'], /at most 100 characters/],
      [['create', '--tenant', tenant, '--name', 'ci', '--permission'], /argument missing/],
      [['create', '--tenant', tenant, '--name', 'ci', '--permission', 'members.read', '--expires-at', 'next tuesday'], /"next tuesday" is not an ISO 8601 date/],
      [['create', '--tenant', tenant, '--name', 'ci', '--permission', 'members.read', '--expires-at', '2027-02-30T00:00'], /is not an ISO 8601 date/],
      [['revoke', '--tenant', tenant], /--key is required/],
    ];
    for (const [args, message] of cases) {
      const io = captured();
      assert.equal(await apiKeys.run(args, config, io), 2, args.join(' '));
      assert.match(io.errors[0] ?? '', message, args.join(' '));
      assert.match(io.errors.join('\n'), /Usage:/);
      assert.deepEqual(io.lines, []);
    }
  });
});

for (const engine of testEngines()) {
  describe(`tenantry api-keys [${engine}]`, () => {
    let dataDir: string;
    let env: Record<string, string>;
    let postgres: TestDatabase | undefined;

    before(async () => {
      dataDir = await mkdtemp(path.join(os.tmpdir(), 'tenantry-api-keys-cli-'));
      if (engine === 'pglite') {
        env = { TENANTRY_DATA_DIR: dataDir, DATABASE_URL: '' };
        await seedDataDir(dataDir);
      } else {
        postgres = await createTestDatabase('postgres');
        env = { TENANTRY_DATA_DIR: dataDir, DATABASE_URL: postgres.url ?? '' };
      }
    });
    after(async () => {
      await postgres?.close();
      await rm(dataDir, { recursive: true, force: true });
    });

    /**
     * An app on the database the CLI uses. On PGlite that is the CLI's data directory, which one process
     * at a time may open: the app is closed again before the next CLI run.
     */
    async function withApp<T>(fn: (t: TestApp) => Promise<T>): Promise<T> {
      const database = engine === 'pglite' ? await openDatabase({ engine, dataDir }) : await openDatabase({ engine, url: postgres?.url ?? '' });
      const t = await createTestApp(engine, { database, clockStart: new Date() });
      try {
        return await fn(t);
      } finally {
        await t.close();
      }
    }

    const members = (tenantId: string) => `/api/v1/tenants/${tenantId}/members`;
    const cli = (...args: string[]) => runCli(['api-keys', ...args], env);

    it('creates a key whose secret works until it is revoked, and lists it without the secret', async () => {
      const { tenantId, ownerId } = await withApp((t) => seedTenant(t.database, { name: 'Acme' }));

      const created = await cli('create', '--tenant', tenantId, '--name', 'CI deploy', '--permission', 'members.read', '--permission', 'tenant.read');
      assert.equal(created.code, 0, created.err);
      const keyId = /^Created API key (\S+) \("CI deploy"\) in tenant (\S+) \(Acme\)\.$/m.exec(created.out)?.[1] ?? '';
      assert.match(keyId, KEY_ID);
      const secret = /^Secret: (\S+)$/m.exec(created.out)?.[1] ?? '';
      assert.match(secret, SECRET_SHAPE);
      assert.match(created.out, /^Permissions: members\.read, tenant\.read$/m);
      assert.match(created.out, /^Expires: never$/m);
      assert.match(created.out, /Store this secret now: it is shown only once/);
      assert.equal(created.err, '');

      const listed = await cli('list', '--tenant', tenantId);
      assert.equal(listed.code, 0, listed.err);
      const [header, row, ...more] = listed.out.trimEnd().split('\n');
      assert.match(header ?? '', /^ID\s+NAME\s+STATUS\s+PERMISSIONS\s+CREATED\s+EXPIRES\s+LAST USED$/);
      assert.match(row ?? '', new RegExp(`^${keyId}\\s+CI deploy\\s+active\\s+members\\.read,tenant\\.read\\s+\\d{4}-\\d\\d-\\d\\dT\\S+Z\\s+never\\s+never$`));
      assert.deepEqual(more, []);
      assert.equal(listed.out.includes(secret.slice(-59)), false, 'the listing never shows a secret');

      await withApp(async (t) => {
        const res = await t.app.inject({ url: members(tenantId), headers: bearer(secret) });
        assert.equal(res.statusCode, 200, res.body);
        assert.deepEqual(
          res.json().members.map((m: { userId: string }) => m.userId),
          [ownerId],
        );
      });

      const json = await cli('list', '--tenant', tenantId, '--json');
      assert.equal(json.code, 0, json.err);
      const [key, ...others] = JSON.parse(json.out).apiKeys;
      assert.deepEqual(others, []);
      assert.deepEqual(
        { id: key.id, name: key.name, status: key.status, permissions: key.permissions, createdBy: key.createdBy, expiresAt: key.expiresAt, revokedAt: key.revokedAt },
        { id: keyId, name: 'CI deploy', status: 'active', permissions: ['members.read', 'tenant.read'], createdBy: { type: 'system', id: null }, expiresAt: null, revokedAt: null },
      );
      assert.match(key.lastUsedAt, /^\d{4}-\d\d-\d\dT/, 'the request above used the key');
      assert.equal('secret' in key, false);
      assert.equal(json.out.includes(secret.slice(-59)), false);

      const revoked = await cli('revoke', '--tenant', tenantId, '--key', keyId);
      assert.equal(revoked.code, 0, revoked.err);
      assert.match(revoked.out, new RegExp(`API key ${keyId} in tenant ${tenantId} is revoked`));

      await withApp(async (t) => {
        assertProblem(await t.app.inject({ url: members(tenantId), headers: bearer(secret) }), 401, 'invalid_api_key');
        const audit = await readTenant(t.database.db, tenantId, (trx) =>
          trx
            .selectFrom('audit_events')
            .select(['action', 'actor_type', 'actor_id', 'target_id'])
            .where('tenant_id', '=', tenantId)
            .where('action', 'like', 'api_key.%')
            .orderBy('seq')
            .execute(),
        );
        assert.deepEqual(audit, [
          { action: 'api_key.created', actor_type: 'system', actor_id: null, target_id: keyId },
          { action: 'api_key.revoked', actor_type: 'system', actor_id: null, target_id: keyId },
        ]);
      });

      const afterRevoke = await cli('list', '--tenant', tenantId);
      assert.match(afterRevoke.out, new RegExp(`^${keyId}\\s+CI deploy\\s+revoked\\s`, 'm'));
    });

    it('prints the new key as JSON with --json, secret included, and keeps an expiry', async () => {
      const { tenantId } = await withApp((t) => seedTenant(t.database, { name: 'Json Co' }));
      const created = await cli('create', '--tenant', tenantId, '--name', 'exporter', '--permission', 'members.read', '--expires-at', '2099-01-31', '--json');
      assert.equal(created.code, 0, created.err);
      const body = JSON.parse(created.out);
      assert.match(body.id, KEY_ID);
      assert.match(body.secret, SECRET_SHAPE);
      assert.deepEqual(
        { tenantId: body.tenantId, name: body.name, permissions: body.permissions, status: body.status, expiresAt: body.expiresAt, lastUsedAt: body.lastUsedAt },
        { tenantId, name: 'exporter', permissions: ['members.read'], status: 'active', expiresAt: '2099-01-31T00:00:00.000Z', lastUsedAt: null },
      );
      const listed = await cli('list', '--tenant', tenantId);
      assert.match(listed.out, new RegExp(`^${body.id}\\s+exporter\\s+active\\s+members\\.read\\s+\\S+\\s+2099-01-31T00:00:00\\.000Z\\s+never$`, 'm'));
    });

    it('says so in one line and exits 1 for an unknown tenant, permission or key, creating nothing', async () => {
      const { tenantId } = await withApp((t) => seedTenant(t.database, { name: 'Errors Inc' }));
      const nobody = newTenantId();
      const failures: Array<[string[], RegExp]> = [
        [['create', '--tenant', nobody, '--name', 'ci', '--permission', 'members.read'], new RegExp(`^tenantry api-keys create: no tenant ${nobody}$`)],
        [['list', '--tenant', nobody], new RegExp(`^tenantry api-keys list: no tenant ${nobody}$`)],
        [['revoke', '--tenant', nobody, '--key', 'key_aaaaaaaaaaaaaaaaaaaa'], new RegExp(`^tenantry api-keys revoke: no tenant ${nobody}$`)],
        [
          ['create', '--tenant', tenantId, '--name', 'ci', '--permission', 'members.read', '--permission', 'nope.nothing', '--permission', 'tenant.explode'],
          /^tenantry api-keys create: unknown permission\(s\), not in the "default" preset's catalogue: nope\.nothing, tenant\.explode$/,
        ],
        [
          ['create', '--tenant', tenantId, '--name', 'ci', '--permission', 'members.read', '--expires-at', '2001-01-01'],
          /^tenantry api-keys create: expiresAt must be later than /,
        ],
        [
          ['revoke', '--tenant', tenantId, '--key', 'key_aaaaaaaaaaaaaaaaaaaa'],
          new RegExp(`^tenantry api-keys revoke: no API key key_aaaaaaaaaaaaaaaaaaaa in tenant ${tenantId}$`),
        ],
      ];
      // In this process (as test/tokens/keys-cli.test.ts does): the spawned binary is covered above, and
      // each spawn would pay for loading the whole CLI again.
      const config = loadConfig(env);
      for (const [args, message] of failures) {
        const io = captured();
        assert.equal(await apiKeys.run(args, config, io), 1, `${args.join(' ')}: ${io.errors.join('\n')}`);
        assert.equal(io.errors.length, 1, io.errors.join('\n'));
        assert.match(io.errors[0] ?? '', message);
        assert.deepEqual(io.lines, []);
      }
      const listed = captured();
      assert.equal(await apiKeys.run(['list', '--tenant', tenantId], config, listed), 0);
      assert.deepEqual(listed.lines, [`No API keys in tenant ${tenantId}.`]);
    });

    it('warns when the preset gates keys behind a feature that is off for the tenant', async () => {
      const { tenantId } = await withApp((t) => seedTenant(t.database, { name: 'MQTT tenant' }));
      const io = captured();
      assert.equal(
        await apiKeys.run(['create', '--tenant', tenantId, '--name', 'mgmt', '--permission', 'members.read'], loadConfig({ ...env, TENANTRY_PRESET: 'mqtt-portal' }), io),
        0,
      );
      assert.deepEqual(io.errors, [`Note: the mgmt_api feature is off for tenant ${tenantId}; under the "mqtt-portal" preset its keys are refused until it is on.`]);
      assert.match(io.lines.join('\n'), /Secret: tnty_/);
    });
  });
}
