import { appendAuditEvent, type AuditContext } from '../audit/audit.repository.ts';
import type { UserRow } from '../accounts/users.repository.ts';
import type { Clock } from '../platform/clock.ts';
import type { Config } from '../platform/config.ts';
import { type Db, enterTenantContext, enterUserContext, inTransaction, type Tx, withUser } from '../platform/db/context.ts';
import { AppError } from '../platform/http/errors.ts';
import { newId } from '../platform/ids.ts';
import { hashSecret, newSecret } from '../platform/secrets.ts';
import type { UserTenant } from '../members/memberships.repository.ts';
import { listTenantsToChoose, type TenantListDeps } from '../tenants/tenant-list.service.ts';
import type { Subject } from '../permissions/access-resolver.ts';
import type { OncePer } from '../platform/once-per.ts';
import { TenantErrors } from '../tenants/tenants.errors.ts';
import { markTenantActive } from '../tenants/tenants.repository.ts';
import { signAccessToken } from '../tokens/access-tokens.ts';
import type { KeyStore } from '../tokens/key-store.ts';
import { AuthErrors } from './auth.errors.ts';
import { insertRefreshToken, insertSession, refreshTokenFate, reissueForTenant, revokeSession, type RotatedSession, rotateRefreshToken } from './sessions.repository.ts';
import type { PasswordHashing } from '../accounts/passwords.ts';

export const REFRESH_TOKEN_PREFIX = 'tnr_rt_';
/** A session lives this long after its last refresh. */
export const SESSION_IDLE_MS = 30 * 24 * 60 * 60_000;

export interface SessionDeps extends TenantListDeps {
  db: Db;
  clock: Clock;
  config: Config;
  keys: KeyStore;
  /** argon2 parameters for new hashes (sign-up, reset) and the unknown-email decoy; default OWASP's. */
  passwordHashing?: PasswordHashing;
  /** Which tenants' `last_active_at` was written lately (`app.services.tenantActivity`); without it a switch always writes it. */
  tenantActivity?: OncePer;
}

export interface ClientInfo {
  ip: string | null;
  userAgent: string | null;
}

/** What every token-issuing endpoint answers with (SPEC 5.1), plus expiry times for cookies. */
export interface SessionTokens {
  userId: string;
  accessToken: string;
  accessTokenExpiresAt: Date;
  refreshToken: string;
  refreshTokenExpiresAt: Date;
  sessionId: string;
  activeTenantId: string | null;
  tenants: UserTenant[];
}

interface PendingTokens {
  userId: string;
  sessionId: string;
  refreshToken: string;
  refreshTokenExpiresAt: Date;
  activeTenantId: string | null;
  tenants: UserTenant[];
}

/**
 * Creates a session and its first refresh token inside the caller's transaction, which must be in the
 * user's context. Returns what `finishTokens` needs once the transaction has committed.
 */
export async function openSession(
  trx: Tx,
  deps: SessionDeps,
  args: { user: UserRow; activeTenantId: string | null; tenants: UserTenant[]; client: ClientInfo; audit: AuditContext },
): Promise<PendingTokens> {
  const now = deps.clock.now();
  const sessionId = newId('session');
  const refreshToken = newSecret(REFRESH_TOKEN_PREFIX);
  const refreshTokenExpiresAt = new Date(now.getTime() + SESSION_IDLE_MS);
  await insertSession(trx, {
    id: sessionId,
    userId: args.user.id,
    activeTenantId: args.activeTenantId,
    expiresAt: refreshTokenExpiresAt,
    ip: args.client.ip,
    userAgent: args.client.userAgent,
    now,
  });
  await insertRefreshToken(trx, { hash: hashSecret(refreshToken), sessionId, expiresAt: refreshTokenExpiresAt, now });
  await appendAuditEvent(
    trx,
    { ...args.audit, actorType: 'user', actorId: args.user.id },
    { tenantId: args.user.id, action: 'session.created', targetType: 'session', targetId: sessionId, after: { activeTenantId: args.activeTenantId } },
    now,
  );
  return { userId: args.user.id, sessionId, refreshToken, refreshTokenExpiresAt, activeTenantId: args.activeTenantId, tenants: args.tenants };
}

/**
 * Signs the access token. Runs after the transaction has committed: signing may read the key table, and
 * on the embedded engine's single connection that must not happen inside a transaction.
 */
