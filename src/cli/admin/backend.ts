import { normalizeEmail } from '../../accounts/email.ts';
import { idPattern } from '../../platform/ids.ts';

/**
 * What `tenantry admin` does, independent of how: `local.ts` calls the services the HTTP routes call on the
 * configured database, `remote.ts` calls a running server's HTTP API (`--url`/`--token`). Both answer in the
 * API's JSON shapes, so `--json` prints the same in either mode.
 */

/** A tenant as a command line names it (by id or slug), resolved. */
export interface TenantRef {
  id: string;
  slug: string;
  name: string;
  status: string;
}

/** One row of GET /admin/tenants. */
export interface InstallTenantJson {
  id: string;
  slug: string;
  name: string;
  status: string;
  parentId: string | null;
  isAdminTenancy: boolean;
  createdAt: string;
}

export interface InstallListing {
  tenants: InstallTenantJson[];
  /** Tenants in use: every status but deleted. */
  inUse: number;
  /** The licence's tenant limit; null = none. */
  limit: number | null;
}

/** A tenant as POST /tenants and the lifecycle routes answer it. */
export interface TenantJson {
  id: string;
  slug: string;
  name: string;
  parentId: string | null;
  status: string;
  plan: string | null;
  isAdminTenancy: boolean;
  memberCount: number;
  createdAt: string;
  [more: string]: unknown;
}

/** DELETE /tenants/:id's answers: pending deletion, purged at once, or held for approval. */
export type DeletionJson =
  | { status: 'pending_deletion'; tenants: string[]; purgeAfter: string }
  | { status: 'deleted'; tenants: string[]; purged: Array<{ tenantId: string; removed: Record<string, number>; usersRepointed: number; usersDeleted: number }> }
  | { status: 'pending_approval'; approvalRequest: Record<string, unknown> };

export interface UserJson {
  id: string;
  email: string;
  name: string | null;
  emailVerified: boolean;
  platformRole: string | null;
  defaultTenantId: string | null;
  defaultTenantSlug: string | null;
  /** Direct memberships (shadow ones are operator access, not membership). */
  tenants: number;
  createdAt: string;
}

export interface InvitationJson {
  id: string;
  email: string;
  roles: string[];
  status: string;
  createdAt: string;
  expiresAt: string;
  invitedBy: string | null;
  acceptedAt: string | null;
  revokedAt: string | null;
}

export interface AdminBackend {
  /** `local`: the services on the configured database; `remote`: a server's HTTP API. */
  readonly mode: 'local' | 'remote';
  tenant(ref: string): Promise<TenantRef>;
  listTenants(): Promise<InstallListing>;
  /**
   * `owner` (an email or user id) only locally; without it the platform owns the tenant (operator staff reach it
   * through shadow memberships). Over HTTP the server decides: the token's person, or the platform for operator staff.
   */
  createTenant(input: {
    name: string;
    slug: string;
    parent: TenantRef | null;
    owner: string | undefined;
  }): Promise<{ tenant: TenantJson; owner: { id: string; email: string } | null }>;
  setSuspended(tenant: TenantRef, change: { suspend: boolean; reason?: string }): Promise<TenantJson>;
  deleteTenant(tenant: TenantRef, input: { confirm: string; includeDescendants: boolean }): Promise<DeletionJson>;
  listUsers(): Promise<UserJson[]>;
  invite(tenant: TenantRef, input: { email: string; roles: string[] }): Promise<InvitationJson>;
  /** `user`: an email or a user id. */
  setDefaultTenant(user: string, tenant: TenantRef): Promise<{ userId: string; email: string | null; defaultTenantId: string }>;
  listInvitations(tenant: TenantRef, status: string | undefined): Promise<InvitationJson[]>;
  /** `invitation`: an invitation id, or the email of the tenant's pending invitation. */
  revokeInvitation(tenant: TenantRef, invitation: string): Promise<InvitationJson>;
  close(): Promise<void>;
}

/** A refusal or failure to report in one line (exit 1): the action changed nothing. */
export class CliFailure extends Error {
  override name = 'CliFailure';
}

/** A problem document (or an AppError's parts) in words: "Title: detail (code)". */
export function describeProblem(problem: { title?: unknown; detail?: unknown; code?: unknown; status?: unknown }): string {
  const title = typeof problem.title === 'string' ? problem.title : 'Refused';
  const detail = typeof problem.detail === 'string' && problem.detail !== title ? `: ${problem.detail}` : '';
  const code = typeof problem.code === 'string' ? ` (${problem.code}${typeof problem.status === 'number' ? `, HTTP ${problem.status}` : ''})` : '';
  return `${title}${detail}${code}`;
}

export const USER_ID = new RegExp(idPattern('user'));

/** The invitation `ref` names: its id, or the email of the tenant's pending (or expired) invitation. */
export function findInvitation(invitations: InvitationJson[], ref: string, tenant: TenantRef): InvitationJson {
  const email = ref.includes('@') ? (normalizeEmail(ref) ?? ref.toLowerCase()) : undefined;
  const found = email === undefined ? invitations.find((i) => i.id === ref) : invitations.find((i) => i.email === email && (i.status === 'pending' || i.status === 'expired'));
  if (found === undefined) {
    throw new CliFailure(email === undefined ? `no invitation ${ref} in tenant ${tenant.slug}` : `no pending invitation for ${email} in tenant ${tenant.slug}`);
  }
  return found;
}
