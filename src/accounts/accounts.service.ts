import { appendAuditEvent, type AuditContext } from '../audit/audit.repository.ts';
import { type ClientInfo, finishTokens, openSession, type SessionDeps, type SessionTokens } from '../auth/sessions.service.ts';
import { revokeSessionsOfUser } from '../auth/sessions.repository.ts';
import { clearLoginFailures } from '../auth/lockout.repository.ts';
import { enqueueMail } from '../mail/outbox.ts';
import { passwordResetEmail, verificationEmail } from '../mail/templates.ts';
import { applyDataPatch } from '../platform/data-object.ts';
import { enterUserContext, withTenant, withUser } from '../platform/db/context.ts';
import { AppError } from '../platform/http/errors.ts';
import { newId, newTenantId } from '../platform/ids.ts';
import { hashSecret, newSecret } from '../platform/secrets.ts';
import { insertMembership } from '../tenants/memberships.repository.ts';
import { grantOperatorShadows } from '../tenants/operator-access.ts';
import { licenceLimitError } from '../licence/licence.errors.ts';
import { insertTenantWithFreeSlug, slugify } from '../tenants/tenants.repository.ts';
import { AccountErrors } from './accounts.errors.ts';
import { normalizeEmail } from './email.ts';
import { redeemOneTimeToken, replaceOneTimeToken } from './one-time-tokens.repository.ts';
import { hashPassword, passwordProblem } from './passwords.ts';
import { findUserByEmail, findUserById, insertUser, updateUser, type UserRow } from './users.repository.ts';

export const VERIFY_EMAIL_TTL_MS = 24 * 60 * 60_000;
export const RESET_PASSWORD_TTL_MS = 60 * 60_000;

export interface AccountDeps extends SessionDeps {
  /** The preset's owner role: what the creator of a tenant holds. */
  ownerRole: string;
  /** Asks the outbox worker to deliver soon (mail was committed). */
  pokeOutbox: () => void;
}

export interface SignupInput {
  email: string;
  password: string;
  name?: string;
  /** From an invitation link: the verification link carries it on, so the client can accept right after verifying. */
  invitationToken?: string;
}

export interface SignupResult extends SessionTokens {
  user: UserRow;
  tenant: { id: string; slug: string; name: string };
}

function requireEmail(raw: string): string {
  const email = normalizeEmail(raw);
  if (email === undefined) {
    throw new AppError(AccountErrors.INVALID_EMAIL, {
      detail: 'not an email address we accept (ASCII only; write international domains in punycode)',
    });
  }
  return email;
}

function requireGoodPassword(password: string, email: string): void {
  const problem = passwordProblem(password, { email });
  if (problem !== undefined) throw new AppError(AccountErrors.WEAK_PASSWORD, { detail: `The password ${problem}.` });
}

/**
 * SPEC 4, sign-up: the user, their default tenant (they own it), a verification mail and a session on that
 * tenant — all in one transaction, so a failure leaves nothing behind. The unique email index decides
 * concurrent sign-ups with one address: exactly one account results, the other gets 409.
 */
