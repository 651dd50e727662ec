import { type ParseArgsOptionsConfig, parseArgs } from 'node:util';
import { ApiKeyErrors } from '../../api-keys/api-keys.errors.ts';
import { findKeyTenantState } from '../../api-keys/api-keys.repository.ts';
import { presentApiKey } from '../../api-keys/api-keys.routes.ts';
import { type ApiKeyDeps, type ApiKeyView, createApiKey, listKeys, revokeApiKey } from '../../api-keys/api-keys.service.ts';
import type { AuditContext } from '../../audit/audit.repository.ts';
import { systemClock } from '../../platform/clock.ts';
import { readTenant } from '../../platform/db/context.ts';
import type { Database } from '../../platform/db/database.ts';
import { migrationState } from '../../platform/db/migrator.ts';
import { openConfiguredDatabase } from '../../platform/db/open.ts';
import { AppError } from '../../platform/http/errors.ts';
import { TENANT_ID_PATTERN } from '../../platform/ids.ts';
import { loadPreset } from '../../presets/presets.ts';
import { findTenant } from '../../tenants/tenants.repository.ts';
import type { CliIo, Command } from '../command.ts';
import { RoleErrors } from '../../roles/roles.errors.ts';

const USAGE = [
  'Usage:',
  '  tenantry api-keys create --tenant <tenantId> --name <name> --permission <p> [--permission <p>...] [--expires-at <ISO date>] [--json]',
  '  tenantry api-keys list --tenant <tenantId> [--json]',
  '  tenantry api-keys revoke --tenant <tenantId> --key <keyId>',
].join('\n');

/** Exit code for a malformed command line (nothing was opened or changed). */
const BAD_ARGUMENTS = 2;

/** The operator at the console: no person, no request. */
const OPERATOR: AuditContext = { actorType: 'system', actorId: null, requestId: null, ip: null };

const OPTIONS = {
  create: {
    tenant: { type: 'string' },
    name: { type: 'string' },
    permission: { type: 'string', multiple: true },
    'expires-at': { type: 'string' },
    json: { type: 'boolean' },
  },
  list: { tenant: { type: 'string' }, json: { type: 'boolean' } },
  revoke: { tenant: { type: 'string' }, key: { type: 'string' } },
} as const;

type Subcommand = keyof typeof OPTIONS;

type Request =
  | { sub: 'create'; tenantId: string; name: string; permissions: string[]; expiresAt: Date | null; json: boolean }
  | { sub: 'list'; tenantId: string; json: boolean }
  | { sub: 'revoke'; tenantId: string; keyId: string };

/**
 * API keys for a tenant, from the operator's console (SPEC 4 "API keys & machine tokens"): the way to give
 * a machine its first key, or to revoke a leaked one without signing in. The operator is not bound by a
 * creator's permissions, but every permission must still be in the preset's catalogue.
 * (`tenantry keys` is something else: the access-token signing keys.)
 */
export const apiKeys: Command = {
  name: 'api-keys',
  usage: 'api-keys create|list|revoke',
  handlesHelp: true,
  summary: "Create, list or revoke a tenant's API keys (the secret is shown once, at creation)",
  async run(args, config, io) {
    const [sub, ...rest] = args;
    if (sub === 'help' || sub === '--help' || sub === '-h') {
      io.out(USAGE);
      return 0;
    }
    const parsed = parse(sub, rest);
    if (typeof parsed === 'string') {
      io.err(`tenantry api-keys: ${parsed}`);
      io.err(USAGE);
      return BAD_ARGUMENTS;
    }
    const preset = loadPreset(config.preset);
    const database = await openConfiguredDatabase(config);
    try {
      if (!(await isMigrated(database, io))) return 1;
      const deps: ApiKeyDeps = { db: database.db, clock: systemClock, preset };
      // The key's foreign key would catch an unknown tenant too, but as a constraint crash, not a sentence.
      const tenant = await readTenant(database.db, parsed.tenantId, (trx) => findTenant(trx, parsed.tenantId));
      if (tenant === undefined || tenant.status === 'deleted') {
        io.err(`tenantry api-keys ${parsed.sub}: no tenant ${parsed.tenantId}`);
        return 1;
      }
      switch (parsed.sub) {
        case 'create': {
          const { key, secret } = await createApiKey(deps, { access: null, audit: OPERATOR }, parsed.tenantId, {
            name: parsed.name,
            permissions: parsed.permissions,
            expiresAt: parsed.expiresAt,
          });
          if (parsed.json) {
            io.out(JSON.stringify({ ...presentApiKey(key), secret }, null, 2));
          } else {
            io.out(`Created API key ${key.id} ("${key.name}") in tenant ${tenant.id} (${tenant.name}).`);
            io.out(`Permissions: ${key.permissions.join(', ')}`);
            io.out(`Expires: ${key.expiresAt?.toISOString() ?? 'never'}`);
            io.out('');
            io.out(`Secret: ${secret}`);
            io.out('Store this secret now: it is shown only once and cannot be recovered (revoke the key and create another if it is lost).');
          }
          if (tenant.status !== 'active') io.err(`Note: tenant ${tenant.id} is ${tenant.status.replace('_', ' ')}; its keys are refused until it is active again.`);
          const feature = preset.apiKeysFeature;
          if (feature !== null) {
            const state = await readTenant(database.db, tenant.id, (trx) => findKeyTenantState(trx, tenant.id, feature));
            if (!(state?.featureOverride ?? preset.features.get(feature)?.default ?? false)) {
              io.err(`Note: the ${feature} feature is off for tenant ${tenant.id}; under the "${preset.name}" preset its keys are refused until it is on.`);
            }
          }
          return 0;
        }
        case 'list': {
          const keys = await listKeys(deps, parsed.tenantId);
          if (parsed.json) io.out(JSON.stringify({ apiKeys: keys.map(presentApiKey) }, null, 2));
          else printTable(keys, tenant.id, io);
          return 0;
        }
        case 'revoke': {
          const revoked = await revokeApiKey(deps, OPERATOR, parsed.tenantId, parsed.keyId);
          io.out(`API key ${parsed.keyId} in tenant ${tenant.id} is revoked; requests with it are refused from now on.`);
          const minted = revoked.filter((id) => id !== parsed.keyId);
          if (minted.length > 0) io.out(`Also revoked the keys it minted: ${minted.join(', ')}.`);
          return 0;
        }
      }
    } catch (error) {
      if (error instanceof AppError) {
        io.err(`tenantry api-keys ${parsed.sub}: ${describe(error, parsed, config.preset)}`);
        return 1;
      }
      throw error;
    } finally {
      await database.close();
    }
  },
};

