import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createOperator } from '../../src/accounts/operator.service.ts';
import type { CliIo } from '../../src/cli/command.ts';
import { runAdmin } from '../../src/cli/commands/admin.ts';
import { main } from '../../src/cli/run.ts';
import { readSystem } from '../../src/platform/db/context.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { runCliProcess } from '../helpers/cli.ts';
import { testEngines } from '../helpers/database.ts';
import { GOOD_PASSWORD, signUp, uniqueEmail } from '../helpers/users.ts';

interface Captured extends CliIo {
  lines: string[];
  errors: string[];
  readonly stdout: string;
  readonly stderr: string;
}

function captured(): Captured {
  const lines: string[] = [];
  const errors: string[] = [];
  return {
    lines,
    errors,
    out: (line) => lines.push(line),
    err: (line) => errors.push(line),
    get stdout() {
      return lines.join('\n');
    },
    get stderr() {
      return errors.join('\n');
    },
  };
}

/** A data directory nobody opens: any attempt to would fail differently (the commands below never get that far). */
const NEVER_OPENED = { TENANTRY_DATA_DIR: path.join(os.tmpdir(), 'tenantry-never-opened', 'admin-cli'), DATABASE_URL: '' };

async function run(argv: string[], env: Record<string, string> = NEVER_OPENED): Promise<{ code: number } & Captured> {
  const io = captured();
  const code = await main(argv, { io, env });
  return Object.assign(io, { code });
}

