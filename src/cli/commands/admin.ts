import { type ParseArgsOptionsConfig, parseArgs } from 'node:util';
import { createOperator } from '../../accounts/operator.service.ts';
import { type Clock, systemClock } from '../../platform/clock.ts';
import type { Config } from '../../platform/config.ts';
import { DataDirLockedError } from '../../platform/db/data-dir-lock.ts';
import type { Database } from '../../platform/db/database.ts';
import { openConfiguredDatabase } from '../../platform/db/open.ts';
import { AppError } from '../../platform/http/errors.ts';
import { applyPresetSettings } from '../../presets/apply.ts';
import { loadPreset } from '../../presets/presets.ts';
import { SLUG_PATTERN } from '../../tenants/tenants.repository.ts';
import { type AdminBackend, CliFailure, describeProblem, type InstallListing, type InvitationJson, type TenantRef, type UserJson } from '../admin/backend.ts';
import { localBackend, prepareLocal } from '../admin/local.ts';
import { remoteBackend } from '../admin/remote.ts';
import { type CliEnv, type CliIo, type Command, isHelp } from '../command.ts';
import { printTable } from '../table.ts';

/** Exit code for a malformed command line (nothing was opened or changed). */
const BAD_ARGUMENTS = 2;

const REMOTE_OPTIONS = '[--url URL --token TOKEN] [--json]';

const CREATE_USAGE = 'tenantry admin create --email <email> --password <password> (or TENANTRY_ADMIN_PASSWORD) [--name <name>]';

const GROUP_USAGE = {
  tenants: [
    `tenantry admin tenants list ${REMOTE_OPTIONS}`,
    `tenantry admin tenants create --name <name> --slug <slug> [--owner <email|userId>] [--parent <tenant>] ${REMOTE_OPTIONS}   (no owner: the platform owns it)`,
    `tenantry admin tenants suspend <tenant> [--reason <text>] ${REMOTE_OPTIONS}`,
    `tenantry admin tenants resume <tenant> ${REMOTE_OPTIONS}`,
    `tenantry admin tenants delete <tenant> --confirm <slug> [--include-descendants] ${REMOTE_OPTIONS}`,
  ],
  users: [
    'tenantry admin users list [--json]   (not through --url: the HTTP API has no route listing users)',
    `tenantry admin users invite <email> --tenant <tenant> --role <role> [--role <role>...] ${REMOTE_OPTIONS}`,
    `tenantry admin users set-default-tenant <email|userId> --tenant <tenant> ${REMOTE_OPTIONS}`,
  ],
  invitations: [
    `tenantry admin invitations list --tenant <tenant> [--status pending|accepted|revoked|expired] ${REMOTE_OPTIONS}`,
    `tenantry admin invitations revoke <invitationId|email> --tenant <tenant> ${REMOTE_OPTIONS}`,
  ],
} as const;

type Group = keyof typeof GROUP_USAGE;

const NOTES = [
  "A <tenant> is a tenant id or its slug. The console acts as the operator with the platform's authority, through the",
  'same services and checks as the HTTP API; the audit trail records it as actor "system" via platform_admin.',
  '',
  'Remote mode: with --url and --token (or TENANTRY_URL and TENANTRY_TOKEN) the command goes through a running',
  "server's HTTP API (/api/v1) instead of opening the database, as the token's person or API key; use it while the",
  "server holds the embedded database. The token is an operator's access token (POST /api/v1/auth/login) or an API key.",
  '',
  'Exit codes: 0 done, 1 refused or failed (nothing changed), 2 bad command line.',
];

function usage(group?: Group): string {
  const lines = group === undefined ? [CREATE_USAGE, ...Object.values(GROUP_USAGE).flat()] : [...GROUP_USAGE[group]];
  return ['Usage:', ...lines.map((l) => `  ${l}`), '', ...NOTES].join('\n');
}