export async function finishTokens(deps: SessionDeps, pending: PendingTokens): Promise<SessionTokens> {
  // The token speaks of memberships only: roles held in the active tenant itself, and a claim that stays small for
  // someone above a large tree (the tenants reached from above are in the sign-in response and /auth/me).
  const memberships = pending.tenants.filter((t) => t.kind !== 'inherited');
  const active = memberships.find((t) => t.tenantId === pending.activeTenantId);
  const { token, expiresAt } = await signAccessToken(
    deps.keys,
    {
      sub: pending.userId,
      sid: pending.sessionId,
      tid: pending.activeTenantId,
      roles: active?.roles ?? [],
      authorization: authorizationObject(memberships),
    },
    { issuer: deps.config.publicUrl, clock: deps.clock },
  );
  return {
    userId: pending.userId,
    accessToken: token,
    accessTokenExpiresAt: expiresAt,
    refreshToken: pending.refreshToken,
    refreshTokenExpiresAt: pending.refreshTokenExpiresAt,
    sessionId: pending.sessionId,
    activeTenantId: pending.activeTenantId,
    tenants: pending.tenants,
  };
}

/** SPEC 5 / seed 003: `{ "<tenantId>": { tenantId, name, roles, shadow? } }`. */
export function authorizationObject(tenants: UserTenant[]): Record<string, { tenantId: string; name: string; roles: string[]; shadow?: boolean }> {
  return Object.fromEntries(tenants.map((t) => [t.tenantId, { tenantId: t.tenantId, name: t.name, roles: t.roles, ...(t.kind === 'shadow' ? { shadow: true } : {}) }]));
}

/**
 * `GET /auth/me`'s authorization object: the token's entries, plus the tenants reached from above (`inherited`,
 * `inheritedFrom`, the roles held there that reach them), and where a tenant is not active, its `status` (and
 * `purgeAfter` while pending deletion). Active memberships look exactly as in the token.
 */
export function authorizationView(tenants: UserTenant[]) {
  return Object.fromEntries(
    tenants.map((t) => [
      t.tenantId,
      {
        tenantId: t.tenantId,
        name: t.name,
        roles: t.roles,
        ...(t.kind === 'shadow' ? { shadow: true } : {}),
        ...(t.kind === 'inherited' ? { inherited: true, inheritedFrom: t.inheritedFrom ?? null } : {}),
        ...(t.status === 'active' ? {} : { status: t.status }),
        ...(t.status === 'pending_deletion' ? { purgeAfter: t.purgeAfter?.toISOString() ?? null } : {}),
      },
    ]),
  );
}

/**
 * SPEC 4, who may enter a tenant, the one rule behind sign-in with a tenant id, switching, refreshing and `/auth/me`:
 * the permission resolver lets the person in (a membership, an ancestor's role that reaches it, operator access, the
 * platform; outside `active` only owners and those above: `entersTenant`). A tenant that went pending deletion while
 * it was active stays the session's tenant (its owners restore it from there), but nobody newly enters one: it is
 * restored, never worked in.
 */
export async function mayStayIn(deps: SessionDeps, subject: Subject, tenantId: string): Promise<boolean> {
  return (await deps.access.forUser(subject, tenantId)).visible;
}

/** Refuses to make `tenantId` the active tenant unless the person may enter it (see `mayStayIn`): 404, or 409 pending deletion. */
export async function assertMayEnter(deps: SessionDeps, subject: Subject, tenantId: string): Promise<void> {
  const access = await deps.access.forUser(subject, tenantId);
  if (!access.visible) throw new AppError(AuthErrors.TENANT_NOT_FOUND);
  if (access.status === 'pending_deletion') throw new AppError(TenantErrors.STATUS_CONFLICT, { detail: 'the tenant is pending deletion: restore it before working in it' });
}

/**
 * SPEC 4, sign-in without a tenant id, never landing on a tenant pending deletion:
 * - a valid default tenant (a membership or a tenant reached from above) is landed on;
 * - exactly one membership (direct or shadow) is landed on, however many tenants below it are reached from above
 *   (seed 004: the Main Company's admin lands on the Main Company, its companies listed for switching);
 * - no membership to land on but exactly one tenant reached from above: that one;
 * - otherwise (several, or none) the client must ask the person to choose from the list.
 */
export function chooseActiveTenant(tenants: UserTenant[], defaultTenantId: string | null): string | null {
  const landable = tenants.filter((t) => t.status !== 'pending_deletion');
  if (defaultTenantId !== null && landable.some((t) => t.tenantId === defaultTenantId)) return defaultTenantId;
  const memberships = landable.filter((t) => t.kind !== 'inherited');
  if (memberships.length === 1) return memberships[0]?.tenantId ?? null;
  if (memberships.length === 0 && landable.length === 1) return landable[0]?.tenantId ?? null;
  return null;
}

/**
 * The tenants a new token speaks of: the person's tenant list (cached, `listTenantsToChoose`). Read outside any
 * transaction: it opens its own (one per tenant whose roles reach below, and the permission resolver's), which on the
 * embedded engine's one connection cannot nest.
 */
export function listTenantsForTokens(deps: SessionDeps, subject: Subject): Promise<UserTenant[]> {
  return listTenantsToChoose(deps, subject);
}