/** The request, or what is wrong with the command line. */
function parse(sub: string | undefined, args: string[]): Request | string {
  if (sub === undefined) return 'missing subcommand (create, list or revoke)';
  if (!Object.hasOwn(OPTIONS, sub)) return `unknown subcommand "${sub}"`;
  const name = sub as Subcommand;
  let values: { tenant?: string; name?: string; permission?: string[]; 'expires-at'?: string; json?: boolean; key?: string };
  try {
    // Each subcommand's options are a subset of this shape; strict parsing refuses any other option.
    values = parseArgs({ args, options: OPTIONS[name] as ParseArgsOptionsConfig, strict: true, allowPositionals: false }).values as typeof values;
  } catch (error) {
    // parseArgs explains unknown options, missing values and stray arguments well enough.
    return (error as Error).message;
  }
  const tenantId = values.tenant;
  if (tenantId === undefined) return '--tenant is required';
  if (!new RegExp(TENANT_ID_PATTERN).test(tenantId)) return `"${tenantId}" is not a tenant id (t followed by 15 lowercase letters and digits 2-7)`;

  if (name === 'list') return { sub: name, tenantId, json: values.json ?? false };
  if (name === 'revoke') {
    if (values.key === undefined || values.key === '') return '--key is required';
    return { sub: name, tenantId, keyId: values.key };
  }

  // The same bounds as POST /tenants/{tenantId}/api-keys.
  const keyName = values.name?.trim() ?? '';
  if (keyName === '') return '--name is required';
  if (keyName.length > 100) return '--name must be at most 100 characters';
  const permissions = values.permission ?? [];
  if (permissions.length === 0) return 'at least one --permission is required';
  if (permissions.length > 200) return 'at most 200 --permission options';
  if (permissions.some((p) => p === '' || p.length > 200)) return 'a --permission must be 1 to 200 characters';
  let expiresAt: Date | null = null;
  const expires = values['expires-at'];
  if (expires !== undefined) {
    // An ISO 8601 date or date-time; Date.parse alone would also take "March 3" in the local zone.
    expiresAt = /^\d{4}-\d\d-\d\d(?:T\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:Z|[+-]\d\d:\d\d))?$/.test(expires) ? new Date(expires) : new Date(Number.NaN);
    if (Number.isNaN(expiresAt.getTime())) return `--expires-at "${expires}" is not an ISO 8601 date (e.g. 2027-01-31 or 2027-01-31T12:00:00Z)`;
  }
  return { sub: name, tenantId, name: keyName, permissions, expiresAt, json: values.json ?? false };
}

function describe(error: AppError, request: Request, presetName: string): string {
  if (error.spec.code === RoleErrors.UNKNOWN_PERMISSION.code) {
    const unknown = Array.isArray(error.extras.permissions) ? error.extras.permissions.join(', ') : error.message;
    return `unknown permission(s), not in the "${presetName}" preset's catalogue: ${unknown}`;
  }
  if (error.spec.code === ApiKeyErrors.API_KEY_NOT_FOUND.code && request.sub === 'revoke') {
    return `no API key ${request.keyId} in tenant ${request.tenantId}`;
  }
  return error.message;
}

/** The key table exists only once migrations have run; say so instead of failing on a missing table. */
async function isMigrated(database: Database, io: CliIo): Promise<boolean> {
  const pending = (await database.withOwner(migrationState)).filter((m) => m.executedAt === undefined).length;
  if (pending === 0) return true;
  io.err(`tenantry api-keys: the database is not fully migrated (${pending} pending); run \`tenantry migrate\` first.`);
  return false;
}

/** Never a secret: only its hash is stored, and the listing does not even show that. */
function printTable(keys: ApiKeyView[], tenantId: string, io: CliIo): void {
  if (keys.length === 0) {
    io.out(`No API keys in tenant ${tenantId}.`);
    return;
  }
  const date = (d: Date | null, none: string) => d?.toISOString() ?? none;
  const rows = [
    ['ID', 'NAME', 'STATUS', 'PERMISSIONS', 'CREATED', 'EXPIRES', 'LAST USED'],
    ...keys.map((k) => [k.id, k.name, k.status, k.permissions.join(','), date(k.createdAt, '-'), date(k.expiresAt, 'never'), date(k.lastUsedAt, 'never')]),
  ];
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => r[i]?.length ?? 0))) ?? [];
  for (const row of rows) io.out(row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  '));
}