const COMMON = { url: { type: 'string' }, token: { type: 'string' }, json: { type: 'boolean' } } as const;

/** Each verb's options and how many positionals it takes (the tenant, user or invitation it acts on). */
const VERBS = {
  tenants: {
    list: { options: {}, positional: undefined },
    create: { options: { name: { type: 'string' }, slug: { type: 'string' }, parent: { type: 'string' }, owner: { type: 'string' } }, positional: undefined },
    suspend: { options: { reason: { type: 'string' } }, positional: '<tenant>' },
    resume: { options: {}, positional: '<tenant>' },
    delete: { options: { confirm: { type: 'string' }, 'include-descendants': { type: 'boolean' } }, positional: '<tenant>' },
  },
  users: {
    list: { options: {}, positional: undefined },
    invite: { options: { tenant: { type: 'string' }, role: { type: 'string', multiple: true } }, positional: '<email>' },
    'set-default-tenant': { options: { tenant: { type: 'string' } }, positional: '<email|userId>' },
  },
  invitations: {
    list: { options: { tenant: { type: 'string' }, status: { type: 'string' } }, positional: undefined },
    revoke: { options: { tenant: { type: 'string' } }, positional: '<invitationId|email>' },
  },
} as const satisfies Record<Group, Record<string, { options: ParseArgsOptionsConfig; positional: string | undefined }>>;

interface Values {
  url?: string;
  token?: string;
  json?: boolean;
  name?: string;
  slug?: string;
  parent?: string;
  owner?: string;
  reason?: string;
  confirm?: string;
  'include-descendants'?: boolean;
  tenant?: string;
  role?: string[];
  status?: string;
}

interface Parsed {
  group: Group;
  verb: string;
  target: string | undefined;
  values: Values;
}

/** Test seams: an already-open database (left open) and a clock instead of the configured database and the wall clock. */
export interface AdminOptions {
  database?: Database;
  clock?: Clock;
}

/**
 * The operator's console (issue 11): the platform operator (`create`), and the install's tenants, people and
 * invitations, with the checks and audit of the HTTP API: the same services, on the configured database, or
 * through a running server's API (`--url`, `--token`) while it holds the embedded database.
 */
export const admin: Command = {
  name: 'admin',
  usage: 'admin create|tenants|users|invitations',
  summary: 'Operate the install: create the platform operator; list, create, suspend, resume or delete tenants; invite people, set default tenants; list or revoke invitations',
  handlesHelp: true,
  run: (args, config, io, env = process.env) => runAdmin(args, config, io, env),
};