describe('tenantry admin (command line)', () => {
  it('no longer crashes on --help (the one real process)', async () => {
    const r = await runCliProcess(['admin', '--help'], NEVER_OPENED);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.err, '');
    assert.match(r.out, /^Usage:\n {2}tenantry admin create --email/);
  });

  it('prints usage and exits 0 for --help at every level', async () => {
    const all = /tenantry admin tenants list[\s\S]*tenantry admin users invite[\s\S]*tenantry admin invitations revoke/;
    const cases: Array<[string[], RegExp]> = [
      [['--help'], /admin create\|tenants\|users\|invitations\s+Operate the install/],
      [['admin', '--help'], all],
      [['admin', '-h'], all],
      [['admin', 'help'], all],
      [['admin', 'create', '--help'], /^Usage: tenantry admin create --email/],
      [['admin', 'tenants', '--help'], /tenantry admin tenants delete <tenant> --confirm <slug>/],
      [['admin', 'tenants', 'help'], /tenantry admin tenants create --name <name> --slug <slug> \[--owner/],
      [['admin', 'tenants', 'create', '--help'], /tenantry admin tenants suspend <tenant>/],
      [['admin', 'tenants', 'delete', 'acme', '-h'], /tenantry admin tenants resume <tenant>/],
      [['admin', 'users', '--help'], /tenantry admin users set-default-tenant <email\|userId> --tenant <tenant>/],
      [['admin', 'users', 'invite', '--help'], /tenantry admin users invite <email> --tenant <tenant> --role <role>/],
      [['admin', 'invitations', '--help'], /tenantry admin invitations revoke <invitationId\|email> --tenant <tenant>/],
      [['admin', 'invitations', 'list', '--help'], /--status pending\|accepted\|revoked\|expired/],
      // The other commands answer --help with their usage instead of running (serve would start a server).
      [['serve', '--help'], /^Usage: tenantry serve\n\nMigrate the database/],
      [['doctor', '-h'], /^Usage: tenantry doctor/],
    ];
    for (const [argv, expected] of cases) {
      const r = await run(argv);
      assert.equal(r.code, 0, `${argv.join(' ')}: ${r.stderr}`);
      assert.match(r.stdout, expected, argv.join(' '));
      assert.equal(r.stderr, '', argv.join(' '));
    }
  });

  it('prints usage and exits 2 for an unknown or missing subcommand, and for a bad command line, before opening anything', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['admin'], /missing subcommand \(create, tenants, users or invitations\)/],
      [['admin', 'frobnicate'], /unknown subcommand "frobnicate"/],
      [['admin', 'tenants'], /tenants: missing subcommand \(list, create, suspend, resume, delete\)/],
      [['admin', 'tenants', 'rename'], /tenants: unknown subcommand "rename"/],
      [['admin', 'users', 'delete'], /users: unknown subcommand "delete"/],
      [['admin', 'invitations', 'accept'], /invitations: unknown subcommand "accept"/],
      [['admin', 'tenants', 'list', 'extra'], /list takes no argument \("extra"\)/],
      [['admin', 'tenants', 'list', '--colour'], /Unknown option '--colour'/],
      [['admin', 'tenants', 'suspend'], /suspend needs <tenant>/],
      [['admin', 'tenants', 'suspend', 'a', 'b'], /takes one <tenant>/],
      [['admin', 'tenants', 'create', '--slug', 'acme', '--owner', 'o@example.test'], /--name is required/],
      [['admin', 'tenants', 'create', '--name', 'Acme', '--slug', 'Acme Inc', '--owner', 'o@example.test'], /--slug "Acme Inc" must be 2 to 63 lowercase/],
      [['admin', 'tenants', 'create', '--name', 'x'.repeat(201), '--slug', 'acme'], /--name must be at most 200 characters/],
      [['admin', 'tenants', 'delete', 'acme'], /--confirm <slug> is required/],
      [['admin', 'users', 'invite', 'bob@example.test', '--role', 'member'], /--tenant is required/],
      [['admin', 'users', 'invite', 'bob@example.test', '--tenant', 'acme'], /at least one --role is required/],
      [['admin', 'users', 'invite', 'bob@example.test', '--tenant', 'acme', '--role', 'Member'], /--role "Member" is not a role key/],
      [['admin', 'invitations', 'list', '--tenant', 'acme', '--status', 'lost'], /--status must be one of pending, accepted, revoked, expired/],
      [['admin', 'tenants', 'list', '--url', 'http://localhost:3000'], /needs both --url and --token .* the token is missing/],
      [['admin', 'tenants', 'list', '--url', 'localhost:3000', '--token', 'x'], /"localhost:3000" is not an http\(s\) URL/],
    ];
    for (const [argv, expected] of cases) {
      const r = await run(argv);
      assert.equal(r.code, 2, `${argv.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, expected, argv.join(' '));
      assert.deepEqual(r.lines, [], argv.join(' '));
    }
    // The same unknown subcommand prints the usage it belongs to.
    assert.match((await run(['admin', 'tenants', 'rename'])).stderr, /Usage:\n {2}tenantry admin tenants list/);
    // TENANTRY_TOKEN without TENANTRY_URL is a mistake too, not a silent local run.
    const half = await run(['admin', 'tenants', 'list'], { ...NEVER_OPENED, TENANTRY_TOKEN: 'tok' });
    assert.equal(half.code, 2);
    assert.match(half.stderr, /the URL is missing/);
  });

  it("says which process holds the embedded database, and offers the command through the server's HTTP API", async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'tenantry-admin-cli-locked-'));
    try {
      // The lock of a live process that is not this one (our parent), as a running server leaves it.
      writeFileSync(path.join(dataDir, 'tenantry.lock'), `${process.ppid}\n`);
      const r = await run(['admin', 'users', 'invite', 'bob@example.test', '--tenant', 'acme', '--role', 'member'], { TENANTRY_DATA_DIR: dataDir, DATABASE_URL: '', PORT: '4321' });
      assert.equal(r.code, 1);
      assert.match(r.stderr, new RegExp(`^tenantry admin users invite: The data directory ${dataDir} is in use by another Tenantry process \\(pid ${process.ppid}\\)`));
      assert.match(
        r.stderr,
        /^ {2}tenantry admin users invite bob@example\.test --tenant acme --role member --url http:\/\/localhost:4321 --token <operator access token or API key>$/m,
      );
      assert.match(r.stderr, /TENANTRY_URL and TENANTRY_TOKEN/);
      assert.match(r.stderr, /\/api\/v1\/auth\/login/);
      assert.deepEqual(r.lines, []);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

type AuditRow = { tenant_id: string; action: string; actor_type: string; actor_id: string | null; via: string; target_id: string | null; after: unknown };

for (const engine of testEngines()) {
  describe(`tenantry admin [${engine}]`, () => {
    let t: TestApp;
    let operator: { id: string; email: string };
    let adminTenancy: string;
    const suffix = `${process.pid}-${engine}`;

    before(async () => {
      // The real clock: remote mode's access tokens are checked by a live server.
      t = await createTestApp(engine, { clockStart: new Date(), env: { TENANTRY_AUTH_RATE_LIMIT: '1000' } });
      const email = uniqueEmail('operator');
      const created = await createOperator({ db: t.database.db, clock: t.clock, ownerRole: 'owner' }, { email, password: GOOD_PASSWORD, name: 'Olga' });
      operator = { id: created.user.id, email };
      adminTenancy = created.adminTenantId ?? '';
      t.clock.advance(1000);
    });
    after(() => t.close());

    /** The command in-process, on the test app's database (left open), with the test clock. */
    async function cli(...args: string[]): Promise<{ code: number } & Captured> {
      const io = captured();
      const code = await runAdmin(args, t.config, io, {}, { database: t.database, clock: t.clock });
      return Object.assign(io, { code });
    }

    const tenantBySlug = (slug: string) =>
      readSystem(t.database.db, (trx) => trx.selectFrom('tenants').select(['id', 'status', 'name']).where('slug', '=', slug).executeTakeFirst());
    const auditOf = (tenantId: string) =>
      readSystem(t.database.db, (trx) =>
        trx
          .selectFrom('audit_events')
          .select(['tenant_id', 'action', 'actor_type', 'actor_id', 'via', 'target_id', 'after'])
          .where('tenant_id', '=', tenantId)
          .orderBy('seq')
          .execute(),
      ) as Promise<AuditRow[]>;
    const auditCount = () =>
      readSystem(t.database.db, async (trx) =>
        Number(
          (
            await trx
              .selectFrom('audit_events')
              .select((eb) => eb.fn.countAll<string>().as('n'))
              .executeTakeFirstOrThrow()
          ).n,
        ),
      );
    const asConsole = (rows: AuditRow[]) => rows.map((r) => [r.action, r.actor_type, r.actor_id, r.via]);

    it('creates, lists, suspends, resumes and deletes tenants by slug, each audited as the console operator', async () => {
      const slug = `acme-${suffix}`;
      const created = await cli('tenants', 'create', '--name', ' Acme ', '--slug', slug, '--owner', operator.email.toUpperCase());
      assert.equal(created.code, 0, created.stderr);
      const acme = await tenantBySlug(slug);
      assert.ok(acme);
      assert.equal(created.stdout.split('\n')[0], `Created tenant ${slug} (${acme.id}) "Acme", owned by ${operator.email}.`);
      assert.equal(acme.name, 'Acme');
      t.clock.advance(1000); // the listing is oldest first

      const child = await cli('tenants', 'create', '--name', 'Acme Labs', '--slug', `labs-${suffix}`, '--owner', operator.id, '--parent', slug, '--json');
      assert.equal(child.code, 0, child.stderr);
      const labs = JSON.parse(child.stdout);
      assert.deepEqual([labs.slug, labs.parentId, labs.status, labs.path], [`labs-${suffix}`, acme.id, 'active', [acme.id, labs.id]]);

      const listed = await cli('tenants', 'list');
      assert.equal(listed.code, 0, listed.stderr);
      const [header, ...rows] = listed.lines;
      assert.match(header ?? '', /^ID\s+SLUG\s+NAME\s+STATUS\s+PARENT\s+CREATED\s+MARK$/);
      assert.ok(
        rows.some((r) => new RegExp(`^${adminTenancy}\\s+\\S+\\s+.*active\\s+-\\s+\\S+\\s+admin tenancy$`).test(r)),
        listed.stdout,
      );
      assert.ok(
        rows.some((r) => new RegExp(`^${acme.id}\\s+${slug}\\s+Acme\\s+active\\s+-\\s+\\d{4}-`).test(r)),
        listed.stdout,
      );
      assert.ok(
        rows.some((r) => new RegExp(`^${labs.id}\\s+labs-${suffix}\\s+Acme Labs\\s+active\\s+${slug}\\s`).test(r)),
        'the parent shown by slug',
      );
      assert.match(listed.stdout, /\n\nTenants in use: 3 \/ no limit$/);
      const json = JSON.parse((await cli('tenants', 'list', '--json')).stdout);
      assert.equal(json.inUse, 3);
      assert.equal(json.limit, null);
      assert.deepEqual(
        json.tenants.map((x: { id: string; isAdminTenancy: boolean }) => [x.id, x.isAdminTenancy]),
        [
          [adminTenancy, true],
          [acme.id, false],
          [labs.id, false],
        ],
      );

      const suspended = await cli('tenants', 'suspend', slug, '--reason', 'unpaid invoices');
      assert.equal(suspended.code, 0, suspended.stderr);
      assert.match(suspended.stdout, new RegExp(`^Tenant ${slug} \\(${acme.id}\\) is now suspended\\.`));
      assert.equal((await tenantBySlug(slug))?.status, 'suspended');
      assert.match((await cli('tenants', 'suspend', acme.id)).stdout, /was already suspended; nothing changed/, 'by id too, and idempotent');
      const resumed = await cli('tenants', 'resume', slug, '--json');
      assert.equal(resumed.code, 0, resumed.stderr);
      assert.equal(JSON.parse(resumed.stdout).status, 'active');

      const refusedWithChild = await cli('tenants', 'delete', slug, '--confirm', slug);
      assert.equal(refusedWithChild.code, 1);
      assert.match(refusedWithChild.stderr, /tenant_has_children/);
      const deleted = await cli('tenants', 'delete', slug, '--confirm', slug, '--include-descendants');
      assert.equal(deleted.code, 0, deleted.stderr);
      assert.match(deleted.stdout, new RegExp(`^Tenant ${slug} \\(${acme.id}\\) is pending deletion; it is purged after \\d{4}-\\d\\d-\\d\\dT\\S+Z unless restored`));
      assert.match(deleted.stdout, new RegExp(`With it, the tenants below: ${labs.id}\\.`));
      assert.equal((await tenantBySlug(slug))?.status, 'pending_deletion');
      assert.equal((await tenantBySlug(`labs-${suffix}`))?.status, 'pending_deletion');

      const trail = (await auditOf(acme.id)).filter((r) => r.action.startsWith('tenant.'));
      assert.deepEqual(asConsole(trail), [
        ['tenant.created', 'system', null, 'platform_admin'],
        ['tenant.child_created', 'system', null, 'platform_admin'],
        ['tenant.suspended', 'system', null, 'platform_admin'],
        ['tenant.resumed', 'system', null, 'platform_admin'],
        ['tenant.deletion_requested', 'system', null, 'platform_admin'],
      ]);
      assert.deepEqual((trail[2]?.after as { reason?: string } | undefined)?.reason, 'unpaid invoices');
      const owner = (await auditOf(acme.id)).find((r) => r.action === 'member.added' && r.target_id === operator.id);
      assert.deepEqual(owner?.after, { roles: ['owner'], kind: 'direct' }, 'the --owner became its direct owner');
    });

    it('invites a person (an invitation row and a mail in the outbox), lists and revokes invitations, audited', async () => {
      const slug = `invite-${suffix}`;
      assert.equal((await cli('tenants', 'create', '--name', 'Invite Co', '--slug', slug, '--owner', operator.email)).code, 0);
      const tenant = await tenantBySlug(slug);
      assert.ok(tenant);
      const bob = uniqueEmail('bob');

      const invited = await cli('users', 'invite', bob.toUpperCase(), '--tenant', slug, '--role', 'member', '--role', 'viewer');
      assert.equal(invited.code, 0, invited.stderr);
      const invitationId = /invitation (inv_[a-z2-7]{20}),/.exec(invited.stdout)?.[1] ?? '';
      assert.match(invited.stdout, new RegExp(`^Invited ${bob} to ${slug} \\(${tenant.id}\\) as member, viewer: invitation inv_`));
      assert.match(invited.stdout, /The mail with the link is in the outbox/);
      assert.doesNotMatch(invited.stdout, /tnr_inv_/, 'the token is never printed');

      const row = await readSystem(t.database.db, (trx) => trx.selectFrom('invitations').selectAll().where('id', '=', invitationId).executeTakeFirst());
      assert.deepEqual([row?.tenant_id, row?.email, row?.roles, row?.status, row?.invited_by], [tenant.id, bob, ['member', 'viewer'], 'pending', null]);
      const mail = await readSystem(t.database.db, (trx) => trx.selectFrom('outbox').select('payload').execute());
      const sent = mail.map((m) => m.payload as { to: string; subject: string; text: string }).filter((p) => p.to === bob);
      assert.equal(sent.length, 1);
      assert.match(sent[0]?.text ?? '', /http:\/\/tenantry\.test\/team-invite\/tnr_inv_/);
      assert.match(sent[0]?.text ?? '', /The Invite Co team/, "the console is no person: the tenant's team invites");

      const listed = await cli('invitations', 'list', '--tenant', slug);
      assert.equal(listed.code, 0, listed.stderr);
      assert.match(listed.lines[0] ?? '', /^ID\s+EMAIL\s+ROLES\s+STATUS\s+CREATED\s+EXPIRES$/);
      assert.match(listed.lines[1] ?? '', new RegExp(`^${invitationId}\\s+${bob.replaceAll('.', '\\.')}\\s+member,viewer\\s+pending\\s+\\S+\\s+\\S+$`));
      assert.equal(listed.lines.length, 2);

      const revoked = await cli('invitations', 'revoke', bob, '--tenant', tenant.id);
      assert.equal(revoked.code, 0, revoked.stderr);
      assert.equal(revoked.stdout, `Invitation ${invitationId} for ${bob} in ${slug} (${tenant.id}) is revoked; its link no longer works.`);
      const after = JSON.parse((await cli('invitations', 'list', '--tenant', slug, '--json')).stdout);
      assert.deepEqual(
        after.invitations.map((i: { id: string; status: string }) => [i.id, i.status]),
        [[invitationId, 'revoked']],
      );
      assert.match((await cli('invitations', 'list', '--tenant', slug, '--status', 'pending')).stdout, new RegExp(`^No invitations in tenant ${slug}\\.$`));
      const again = await cli('invitations', 'revoke', bob, '--tenant', slug);
      assert.equal(again.code, 1);
      assert.match(again.stderr, /no pending invitation for .* in tenant invite-/);

      const trail = (await auditOf(tenant.id)).filter((r) => r.action.startsWith('invitation.'));
      assert.deepEqual(asConsole(trail), [
        ['invitation.created', 'system', null, 'platform_admin'],
        ['invitation.revoked', 'system', null, 'platform_admin'],
      ]);
    });

    it("sets a person's default tenant by email, and lists users with it", async () => {
      const person = await signUp(t, { name: 'Pat' });
      const slug = `pat-${suffix}`;
      assert.equal((await cli('tenants', 'create', '--name', 'Pat Co', '--slug', slug, '--owner', person.email)).code, 0);
      const tenant = await tenantBySlug(slug);
      assert.ok(tenant);

      const set = await cli('users', 'set-default-tenant', person.email, '--tenant', slug);
      assert.equal(set.code, 0, set.stderr);
      assert.equal(set.stdout, `The default tenant of ${person.email} (${person.userId}) is now ${slug} (${tenant.id}).`);
      const user = await readSystem(t.database.db, (trx) =>
        trx.selectFrom('users').select(['default_tenant_id', 'explicit_default_tenant_id']).where('id', '=', person.userId).executeTakeFirstOrThrow(),
      );
      assert.deepEqual(user, { default_tenant_id: tenant.id, explicit_default_tenant_id: tenant.id });
      const inTenant = (await auditOf(tenant.id)).filter((r) => r.action === 'user.default_tenant_set');
      const inAccount = (await auditOf(person.userId)).filter((r) => r.action === 'user.default_tenant_set');
      assert.deepEqual(
        [...asConsole(inTenant), ...asConsole(inAccount)],
        [
          ['user.default_tenant_set', 'system', null, 'platform_admin'],
          ['user.default_tenant_set', 'system', null, 'platform_admin'],
        ],
      );

      const listed = await cli('users', 'list');
      assert.equal(listed.code, 0, listed.stderr);
      assert.match(listed.lines[0] ?? '', /^ID\s+EMAIL\s+NAME\s+VERIFIED\s+PLATFORM ROLE\s+DEFAULT TENANT\s+TENANTS\s+CREATED$/);
      assert.ok(
        listed.lines.some((l) => new RegExp(`^${person.userId}\\s+${person.email.replaceAll('.', '\\.')}\\s+Pat\\s+no\\s+-\\s+${slug}\\s+2\\s+\\d{4}-`).test(l)),
        listed.stdout,
      );
      assert.ok(
        listed.lines.some((l) => new RegExp(`^${operator.id}\\s+\\S+\\s+Olga\\s+yes\\s+super_admin\\s`).test(l)),
        listed.stdout,
      );
      const json = JSON.parse((await cli('users', 'list', '--json')).stdout);
      const pat = json.users.find((u: { id: string }) => u.id === person.userId);
      assert.deepEqual([pat.defaultTenantId, pat.defaultTenantSlug, pat.tenants, pat.emailVerified], [tenant.id, slug, 2, false]);

      // Someone who does not belong to the tenant: the service's refusal, nothing changed.
      const stranger = await signUp(t);
      const refused = await cli('users', 'set-default-tenant', stranger.userId, '--tenant', slug);
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /member_not_found/);
    });

    it('creates a customer organisation the platform owns when no --owner is given, as an operator does through the API', async () => {
      const slug = `platform-${suffix}`;
      const created = await cli('tenants', 'create', '--name', 'Platform Co', '--slug', slug);
      assert.equal(created.code, 0, created.stderr);
      assert.match(created.stdout, /owned by the platform/);
      const row = await readSystem(t.database.db, (trx) => trx.selectFrom('tenants').select(['id', 'platform_owned']).where('slug', '=', slug).executeTakeFirstOrThrow());
      assert.equal(row.platform_owned, true);
      const direct = await readSystem(t.database.db, (trx) =>
        trx.selectFrom('memberships').select('user_id').where('tenant_id', '=', row.id).where('kind', '=', 'direct').execute(),
      );
      assert.deepEqual(direct, [], 'no direct member: the staff reach it through shadow memberships');
    });

    it('refuses what the HTTP API refuses, with its words, and changes nothing', async () => {
      const slug = `keep-${suffix}`;
      assert.equal((await cli('tenants', 'create', '--name', 'Keep', '--slug', slug, '--owner', operator.email)).code, 0);
      const adminSlug = (await readSystem(t.database.db, (trx) => trx.selectFrom('tenants').select('slug').where('id', '=', adminTenancy).executeTakeFirstOrThrow())).slug;
      const before = await auditCount();
      const cases: Array<[string[], RegExp]> = [
        [['tenants', 'delete', adminSlug, '--confirm', adminSlug], /^tenantry admin tenants delete: The admin tenancy cannot be suspended or deleted \(admin_tenancy\)$/],
        [['tenants', 'suspend', adminSlug], /^tenantry admin tenants suspend: The admin tenancy cannot be suspended or deleted \(admin_tenancy\)$/],
        [['tenants', 'delete', 'no-such-tenant', '--confirm', 'no-such-tenant'], /^tenantry admin tenants delete: no tenant "no-such-tenant"/],
        [['tenants', 'delete', slug, '--confirm', 'kepp'], /confirm must be the tenant's slug.*\(confirmation_mismatch\)$/],
        [['tenants', 'create', '--name', 'Again', '--slug', slug, '--owner', operator.email], /Another tenant already has that slug \(slug_taken\)$/],
        [['tenants', 'create', '--name', 'Nobody', '--slug', `nobody-${suffix}`, '--owner', 'nobody@example.test'], /no user nobody@example\.test$/],
        [['tenants', 'create', '--name', 'Orphan', '--slug', `orphan-${suffix}`, '--owner', operator.email, '--parent', 'no-such-parent'], /no tenant "no-such-parent"/],
        [['users', 'invite', 'eve@example.test', '--tenant', slug, '--role', 'emperor'], /no role emperor in this tenant \(unknown_role\)$/],
        [['users', 'invite', 'not-an-address', '--tenant', slug, '--role', 'member'], /invalid_email/],
        [['users', 'invite', operator.email, '--tenant', slug, '--role', 'member'], /already_member/],
        [['invitations', 'revoke', 'inv_aaaaaaaaaaaaaaaaaaaa', '--tenant', slug], /no invitation inv_a+ in tenant keep-/],
      ];
      for (const [args, expected] of cases) {
        const r = await cli(...args);
        assert.equal(r.code, 1, `${args.join(' ')}: ${r.stdout}`);
        assert.match(r.stderr, expected, args.join(' '));
        assert.deepEqual(r.lines, [], args.join(' '));
      }
      assert.equal(await auditCount(), before, 'no refused action wrote anything');
      assert.equal((await tenantBySlug(adminSlug))?.status, 'active');
      assert.equal((await tenantBySlug(slug))?.status, 'active');
      assert.equal(await tenantBySlug(`nobody-${suffix}`), undefined);
      const invitations = await readSystem(t.database.db, (trx) =>
        trx
          .selectFrom('invitations')
          .select('id')
          .where('tenant_id', '=', (eb) => eb.selectFrom('tenants').select('id').where('slug', '=', slug))
          .execute(),
      );
      assert.deepEqual(invitations, []);
    });

    it("acts through a running server with --url and --token (or TENANTRY_URL and TENANTRY_TOKEN), as the token's person", async () => {
      await t.app.listen({ port: 0, host: '127.0.0.1' });
      const url = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
      const login = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: operator.email, password: GOOD_PASSWORD } });
      assert.equal(login.statusCode, 200, login.body);
      const token: string = login.json().accessToken;
      // main() as the process runs it, configured by the environment; the data directory is never opened.
      const remote = (...args: string[]) => run(['admin', ...args], { ...NEVER_OPENED, TENANTRY_URL: url, TENANTRY_TOKEN: token });
      const slug = `remote-${suffix}`;

      const created = await run(['admin', 'tenants', 'create', '--name', 'Remote Co', '--slug', slug, '--url', url, '--token', token]);
      assert.equal(created.code, 0, created.stderr);
      const tenant = await tenantBySlug(slug);
      assert.ok(tenant);
      assert.match(
        created.stdout,
        new RegExp(`^Created tenant ${slug} \\(${tenant.id}\\) "Remote Co", owned by the token's person \\(the platform, when an operator's staff made it\\)\\.`),
      );

      const listed = await remote('tenants', 'list', '--json');
      assert.equal(listed.code, 0, listed.stderr);
      const listing = JSON.parse(listed.stdout);
      assert.ok(listing.tenants.some((x: { id: string; slug: string }) => x.id === tenant.id && x.slug === slug));
      assert.equal(listing.inUse, listing.tenants.length);
      assert.match((await remote('tenants', 'list')).stdout, new RegExp(`^${tenant.id}\\s+${slug}\\s+Remote Co\\s+active`, 'm'));

      assert.equal((await remote('tenants', 'suspend', slug, '--reason', 'audit')).code, 0);
      assert.equal((await tenantBySlug(slug))?.status, 'suspended');
      assert.equal((await remote('tenants', 'resume', slug)).code, 0);
      assert.equal((await tenantBySlug(slug))?.status, 'active');

      const bob = uniqueEmail('bob');
      const invited = await remote('users', 'invite', bob, '--tenant', slug, '--role', 'member', '--json');
      assert.equal(invited.code, 0, invited.stderr);
      const invitation = JSON.parse(invited.stdout);
      assert.deepEqual([invitation.email, invitation.roles, invitation.status, invitation.invitedBy], [bob, ['member'], 'pending', operator.id]);
      assert.match((await remote('invitations', 'list', '--tenant', slug)).stdout, new RegExp(`^${invitation.id}\\s+\\S+\\s+member\\s+pending`, 'm'));
      const revoked = await remote('invitations', 'revoke', bob, '--tenant', slug);
      assert.equal(revoked.code, 0, revoked.stderr);
      assert.match(revoked.stdout, new RegExp(`^Invitation ${invitation.id} for .* is revoked`));

      // The operator made Remote Co, a customer's organisation: they reach it through a shadow membership, which its
      // member list does not show, so they are named there by id, and by email back in the admin tenancy.
      const byEmail = await remote('users', 'set-default-tenant', operator.email, '--tenant', slug);
      assert.equal(byEmail.code, 1);
      assert.match(byEmail.stderr, /is not among the members of .* \(operator staff's shadow memberships are not listed\): give the user id instead/);
      const set = await remote('users', 'set-default-tenant', operator.id, '--tenant', slug);
      assert.equal(set.code, 0, set.stderr);
      assert.equal(set.stdout, `The default tenant of ${operator.id} is now ${slug} (${tenant.id}).`);
      const back = await remote('users', 'set-default-tenant', operator.email, '--tenant', adminTenancy);
      assert.equal(back.code, 0, back.stderr);
      assert.match(back.stdout, new RegExp(`^The default tenant of ${operator.email.replaceAll('.', '\\.')} \\(${operator.id}\\) is now `));

      const users = await remote('users', 'list');
      assert.equal(users.code, 1);
      assert.match(users.stderr, /users list is not available remotely: the HTTP API has no route that lists every user/);

      const adminSlug = (await readSystem(t.database.db, (trx) => trx.selectFrom('tenants').select('slug').where('id', '=', adminTenancy).executeTakeFirstOrThrow())).slug;
      const refused = await remote('tenants', 'delete', adminSlug, '--confirm', adminSlug);
      assert.equal(refused.code, 1);
      // The operator works in the admin tenancy, so the server says that first.
      assert.match(refused.stderr, /^tenantry admin tenants delete: .*\((active_tenant|admin_tenancy), HTTP 409\)$/);
      assert.equal((await tenantBySlug(adminSlug))?.status, 'active');
      const unknown = await remote('tenants', 'suspend', 'no-such-tenant');
      assert.equal(unknown.code, 1);
      assert.match(unknown.stderr, new RegExp(`no tenant "no-such-tenant" on ${url.replaceAll('.', '\\.')}`));

      const deleted = await remote('tenants', 'delete', slug, '--confirm', slug);
      assert.equal(deleted.code, 0, deleted.stderr);
      assert.match(deleted.stdout, /is pending deletion/);
      assert.equal((await tenantBySlug(slug))?.status, 'pending_deletion');

      const trail = (await auditOf(tenant.id)).filter((r) => r.action.startsWith('tenant.') || r.action.startsWith('invitation.'));
      assert.deepEqual(
        trail.map((r) => [r.action, r.actor_type, r.actor_id]),
        ['tenant.created', 'tenant.suspended', 'tenant.resumed', 'invitation.created', 'invitation.revoked', 'tenant.deletion_requested'].map((a) => [a, 'user', operator.id]),
      );

      const badToken = await run(['admin', 'tenants', 'list', '--url', url, '--token', 'not-a-token']);
      assert.equal(badToken.code, 1);
      assert.match(badToken.stderr, /HTTP 401\).*the token was refused/);
      const nobodyThere = await run(['admin', 'tenants', 'list', '--url', 'http://127.0.0.1:9', '--token', token]);
      assert.equal(nobodyThere.code, 1);
      assert.match(nobodyThere.stderr, /cannot reach http:\/\/127\.0\.0\.1:9/);
    });
  });
}
