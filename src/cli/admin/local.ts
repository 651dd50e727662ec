import { directMembershipCount } from '../../members/memberships.repository.ts';
import { sql } from 'kysely';
import { normalizeEmail } from '../../accounts/email.ts';
import { findUserByEmail, findUserById } from '../../accounts/users.repository.ts';
import { listInstall, setDefaultTenant } from '../../admin/admin.service.ts';
import { needsApproval } from '../../approvals/approvals.service.ts';
import type { AuditContext } from '../../audit/audit.repository.ts';
import { AuthErrors } from '../../auth/auth.errors.ts';
import { createInvitation, type InvitationDeps, type InvitationView, listInvitations, revokeInvitation } from '../../invitations/invitations.service.ts';
import { type Access, explain } from '../../permissions/access.ts';
import { AccessResolver } from '../../permissions/access-resolver.ts';
import type { Clock } from '../../platform/clock.ts';
import type { Config } from '../../platform/config.ts';
import { readSystem } from '../../platform/db/context.ts';
import type { Database } from '../../platform/db/database.ts';
import { migrationState } from '../../platform/db/migrator.ts';
import { AppError } from '../../platform/http/errors.ts';
import { TENANT_ID_PATTERN } from '../../platform/ids.ts';
import { applyPresetSettings } from '../../presets/apply.ts';
import type { Preset } from '../../presets/presets.ts';
import { assertDeletable, type DeletionCaller, type DeletionDeps, requestDeletion } from '../../tenants/deletion.service.ts';
import { presentTenant } from '../../tenants/tenants.routes.ts';
import { createTenant, setSuspended, type TenantDeps } from '../../tenants/tenants.service.ts';
import { type AdminBackend, CliFailure, type DeletionJson, findInvitation, type InstallTenantJson, type InvitationJson, USER_ID, type UserJson } from './backend.ts';
import { presentInvitation } from '../../invitations/invitations.http.ts';

/**
 * The operator at the console: no person, no request, the platform's authority (the actor convention of
 * `tenantry api-keys`, marked `platform_admin` as a super_admin's actions are). Audit rows: actorType
 * `system`, actorId null, via `platform_admin`.
 */
export const CONSOLE_OPERATOR: AuditContext = { actorType: 'system', actorId: null, via: 'platform_admin', requestId: null, ip: null };

/**
 * Whom permission checks see when the console acts: the platform (a super_admin with no memberships), through
 * the same resolver and SPEC 2 function as every HTTP request. No user has this id (user ids are `usr_…`).
 */
const PLATFORM = { userId: 'console', isSuperAdmin: true } as const;

/**
 * The database is ready for these commands: fully migrated, and holding the preset's settings (the database's
 * triggers read them). A database no server has started on yet gets them here, as `tenantry serve` and
 * `tenantry admin create` write them; one that has them must have been set up for the configured preset.
 */
export async function prepareLocal(database: Database, preset: Preset, config: Config): Promise<void> {
  const pending = (await database.withOwner(migrationState)).filter((m) => m.executedAt === undefined).length;
  if (pending > 0) throw new CliFailure(`the database is not fully migrated (${pending} pending); run \`tenantry migrate\` first.`);
  const ownerRole = await readSystem(
    database.db,
    async (trx) => (await trx.selectFrom('platform_settings').select('value').where('key', '=', 'owner_role').executeTakeFirst())?.value,
  );
  if (ownerRole === undefined) {
    await applyPresetSettings(database, preset, config.maxTreeDepth);
  } else if (ownerRole !== preset.ownerRole) {
    throw new CliFailure(
      `the database was set up for a preset whose owner role is "${ownerRole}", not the "${preset.name}" preset's "${preset.ownerRole}": ` +
        'set TENANTRY_PRESET to the preset the server runs with.',
    );
  }
}