export async function runAdmin(args: string[], config: Config, io: CliIo, env: CliEnv, options: AdminOptions = {}): Promise<number> {
  const [first, ...rest] = args;
  if (isHelp(first)) {
    io.out(usage());
    return 0;
  }
  if (first === 'create') return createOperatorCommand(rest, config, io);
  if (first === undefined || !Object.hasOwn(GROUP_USAGE, first)) {
    io.err(first === undefined ? 'tenantry admin: missing subcommand (create, tenants, users or invitations)' : `tenantry admin: unknown subcommand "${first}"`);
    io.err(usage());
    return BAD_ARGUMENTS;
  }
  const group = first as Group;
  if (rest.some(isHelpFlag) || isHelp(rest[0])) {
    io.out(usage(group));
    return 0;
  }
  const parsed = parse(group, rest);
  if (typeof parsed === 'string') {
    io.err(`tenantry admin ${group}: ${parsed}`);
    io.err(usage(group));
    return BAD_ARGUMENTS;
  }
  const name = `tenantry admin ${group} ${parsed.verb}`;
  const problem = checkArguments(parsed);
  if (problem !== undefined) {
    io.err(`${name}: ${problem}`);
    io.err(usage(group));
    return BAD_ARGUMENTS;
  }

  const url = parsed.values.url ?? nonEmpty(env.TENANTRY_URL);
  const token = parsed.values.token ?? nonEmpty(env.TENANTRY_TOKEN);
  if ((url === undefined) !== (token === undefined)) {
    io.err(`${name}: remote mode needs both --url and --token (or TENANTRY_URL and TENANTRY_TOKEN); ${url === undefined ? 'the URL' : 'the token'} is missing`);
    return BAD_ARGUMENTS;
  }
  if (url !== undefined && !/^https?:\/\/[^/]/.test(url)) {
    io.err(`${name}: --url "${url}" is not an http(s) URL (e.g. http://localhost:3000)`);
    return BAD_ARGUMENTS;
  }

  let backend: AdminBackend;
  try {
    backend = url !== undefined && token !== undefined ? remoteBackend(url, token) : await openLocal(config, options);
  } catch (error) {
    if (error instanceof DataDirLockedError) {
      io.err(`${name}: ${error.message}`);
      io.err(remoteHint(args, config));
      return 1;
    }
    if (error instanceof CliFailure) {
      io.err(`${name}: ${error.message}`);
      return 1;
    }
    throw error;
  }
  try {
    await execute(backend, parsed, io);
    return 0;
  } catch (error) {
    if (error instanceof CliFailure) {
      io.err(`${name}: ${error.message}`);
      return 1;
    }
    if (error instanceof AppError) {
      io.err(`${name}: ${describeProblem({ title: error.spec.title, detail: error.extras.detail, code: error.spec.code })}`);
      return 1;
    }
    throw error;
  } finally {
    await backend.close();
  }
}

const isHelpFlag = (arg: string) => arg === '--help' || arg === '-h';

const nonEmpty = (value: string | undefined) => (value === undefined || value.trim() === '' ? undefined : value.trim());

/** The way that works while a server holds the embedded database: the same command through its HTTP API. */
function remoteHint(args: string[], config: Config): string {
  const command = ['tenantry', 'admin', ...args.map((a) => (/^[\w@.:/=,+-]+$/.test(a) ? a : `'${a.replaceAll("'", "'\\''")}'`))].join(' ');
  return [
    'If that process is a running Tenantry server, go through it instead: the same command on its HTTP API, as an operator,',
    '',
    `  ${command} --url ${config.publicUrl} --token <operator access token or API key>`,
    '',
    '(or set TENANTRY_URL and TENANTRY_TOKEN). An access token comes from signing in as an operator:',
    `  curl -s ${config.publicUrl}/api/v1/auth/login -H 'content-type: application/json' -d '{"email":"…","password":"…"}'`,
    'and lasts 10 minutes. An API key (tnty_…) works too, within its own tenant and permissions.',
  ].join('\n');
}

async function openLocal(config: Config, options: AdminOptions): Promise<AdminBackend> {
  const preset = loadPreset(config.preset);
  const borrowed = options.database;
  const database = borrowed ?? (await openConfiguredDatabase(config));
  const close = borrowed === undefined ? () => database.close() : async () => undefined;
  try {
    await prepareLocal(database, preset, config);
  } catch (error) {
    await close();
    throw error;
  }
  return localBackend(database, { config, preset, clock: options.clock ?? systemClock, close });
}

function parse(group: Group, args: string[]): Parsed | string {
  const [verb, ...rest] = args;
  const verbs: Record<string, { options: ParseArgsOptionsConfig; positional: string | undefined }> = VERBS[group];
  if (verb === undefined) return `missing subcommand (${Object.keys(verbs).join(', ')})`;
  const spec = Object.hasOwn(verbs, verb) ? verbs[verb] : undefined;
  if (spec === undefined) return `unknown subcommand "${verb}"`;
  let values: Values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: rest, options: { ...COMMON, ...spec.options }, strict: true, allowPositionals: true }) as {
      values: Values;
      positionals: string[];
    });
  } catch (error) {
    // parseArgs explains unknown options and missing values well enough.
    return `${verb}: ${(error as Error).message}`;
  }
  if (spec.positional === undefined && positionals.length > 0) return `${verb} takes no argument ("${positionals[0]}")`;
  if (spec.positional !== undefined && positionals.length === 0) return `${verb} needs ${spec.positional}`;
  if (positionals.length > 1) return `${verb} takes one ${spec.positional}, not "${positionals.join(' ')}"`;
  return { group, verb, target: positionals[0], values };
}

