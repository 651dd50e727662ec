import { normalizeEmail } from '../accounts/email.ts';
import { decoyHash, verifyPassword } from '../accounts/passwords.ts';
import { findUserByEmail, type UserRow } from '../accounts/users.repository.ts';
import { type AuditContext, appendAuditEvent } from '../audit/audit.repository.ts';
import { withUser } from '../platform/db/context.ts';
import { AppError } from '../platform/http/errors.ts';
import { AuthErrors } from './auth.errors.ts';
import { clearLoginFailures, DEFAULT_LOCKOUT, findLockedUntil, type LockoutPolicy, recordLoginFailure } from './lockout.repository.ts';
import { assertMayEnter, chooseActiveTenant, type ClientInfo, finishTokens, listTenantsForTokens, openSession, type SessionDeps, type SessionTokens } from './sessions.service.ts';

export interface LoginInput {
  email: string;
  password: string;
  tenantId?: string;
}

/**
 * Password sign-in. An unknown email and a wrong password give the same answer after the same argon2
 * work; repeated failures lock the address (known or not) for a while, answered 429 with Retry-After.
 */
export async function login(
  deps: SessionDeps & { lockout?: LockoutPolicy },
  input: LoginInput,
  client: ClientInfo,
  audit: AuditContext,
): Promise<SessionTokens & { user: UserRow }> {
  const now = deps.clock.now();
  // Malformed addresses cannot have accounts; they are still counted under their raw form.
  const email = normalizeEmail(input.email) ?? input.email.trim().toLowerCase().slice(0, 254);
  const lockedUntil = await findLockedUntil(deps.db, email, now);
  if (lockedUntil !== undefined) {
    const seconds = Math.max(1, Math.ceil((lockedUntil.getTime() - now.getTime()) / 1000));
    throw new AppError(AuthErrors.ACCOUNT_LOCKED, { retryAfter: seconds }, { 'retry-after': String(seconds) });
  }
  const user = await findUserByEmail(deps.db, email);
  const matches = await verifyPassword(user?.password_hash ?? (await decoyHash(deps.passwordHashing)), input.password);
  if (user === undefined || user.password_hash === null || !matches) {
    await recordLoginFailure(deps.db, email, now, deps.lockout ?? DEFAULT_LOCKOUT);
    // An account's own trail shows every wrong password tried on it; an address without an account has no trail.
    if (user !== undefined) {
      await withUser(deps.db, user.id, (trx) =>
        appendAuditEvent(trx, { ...audit, actorType: 'user', actorId: null }, { tenantId: user.id, action: 'user.sign_in_failed', targetType: 'user', targetId: user.id }, now),
      );
    }
    throw new AppError(AuthErrors.INVALID_CREDENTIALS);
  }
  await clearLoginFailures(deps.db, email);
  // The list is read before the session's transaction (see listTenantsForTokens).
  const subject = { userId: user.id, isSuperAdmin: user.platform_role === 'super_admin' };
  const tenants = await listTenantsForTokens(deps, subject);
  if (input.tenantId !== undefined) await assertMayEnter(deps, subject, input.tenantId);
  const activeTenantId = input.tenantId ?? chooseActiveTenant(tenants, user.default_tenant_id);
  const pending = await withUser(deps.db, user.id, (trx) => openSession(trx, deps, { user, activeTenantId, tenants, client, audit }));
  return { ...(await finishTokens(deps, pending)), user };
}