export async function signup(deps: AccountDeps, input: SignupInput, client: ClientInfo, audit: AuditContext): Promise<SignupResult> {
  const email = requireEmail(input.email);
  requireGoodPassword(input.password, email);
  if (await findUserByEmail(deps.db, email)) throw new AppError(AccountErrors.EMAIL_TAKEN);
  // Hash before the transaction: argon2 takes tens of milliseconds and the embedded engine has one connection.
  const passwordHash = await hashPassword(input.password);
  const name = input.name?.trim() || null;
  const tenantId = newTenantId();
  const now = deps.clock.now();
  const verification = newSecret();

  const { user, tenant, pending } = await withTenant(deps.db, tenantId, async (trx) => {
    const user = await insertUser(trx, { id: newId('user'), email, name, passwordHash, emailVerifiedAt: null, platformRole: null, now });
    if (user === undefined) throw new AppError(AccountErrors.EMAIL_TAKEN);
    await enterUserContext(trx, user.id);
    const tenantName = `${name ?? email.split('@')[0]}'s workspace`;
    const tenant = await insertTenantWithFreeSlug(trx, { id: tenantId, slug: slugify(name ?? email.split('@')[0] ?? 'tenant'), name: tenantName, now });
    await insertMembership(trx, { tenantId, userId: user.id, kind: 'direct', roles: [deps.ownerRole], now });
    await sendVerification(trx, deps, user, verification, now, input.invitationToken);

    const actor = { ...audit, actorType: 'user' as const, actorId: user.id };
    await appendAuditEvent(trx, actor, { tenantId: user.id, action: 'user.signed_up', targetType: 'user', targetId: user.id, after: { email } }, now);
    await appendAuditEvent(trx, actor, { tenantId, action: 'tenant.created', targetType: 'tenant', targetId: tenantId, after: { slug: tenant.slug, name: tenant.name } }, now);
    await appendAuditEvent(trx, actor, { tenantId, action: 'member.added', targetType: 'user', targetId: user.id, after: { roles: [deps.ownerRole], kind: 'direct' } }, now);
    await grantOperatorShadows(trx, tenantId, [user.id], actor, now);

    const tenants = [{ tenantId, slug: tenant.slug, name: tenant.name, status: tenant.status, kind: 'direct' as const, roles: [deps.ownerRole], joinedAt: now }];
    const pending = await openSession(trx, deps, { user, activeTenantId: tenantId, tenants, client, audit: actor });
    return { user, tenant, pending };
  }).catch((error: unknown) => {
    throw licenceLimitError(error) ?? error;
  });
  deps.pokeOutbox();
  const tokens = await finishTokens(deps, pending);
  return { ...tokens, user, tenant: { id: tenant.id, slug: tenant.slug, name: tenant.name } };
}

async function sendVerification(trx: Parameters<typeof replaceOneTimeToken>[0], deps: AccountDeps, user: UserRow, token: string, now: Date, invitationToken?: string): Promise<void> {
  await replaceOneTimeToken(trx, {
    hash: hashSecret(token),
    purpose: 'verify_email',
    userId: user.id,
    email: user.email,
    expiresAt: new Date(now.getTime() + VERIFY_EMAIL_TTL_MS),
    now,
  });
  const invitation = invitationToken === undefined ? '' : `&invitation=${encodeURIComponent(invitationToken)}`;
  const link = `${deps.config.publicUrl}/verify-email?token=${encodeURIComponent(token)}${invitation}`;
  await enqueueMail(trx, deps.clock, { to: user.email, ...verificationEmail({ ...(user.name ? { name: user.name } : {}), link }) });
}

/** Sends a fresh verification link (the previous one stops working). */
export async function resendVerification(deps: AccountDeps, userId: string, invitationToken?: string): Promise<void> {
  const now = deps.clock.now();
  await withUser(deps.db, userId, async (trx) => {
    const user = await findUserById(trx, userId);
    if (user === undefined) throw new AppError(AccountErrors.USER_NOT_FOUND);
    if (user.email_verified_at !== null) throw new AppError(AccountErrors.ALREADY_VERIFIED);
    await sendVerification(trx, deps, user, newSecret(), now, invitationToken);
  });
  deps.pokeOutbox();
}

/** Redeems a verification token: single use, expires after 24 h, only for the address it was sent to. */
export async function verifyEmail(deps: AccountDeps, token: string, audit: AuditContext): Promise<UserRow> {
  const now = deps.clock.now();
  return deps.db.transaction().execute(async (trx) => {
    const redeemed = await redeemOneTimeToken(trx, hashSecret(token), 'verify_email', now);
    const user = redeemed?.user_id ? await findUserById(trx, redeemed.user_id) : undefined;
    if (redeemed === undefined || user === undefined || user.email !== redeemed.email) throw new AppError(AccountErrors.INVALID_VERIFICATION_TOKEN);
    if (user.email_verified_at !== null) return user;
    const updated = await updateUser(trx, user.id, { email_verified_at: now }, now);
    await enterUserContext(trx, user.id);
    await appendAuditEvent(trx, { ...audit, actorType: 'user', actorId: user.id }, { tenantId: user.id, action: 'user.email_verified', targetType: 'user', targetId: user.id, after: { email: user.email } }, now);
    return updated ?? user;
  });
}