/**
 * Rotates a refresh token: the presented one is spent, a new one is issued in the same session (family), in one
 * statement. The tokens speak of the person's tenant list as sign-in's do (usually from memory, after the commit).
 */
export async function refreshSession(deps: SessionDeps, refreshToken: string, audit: AuditContext): Promise<SessionTokens> {
  const now = deps.clock.now();
  const hash = hashSecret(refreshToken);
  const next = newSecret(REFRESH_TOKEN_PREFIX);
  const expiresAt = new Date(now.getTime() + SESSION_IDLE_MS);
  const session = await rotateRefreshToken(deps.db, { hash, nextHash: hashSecret(next), expiresAt, now });
  if (session === undefined) return refuseRefresh(deps, hash, audit, now);
  return tokensAfterRefresh(deps, session, next, expiresAt);
}

/** Why a refresh token was not spent, as the problem to answer; a reused one first revokes its whole session. */
async function refuseRefresh(deps: SessionDeps, hash: string, audit: AuditContext, now: Date): Promise<never> {
  const fate = await inTransaction(deps.db, async (trx) => {
    const fate = await refreshTokenFate(trx, hash);
    if (fate.outcome === 'reused') {
      // Commit the revocation, then refuse: whoever holds the family's tokens is locked out.
      if (await revokeSession(trx, fate.sessionId, 'refresh_token_reused', now)) {
        await enterUserContext(trx, fate.userId);
        await appendAuditEvent(
          trx,
          { ...audit, actorType: 'system', actorId: null },
          { tenantId: fate.userId, action: 'session.revoked', targetType: 'session', targetId: fate.sessionId, after: { reason: 'refresh_token_reused' } },
          now,
        );
      }
    }
    return fate;
  });
  throw new AppError(fate.outcome === 'reused' ? AuthErrors.REFRESH_TOKEN_REUSED : AuthErrors.INVALID_REFRESH_TOKEN);
}

async function tokensAfterRefresh(deps: SessionDeps, session: RotatedSession, next: string, expiresAt: Date): Promise<SessionTokens> {
  const subject = { userId: session.user_id, isSuperAdmin: session.platform_role === 'super_admin' };
  const tenants = await listTenantsForTokens(deps, subject);
  // The session keeps its tenant; the new token names it only while the person can still enter it.
  let activeTenantId = session.active_tenant_id;
  if (activeTenantId !== null && !tenants.some((t) => t.tenantId === activeTenantId) && !(await mayStayIn(deps, subject, activeTenantId))) activeTenantId = null;
  return finishTokens(deps, { userId: session.user_id, sessionId: session.id, refreshToken: next, refreshTokenExpiresAt: expiresAt, activeTenantId, tenants });
}

/**
 * Re-issues tokens for another tenant the user can reach — a member (direct or shadow), through a role
 * inherited from an ancestor, or as platform admin; the caller has checked that (SPEC 4, switching). The token is
 * built from the person's tenant list as sign-in's is (usually from memory). The session's other
 * unused refresh tokens are expired — not marked used, so a client that lost this response is told
 * "invalid" rather than tripping reuse detection and losing the session.
 */
export async function switchActiveTenant(deps: SessionDeps, args: { subject: Subject; sessionId: string; tenantId: string }): Promise<SessionTokens> {
  const now = deps.clock.now();
  const tenants = await listTenantsForTokens(deps, args.subject);
  const refreshToken = newSecret(REFRESH_TOKEN_PREFIX);
  const refreshTokenExpiresAt = new Date(now.getTime() + SESSION_IDLE_MS);
  await reissueForTenant(deps.db, { sessionId: args.sessionId, tenantId: args.tenantId, refreshTokenHash: hashSecret(refreshToken), expiresAt: refreshTokenExpiresAt, now });
  // Bookkeeping, at most once a minute per tenant, after the switch itself: losing it loses no access.
  if (deps.tenantActivity?.due(args.tenantId, now) ?? true) {
    await inTransaction(deps.db, async (trx) => {
      await enterTenantContext(trx, args.tenantId);
      await markTenantActive(trx, args.tenantId, now);
    });
  }
  return finishTokens(deps, { userId: args.subject.userId, sessionId: args.sessionId, refreshToken, refreshTokenExpiresAt, activeTenantId: args.tenantId, tenants });
}

export async function endSession(deps: SessionDeps, args: { userId: string; sessionId: string; audit: AuditContext }): Promise<void> {
  const now = deps.clock.now();
  await withUser(deps.db, args.userId, async (trx) => {
    if (await revokeSession(trx, args.sessionId, 'logout', now)) {
      await appendAuditEvent(
        trx,
        args.audit,
        { tenantId: args.userId, action: 'session.revoked', targetType: 'session', targetId: args.sessionId, after: { reason: 'logout' } },
        now,
      );
    }
  });
}