const SLUG = new RegExp(SLUG_PATTERN);
const ROLE_KEY = /^[a-z][a-z0-9_]{0,62}$/;
const INVITATION_STATUSES = ['pending', 'accepted', 'revoked', 'expired'];

/** The bounds the HTTP API's schemas put on the same values, so local mode refuses what the API would. */
function checkArguments({ group, verb, values, target }: Parsed): string | undefined {
  const key = `${group} ${verb}`;
  if (['users invite', 'users set-default-tenant', 'invitations list', 'invitations revoke'].includes(key) && (values.tenant ?? '') === '') return '--tenant is required';
  if (key === 'tenants create') {
    const name = values.name?.trim() ?? '';
    if (name === '') return '--name is required';
    if (name.length > 200) return '--name must be at most 200 characters';
    const slug = values.slug ?? '';
    if (slug === '') return '--slug is required';
    if (slug.length < 2 || slug.length > 63 || !SLUG.test(slug))
      return `--slug "${slug}" must be 2 to 63 lowercase letters, digits and dashes, starting and ending with a letter or digit`;
  }
  if (key === 'tenants suspend' && (values.reason?.length ?? 0) > 500) return '--reason must be at most 500 characters';
  if (key === 'tenants delete' && (values.confirm ?? '') === '') return `--confirm <slug> is required: type the tenant's slug to delete it`;
  if (key === 'users invite') {
    const email = target ?? '';
    if (email.length < 3 || email.length > 254) return `"${email}" is not an email address`;
    const roles = values.role ?? [];
    if (roles.length === 0) return 'at least one --role is required';
    if (roles.length > 50) return 'at most 50 --role options';
    const bad = roles.find((r) => !ROLE_KEY.test(r));
    if (bad !== undefined) return `--role "${bad}" is not a role key (lowercase letters, digits and underscores)`;
    if (new Set(roles).size !== roles.length) return 'each --role only once';
  }
  if (key === 'invitations list' && values.status !== undefined && !INVITATION_STATUSES.includes(values.status)) {
    return `--status must be one of ${INVITATION_STATUSES.join(', ')}`;
  }
  return undefined;
}