/** `tenantry admin` on the configured database, through the services the HTTP routes use, as the console operator. */
export function localBackend(database: Database, options: { config: Config; preset: Preset; clock: Clock; close: () => Promise<void> }): AdminBackend {
  const { config, preset, clock } = options;
  const db = database.db;
  const resolver = new AccessResolver({ db, preset });
  // The console's bundle of what the services read (the server's is src/services.ts). Mail is committed to the
  // outbox with the invitation; a running server's worker delivers it (this process has none).
  const services: TenantDeps & DeletionDeps & InvitationDeps = { db, clock, config, preset, outbox: { poke: () => undefined } };

  /** What `authorize` checks for a request, with the console as the caller. */
  async function authorize(tenantId: string, permission?: string): Promise<Access> {
    const access = await resolver.forUser(PLATFORM, tenantId);
    if (!access.visible) throw new AppError(AuthErrors.TENANT_NOT_FOUND);
    if (permission !== undefined && !access.permissions.has(permission)) {
      throw new AppError(AuthErrors.FORBIDDEN, { detail: explain(preset, access, permission).reason, permission });
    }
    return access;
  }

  async function user(ref: string): Promise<{ id: string; email: string }> {
    const email = ref.includes('@') ? normalizeEmail(ref) : undefined;
    if (ref.includes('@') && email === undefined) throw new CliFailure(`"${ref}" is not an email address Tenantry accepts`);
    if (email === undefined && !USER_ID.test(ref)) throw new CliFailure(`"${ref}" is neither an email address nor a user id (usr_…)`);
    const row = email === undefined ? await findUserById(db, ref) : await findUserByEmail(db, email);
    if (row === undefined) throw new CliFailure(`no user ${ref}`);
    return { id: row.id, email: row.email };
  }

  async function allInvitations(tenantId: string, status?: InvitationView['status']): Promise<InvitationJson[]> {
    const all: InvitationJson[] = [];
    let cursor: string | undefined;
    do {
      const page = await listInvitations(services, tenantId, { limit: 200, ...(status === undefined ? {} : { status }), ...(cursor === undefined ? {} : { cursor }) });
      all.push(...page.invitations.map(presentInvitation));
      cursor = page.nextCursor ?? undefined;
    } while (cursor !== undefined);
    return all;
  }

  return {
    mode: 'local',

    async tenant(ref) {
      if (!new RegExp(TENANT_ID_PATTERN).test(ref) && !/^[a-z0-9-]+$/.test(ref)) throw new CliFailure(`"${ref}" is neither a tenant id nor a slug`);
      // Platform-wide by nature: the console names a tenant of any tenant, by id or slug.
      const row = await readSystem(db, (trx) =>
        trx
          .selectFrom('tenants')
          .select(['id', 'slug', 'name', 'status'])
          .where((eb) => eb.or([eb('id', '=', ref), eb('slug', '=', ref)]))
          .where('status', '!=', 'deleted')
          .executeTakeFirst(),
      );
      if (row === undefined) throw new CliFailure(`no tenant "${ref}" (neither the id nor the slug of a tenant that is not deleted)`);
      return row;
    },

    async listTenants() {
      const tenants: InstallTenantJson[] = [];
      let cursor: string | undefined;
      let inUse = 0;
      do {
        const page = await listInstall({ db, clock }, { limit: 500, ...(cursor === undefined ? {} : { cursor }) });
        tenants.push(...page.tenants.map((t) => ({ ...t, createdAt: t.createdAt.toISOString() })));
        inUse = page.inUse;
        cursor = page.nextCursor ?? undefined;
      } while (cursor !== undefined);
      // The licence's limit as the server last wrote it (the insert trigger enforces it); this process reads no licence file.
      const limit = await readSystem(
        db,
        async (trx) =>
          (await trx.selectFrom('platform_settings').select(sql<number | null>`nullif(value, '')::integer`.as('n')).where('key', '=', 'tenant_limit').executeTakeFirst())?.n ??
          null,
      );
      return { tenants, inUse, limit };
    },

    async createTenant(input) {
      // Without --owner, like an operator's POST /tenants: a customer organisation the platform owns, reached by the
      // operator's staff through shadow memberships (seed 001).
      const owner = input.owner === undefined ? null : await user(input.owner);
      // POST /tenants: a child needs tenants.create_child on the parent.
      if (input.parent !== null) await authorize(input.parent.id, 'tenants.create_child');
      const owners = owner === null ? { platform: true as const } : { userId: owner.id };
      const tenant = await createTenant(services, owners, { name: input.name, slug: input.slug, parentId: input.parent?.id ?? null }, CONSOLE_OPERATOR);
      return { tenant: presentTenant(tenant), owner };
    },

    async setSuspended(tenant, change) {
      // POST /tenants/:id/suspend|resume: tenant.suspend from above (the platform has it everywhere).
      const access = await authorize(tenant.id);
      if (!access.fromAbove.has('tenant.suspend')) {
        throw new AppError(AuthErrors.FORBIDDEN, { detail: 'suspending and resuming need tenant.suspend from above this tenant', permission: 'tenant.suspend' });
      }
      return presentTenant(await setSuspended(services, tenant.id, change, CONSOLE_OPERATOR));
    },

    async deleteTenant(tenant, input) {
      await authorize(tenant.id);
      const caller: DeletionCaller = { audit: CONSOLE_OPERATOR, activeTenantId: null, accessTo: (id) => resolver.forUser(PLATFORM, id) };
      if (needsApproval(preset, 'tenant.delete')) {
        // DELETE /tenants/:id's checks first, as the route runs them before holding the deletion.
        await assertDeletable(services, caller, tenant.id, input);
        throw new CliFailure(
          `the "${preset.name}" preset holds tenant deletion for approval, and the console is no person to ask for it or to approve it: ` +
            'request it through the HTTP API (--url and --token, as a person) and have a decider approve it.',
        );
      }
      const result = await requestDeletion(services, caller, tenant.id, input);
      return (
        result.status === 'pending_deletion' ? { status: result.status, tenants: result.tenants, purgeAfter: result.purgeAfter.toISOString() } : result
      ) satisfies DeletionJson;
    },

    async listUsers() {
      // Platform-wide by nature: every account of the install, with its default tenant and direct memberships.
      const rows = await readSystem(db, (trx) =>
        trx
          .selectFrom('users as u')
          .leftJoin('tenants as d', 'd.id', 'u.default_tenant_id')
          .select(['u.id', 'u.email', 'u.name', 'u.email_verified_at', 'u.platform_role', 'u.default_tenant_id', 'd.slug as default_slug', 'u.created_at'])
          .select(directMembershipCount('u.id').as('tenants'))
          .orderBy('u.created_at')
          .orderBy('u.id')
          .execute(),
      );
      return rows.map(
        (r): UserJson => ({
          id: r.id,
          email: r.email,
          name: r.name,
          emailVerified: r.email_verified_at !== null,
          platformRole: r.platform_role,
          defaultTenantId: r.default_tenant_id,
          defaultTenantSlug: r.default_slug,
          tenants: Number(r.tenants ?? 0),
          createdAt: r.created_at.toISOString(),
        }),
      );
    },

    async invite(tenant, input) {
      // POST /tenants/:id/invitations: members.invite, and the roles give nothing beyond the inviter's (the platform's: everything).
      const access = await authorize(tenant.id, 'members.invite');
      return presentInvitation(await createInvitation(services, { principal: null, access, audit: CONSOLE_OPERATOR }, tenant.id, input));
    },

    async setDefaultTenant(ref, tenant) {
      // PUT /admin/users/:userId/default-tenant: members.manage in the tenant, and an operator to move a designated one away (the console is).
      const person = await user(ref);
      await authorize(tenant.id, 'members.manage');
      await setDefaultTenant({ db, clock }, person.id, tenant.id, CONSOLE_OPERATOR);
      return { userId: person.id, email: person.email, defaultTenantId: tenant.id };
    },

    async listInvitations(tenant, status) {
      await authorize(tenant.id, 'members.invite');
      return allInvitations(tenant.id, status as InvitationView['status'] | undefined);
    },

    async revokeInvitation(tenant, ref) {
      const access = await authorize(tenant.id, 'members.invite');
      const found = findInvitation(await allInvitations(tenant.id), ref, tenant);
      await revokeInvitation(services, { principal: null, access, audit: CONSOLE_OPERATOR }, { tenantId: tenant.id, invitationId: found.id });
      return (await allInvitations(tenant.id)).find((i) => i.id === found.id) ?? found;
    },

    close: options.close,
  };
}
