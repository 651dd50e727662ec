import { TENANT_ID_PATTERN } from '../../platform/ids.ts';
import {
  type AdminBackend,
  CliFailure,
  describeProblem,
  type DeletionJson,
  findInvitation,
  type InstallListing,
  type InstallTenantJson,
  type InvitationJson,
  type TenantJson,
  USER_ID,
} from './backend.ts';

/** A refusal from the server, kept whole so callers can tell a 403 from a 404. */
class ProblemFailure extends CliFailure {
  readonly status: number;
  readonly code: string | undefined;
  constructor(status: number, problem: Record<string, unknown>) {
    super(describeProblem({ ...problem, status }));
    this.status = status;
    this.code = typeof problem.code === 'string' ? problem.code : undefined;
  }
}

/**
 * `tenantry admin` through a running server's HTTP API (`--url`, `--token`): the same /api/v1 routes the portal
 * uses, so the server makes every check and writes every audit row, as the token's person or API key. The way
 * to act while the server holds the embedded database's data directory.
 */
export function remoteBackend(baseUrl: string, token: string): AdminBackend {
  const root = `${baseUrl.replace(/\/+$/, '')}/api/v1`;

  async function call<T>(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<{ status: number; body: T }> {
    let response: Response;
    try {
      response = await fetch(`${root}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (error) {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      throw new CliFailure(`cannot reach ${baseUrl}: ${cause?.code ?? cause?.message ?? (error as Error).message}. Is the server running there (TENANTRY_URL / --url)?`);
    }
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text === '' ? null : JSON.parse(text);
    } catch {
      throw new CliFailure(`${method} ${path} answered ${response.status} with something that is not JSON; is ${baseUrl} a Tenantry server?`);
    }
    if (response.status >= 400) {
      const problem = parsed !== null && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : {};
      const failure = new ProblemFailure(response.status, problem);
      if (response.status === 401) failure.message += ' — the token was refused: an access token lasts 10 minutes; sign in again (POST /api/v1/auth/login) or use an API key';
      throw failure;
    }
    return { status: response.status, body: parsed as T };
  }

  /** Every page of a cursor-paged listing; `onPage` sees each page's whole body. */
  async function pages<T>(path: string, field: string, limit: number, onPage?: (body: Record<string, unknown>) => void): Promise<T[]> {
    const all: T[] = [];
    let cursor: string | null = null;
    do {
      const separator = path.includes('?') ? '&' : '?';
      const page: { body: Record<string, unknown> } = await call('GET', `${path}${separator}limit=${limit}${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`);
      onPage?.(page.body);
      all.push(...((page.body[field] as T[] | undefined) ?? []));
      cursor = typeof page.body.nextCursor === 'string' ? page.body.nextCursor : null;
    } while (cursor !== null);
    return all;
  }

  async function listTenants(): Promise<InstallListing> {
    let counts: { inUse: number; limit: number | null } | undefined;
    const tenants = (
      await pages<InstallTenantJson & { youAreHere?: boolean }>('/admin/tenants', 'tenants', 500, (body) => {
        counts ??= { inUse: Number(body.inUse), limit: typeof body.limit === 'number' ? body.limit : null };
      })
    ).map(({ youAreHere: _, ...t }) => t);
    return { tenants, inUse: counts?.inUse ?? tenants.length, limit: counts?.limit ?? null };
  }

  const encode = encodeURIComponent;

  return {
    mode: 'remote',

    async tenant(ref) {
      const isId = new RegExp(TENANT_ID_PATTERN).test(ref);
      let listing: InstallTenantJson[];
      try {
        listing = (await listTenants()).tenants;
      } catch (error) {
        // Only operators may list the install; an id needs no lookup (the route itself answers for it), a slug does.
        if (isId && error instanceof ProblemFailure && error.status === 403) return { id: ref, slug: ref, name: ref, status: 'unknown' };
        if (error instanceof ProblemFailure && error.status === 403) {
          throw new CliFailure(`${error.message}. Finding a tenant by slug needs GET /admin/tenants (operators only); give the tenant id instead.`);
        }
        throw error;
      }
      const found = listing.find((t) => t.id === ref || t.slug === ref);
      if (found === undefined) throw new CliFailure(`no tenant "${ref}" on ${baseUrl} (neither the id nor the slug of a tenant that is not deleted)`);
      return { id: found.id, slug: found.slug, name: found.name, status: found.status };
    },

    listTenants,

    async createTenant(input) {
      if (input.owner !== undefined)
        throw new CliFailure(
          "--owner is not available remotely: POST /tenants makes the token's person the owner. Leave --owner out, or run the command where the database can be opened.",
        );
      const { body } = await call<TenantJson>('POST', '/tenants', { name: input.name, slug: input.slug, ...(input.parent === null ? {} : { parentId: input.parent.id }) });
      return { tenant: body, owner: null };
    },

    async setSuspended(tenant, change) {
      const { body } = await call<TenantJson>(
        'POST',
        `/tenants/${encode(tenant.id)}/${change.suspend ? 'suspend' : 'resume'}`,
        change.reason === undefined ? {} : { reason: change.reason },
      );
      return body;
    },

    async deleteTenant(tenant, input) {
      const { status, body } = await call<Record<string, unknown>>('DELETE', `/tenants/${encode(tenant.id)}`, {
        confirm: input.confirm,
        ...(input.includeDescendants ? { includeDescendants: true } : {}),
      });
      if (status === 202) return { status: 'pending_approval', approvalRequest: body };
      return body as DeletionJson;
    },

    async listUsers() {
      throw new CliFailure(
        `users list is not available remotely: the HTTP API has no route that lists every user of the install. Run it where the database can be opened: on the server's host with the server stopped (embedded database), or with DATABASE_URL set to its PostgreSQL.`,
      );
    },

    async invite(tenant, input) {
      return (await call<InvitationJson>('POST', `/tenants/${encode(tenant.id)}/invitations`, input)).body;
    },

    async setDefaultTenant(ref, tenant) {
      let userId = ref;
      let email: string | null = null;
      if (ref.includes('@')) {
        // No route finds a person by email; the person must belong to the tenant anyway, so look among its members.
        email = ref.trim().toLowerCase();
        const members = await pages<{ userId: string; email: string }>(`/tenants/${encode(tenant.id)}/members`, 'members', 200);
        const member = members.find((m) => m.email === email);
        if (member === undefined) {
          throw new CliFailure(
            `${email} is not among the members of ${tenant.slug} that ${baseUrl} lists (operator staff's shadow memberships are not listed): give the user id instead`,
          );
        }
        userId = member.userId;
      } else if (!USER_ID.test(ref)) {
        throw new CliFailure(`"${ref}" is neither an email address nor a user id (usr_…)`);
      }
      const { body } = await call<{ userId: string; defaultTenantId: string }>('PUT', `/admin/users/${encode(userId)}/default-tenant`, { tenantId: tenant.id });
      return { ...body, email };
    },

    async listInvitations(tenant, status) {
      return pages<InvitationJson>(`/tenants/${encode(tenant.id)}/invitations${status === undefined ? '' : `?status=${encode(status)}`}`, 'invitations', 200);
    },

    async revokeInvitation(tenant, ref) {
      const all = await pages<InvitationJson>(`/tenants/${encode(tenant.id)}/invitations`, 'invitations', 200);
      const found = findInvitation(all, ref, tenant);
      await call('DELETE', `/tenants/${encode(tenant.id)}/invitations/${encode(found.id)}`);
      const after = await pages<InvitationJson>(`/tenants/${encode(tenant.id)}/invitations`, 'invitations', 200);
      return after.find((i) => i.id === found.id) ?? found;
    },

    close: async () => undefined,
  };
}