async function execute(backend: AdminBackend, { group, verb, target, values }: Parsed, io: CliIo): Promise<void> {
  const json = values.json === true;
  const show = (value: unknown) => io.out(JSON.stringify(value, null, 2));
  const describe = (t: Pick<TenantRef, 'id' | 'slug'>) => (t.slug === t.id ? t.id : `${t.slug} (${t.id})`);
  const tenantOption = () => backend.tenant(values.tenant ?? '');

  switch (`${group} ${verb}`) {
    case 'tenants list': {
      const listing = await backend.listTenants();
      if (json) show(listing);
      else printTenants(listing, io);
      return;
    }
    case 'tenants create': {
      const parent = values.parent === undefined ? null : await backend.tenant(values.parent);
      const { tenant, owner } = await backend.createTenant({ name: values.name?.trim() ?? '', slug: values.slug ?? '', parent, owner: values.owner });
      if (json) return show(tenant);
      const ownedBy =
        owner !== null
          ? owner.email
          : backend.mode === 'remote'
            ? "the token's person (the platform, when an operator's staff made it)"
            : 'the platform (operator staff reach it through shadow memberships)';
      io.out(`Created tenant ${describe(tenant)} "${tenant.name}"${parent === null ? '' : ` under ${describe(parent)}`}, owned by ${ownedBy}.`);
      io.out(`Status: ${tenant.status}. Plan: ${tenant.plan ?? '-'}.`);
      return;
    }
    case 'tenants suspend':
    case 'tenants resume': {
      const suspend = verb === 'suspend';
      const tenant = await backend.tenant(target ?? '');
      const result = await backend.setSuspended(tenant, { suspend, ...(values.reason === undefined ? {} : { reason: values.reason }) });
      if (json) return show(result);
      const state = suspend ? 'suspended' : 'active';
      if (tenant.status === state) {
        io.out(`Tenant ${describe(result)} was already ${state}; nothing changed.`);
      } else {
        io.out(`Tenant ${describe(result)} is now ${result.status}.`);
        if (suspend) io.out('Its data is kept; only its owners and those above it may enter (read-only plus billing), and its API keys are refused.');
      }
      return;
    }
    case 'tenants delete': {
      const tenant = await backend.tenant(target ?? '');
      const result = await backend.deleteTenant(tenant, { confirm: values.confirm ?? '', includeDescendants: values['include-descendants'] === true });
      if (json) return show(result);
      if (result.status === 'pending_approval') {
        io.out(`Deleting ${describe(tenant)} is held for approval (request ${String(result.approvalRequest.id ?? '?')}); it runs once a decider approves it.`);
      } else if (result.status === 'pending_deletion') {
        io.out(`Tenant ${describe(tenant)} is pending deletion; it is purged after ${result.purgeAfter} unless restored (POST /api/v1/tenants/${tenant.id}/restore).`);
      } else {
        const rows = result.purged.reduce((n, p) => n + Object.values(p.removed).reduce((a, b) => a + b, 0), 0);
        const repointed = result.purged.reduce((n, p) => n + p.usersRepointed, 0);
        const deleted = result.purged.reduce((n, p) => n + p.usersDeleted, 0);
        io.out(`Tenant ${describe(tenant)} is deleted and purged: ${rows} rows removed, ${repointed} people re-pointed to another default tenant, ${deleted} people deleted.`);
      }
      const others = result.status === 'pending_approval' ? [] : result.tenants.filter((id) => id !== tenant.id);
      if (others.length > 0) io.out(`With it, the tenants below: ${others.join(', ')}.`);
      return;
    }
    case 'users list': {
      const users = await backend.listUsers();
      if (json) show({ users });
      else printUsers(users, io);
      return;
    }
    case 'users invite': {
      const tenant = await tenantOption();
      const invitation = await backend.invite(tenant, { email: target ?? '', roles: values.role ?? [] });
      if (json) return show(invitation);
      io.out(`Invited ${invitation.email} to ${describe(tenant)} as ${invitation.roles.join(', ')}: invitation ${invitation.id}, expires ${invitation.expiresAt}.`);
      io.out(
        backend.mode === 'local'
          ? 'The mail with the link is in the outbox, committed with the invitation; the server delivers it (the link is never shown here).'
          : 'The server mails the link (it is never shown here).',
      );
      return;
    }
    case 'users set-default-tenant': {
      const tenant = await tenantOption();
      const result = await backend.setDefaultTenant(target ?? '', tenant);
      if (json) return show(result);
      io.out(`The default tenant of ${result.email === null ? result.userId : `${result.email} (${result.userId})`} is now ${describe(tenant)}.`);
      return;
    }
    case 'invitations list': {
      const tenant = await tenantOption();
      const invitations = await backend.listInvitations(tenant, values.status);
      if (json) show({ invitations });
      else printInvitations(invitations, tenant, io);
      return;
    }
    case 'invitations revoke': {
      const tenant = await tenantOption();
      const invitation = await backend.revokeInvitation(tenant, target ?? '');
      if (json) return show(invitation);
      io.out(`Invitation ${invitation.id} for ${invitation.email} in ${describe(tenant)} is revoked; its link no longer works.`);
      return;
    }
  }
  throw new Error(`unhandled admin command ${group} ${verb}`);
}