/** Always succeeds, whether or not the address has an account, so it cannot be used to find accounts. */
export async function forgotPassword(deps: AccountDeps, rawEmail: string, audit: AuditContext): Promise<void> {
  const email = normalizeEmail(rawEmail);
  if (email === undefined) return;
  const user = await findUserByEmail(deps.db, email);
  if (user === undefined) return;
  const now = deps.clock.now();
  const token = newSecret();
  await withUser(deps.db, user.id, async (trx) => {
    await replaceOneTimeToken(trx, {
      hash: hashSecret(token),
      purpose: 'reset_password',
      userId: user.id,
      email: user.email,
      expiresAt: new Date(now.getTime() + RESET_PASSWORD_TTL_MS),
      now,
    });
    const link = `${deps.config.publicUrl}/reset-password?token=${encodeURIComponent(token)}`;
    await enqueueMail(trx, deps.clock, { to: user.email, ...passwordResetEmail({ ...(user.name ? { name: user.name } : {}), link }) });
    await appendAuditEvent(trx, audit, { tenantId: user.id, action: 'user.password_reset_requested', targetType: 'user', targetId: user.id }, now);
  });
  deps.pokeOutbox();
}

/**
 * Sets a new password from a reset link and revokes every session of the account (whoever knew the old
 * password is signed out). The link proves control of the mailbox, so the address counts as verified.
 */
export async function resetPassword(deps: AccountDeps, token: string, password: string, audit: AuditContext): Promise<void> {
  const hash = hashSecret(token);
  const pendingUser = await deps.db
    .selectFrom('one_time_tokens')
    .select('email')
    .where('token_hash', '=', hash)
    .where('purpose', '=', 'reset_password')
    .executeTakeFirst();
  requireGoodPassword(password, pendingUser?.email ?? '');
  const passwordHash = await hashPassword(password);
  const now = deps.clock.now();
  const email = await deps.db.transaction().execute(async (trx) => {
    const redeemed = await redeemOneTimeToken(trx, hash, 'reset_password', now);
    const user = redeemed?.user_id ? await findUserById(trx, redeemed.user_id) : undefined;
    if (redeemed === undefined || user === undefined || user.email !== redeemed.email) throw new AppError(AccountErrors.INVALID_RESET_TOKEN);
    await updateUser(trx, user.id, { password_hash: passwordHash, email_verified_at: user.email_verified_at ?? now }, now);
    const revoked = await revokeSessionsOfUser(trx, user.id, 'password_reset', now);
    await enterUserContext(trx, user.id);
    await appendAuditEvent(trx, { ...audit, actorType: 'user', actorId: user.id }, { tenantId: user.id, action: 'user.password_reset', targetType: 'user', targetId: user.id, after: { sessionsRevoked: revoked } }, now);
    return user.email;
  });
  await clearLoginFailures(deps.db, email);
}

export interface ProfileChanges {
  name?: string | null;
  /** RFC 7396 merge patch: members set to null are removed. */
  data?: Record<string, unknown>;
}

export async function updateProfile(deps: AccountDeps, userId: string, changes: ProfileChanges, audit: AuditContext): Promise<UserRow> {
  const now = deps.clock.now();
  return withUser(deps.db, userId, async (trx) => {
    const user = await findUserById(trx, userId);
    if (user === undefined) throw new AppError(AccountErrors.USER_NOT_FOUND);
    const data = changes.data === undefined
      ? undefined
      : applyDataPatch(user.data, changes.data, (max) => new AppError(AccountErrors.DATA_TOO_LARGE, { detail: `data must stay under ${max} bytes as JSON` }));
    const name = changes.name === undefined ? undefined : changes.name?.trim() || null;
    const updated = await updateUser(trx, userId, { ...(name === undefined ? {} : { name }), ...(data === undefined ? {} : { data }) }, now);
    await appendAuditEvent(trx, audit, {
      tenantId: userId,
      action: 'user.updated',
      targetType: 'user',
      targetId: userId,
      before: { name: user.name, data: user.data },
      after: { name: updated?.name ?? null, data: updated?.data ?? {} },
    }, now);
    return updated ?? user;
  });
}