const orDash = (value: string | null | undefined) => (value === null || value === undefined || value === '' ? '-' : value);

function printTenants(listing: InstallListing, io: CliIo): void {
  const slugOf = new Map(listing.tenants.map((t) => [t.id, t.slug]));
  printTable(io, [
    ['ID', 'SLUG', 'NAME', 'STATUS', 'PARENT', 'CREATED', 'MARK'],
    ...listing.tenants.map((t) => [
      t.id,
      t.slug,
      t.name,
      t.status,
      t.parentId === null ? '-' : (slugOf.get(t.parentId) ?? t.parentId),
      t.createdAt,
      t.isAdminTenancy ? 'admin tenancy' : '',
    ]),
  ]);
  io.out('');
  io.out(`Tenants in use: ${listing.inUse} / ${listing.limit ?? 'no limit'}`);
}

function printUsers(users: UserJson[], io: CliIo): void {
  if (users.length === 0) {
    io.out('No users.');
    return;
  }
  printTable(io, [
    ['ID', 'EMAIL', 'NAME', 'VERIFIED', 'PLATFORM ROLE', 'DEFAULT TENANT', 'TENANTS', 'CREATED'],
    ...users.map((u) => [
      u.id,
      u.email,
      orDash(u.name),
      u.emailVerified ? 'yes' : 'no',
      orDash(u.platformRole),
      orDash(u.defaultTenantSlug ?? u.defaultTenantId),
      String(u.tenants),
      u.createdAt,
    ]),
  ]);
}

function printInvitations(invitations: InvitationJson[], tenant: TenantRef, io: CliIo): void {
  if (invitations.length === 0) {
    io.out(`No invitations in tenant ${tenant.slug}.`);
    return;
  }
  printTable(io, [['ID', 'EMAIL', 'ROLES', 'STATUS', 'CREATED', 'EXPIRES'], ...invitations.map((i) => [i.id, i.email, i.roles.join(','), i.status, i.createdAt, i.expiresAt])]);
}

/** `tenantry admin create`: the platform operator (a verified super_admin owning the admin tenancy), or promote an existing account. */
async function createOperatorCommand(args: string[], config: Config, io: CliIo): Promise<number> {
  if (args.some(isHelpFlag)) {
    io.out(`Usage: ${CREATE_USAGE}\n\nCreates the platform operator (a verified super_admin owning the admin tenancy), or promotes an existing account.`);
    return 0;
  }
  let values: { email?: string; password?: string; name?: string };
  try {
    ({ values } = parseArgs({ args, options: { email: { type: 'string' }, password: { type: 'string' }, name: { type: 'string' } }, strict: true, allowPositionals: false }));
  } catch (error) {
    io.err(`tenantry admin create: ${(error as Error).message}`);
    io.err(`usage: ${CREATE_USAGE}`);
    return 1;
  }
  const password = values.password ?? config.adminPassword;
  if (values.email === undefined || password === undefined) {
    io.err(`usage: ${CREATE_USAGE}`);
    return 1;
  }
  const database = await openConfiguredDatabase(config);
  try {
    await database.migrate();
    const preset = loadPreset(config.preset);
    await applyPresetSettings(database, preset, config.maxTreeDepth);
    const { user, created } = await createOperator(
      { db: database.db, clock: systemClock, ownerRole: preset.ownerRole },
      { email: values.email, password, ...(values.name ? { name: values.name } : {}) },
    );
    io.out(created ? `Created operator ${user.email} (${user.id}).` : `Promoted ${user.email} (${user.id}) to super_admin.`);
    return 0;
  } catch (error) {
    if (error instanceof AppError) {
      io.err(`tenantry admin create: ${error.message}`);
      return 1;
    }
    throw error;
  } finally {
    await database.close();
  }
}
