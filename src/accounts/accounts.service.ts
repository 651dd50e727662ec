import { appendAuditEvent, type AuditContext } from '../audit/audit.repository.ts';
import { resetPasswordLink, verifyEmailLink } from '../platform/links.ts';
import { type ClientInfo, finishTokens, openSession, type SessionDeps, type SessionTokens } from '../auth/sessions.service.ts';
import { revokeSessionsOfUser } from '../auth/sessions.repository.ts';
import { clearLoginFailures } from '../auth/lockout.repository.ts';
import { enqueueMail } from '../mail/outbox.ts';
import { passwordResetEmail, verificationEmail } from '../mail/templates.ts';
import { applyDataPatch } from '../platform/data-object.ts';
import { enterTenantContext, enterUserContext, inTransaction, type Tx, withTenant, withUser } from '../platform/db/context.ts';
import { AppError, HttpErrors } from '../platform/http/errors.ts';
import { newId, newTenantId } from '../platform/ids.ts';
import { hashSecret, newSecret } from '../platform/secrets.ts';
import { insertMembership } from '../members/memberships.repository.ts';
import { grantOperatorShadows } from '../tenants/operator-access.ts';
import { licenceLimitError } from '../licence/licence.errors.ts';
import { insertTenant, insertTenantWithFreeSlug, slugify } from '../tenants/tenants.repository.ts';
import { TenantErrors } from '../tenants/tenants.errors.ts';
import { findInvitationForSignup, joinByInvitation } from '../invitations/invitations.service.ts';
import type { Preset } from '../presets/presets.ts';
import { AccountErrors } from './accounts.errors.ts';
import { normalizeEmail } from './email.ts';
import { findOneTimeTokenEmail, redeemOneTimeToken, replaceOneTimeToken } from './one-time-tokens.repository.ts';
import { hashPassword, passwordProblem } from './passwords.ts';
import { findUserByEmail, findUserById, insertUser, updateUser, type UserRow } from './users.repository.ts';
import type { OutboxWorker } from '../mail/outbox.ts';

export const VERIFY_EMAIL_TTL_MS = 24 * 60 * 60_000;
export const RESET_PASSWORD_TTL_MS = 60 * 60_000;

export interface AccountDeps extends SessionDeps {
  /** The preset: its owner role (what a tenant's creator holds) and its sign-up policy. */
  preset: Preset;
  /** Asked to deliver soon once mail is committed. */
  outbox: Pick<OutboxWorker, 'poke'>;
}

export interface SignupInput {
  email: string;
  password: string;
  name?: string;
  /** From an invitation link: the account joins the inviting tenant and no tenant is created. */
  invitationToken?: string;
  /** The tenant sign-up creates (personal; the first tenant under the enterprise): its name and slug. */
  tenantName?: string;
  tenantSlug?: string;
  /** The enterprise sign-up creates (the `enterprise` policy, seed 000). */
  organizationName?: string;
}

export interface SignupTenant {
  id: string;
  slug: string;
  name: string;
}

export interface SignupResult extends SessionTokens {
  user: UserRow;
  /** Where the person lands: the tenant sign-up created, or the one that invited them; null when neither. */
  tenant: SignupTenant | null;
  /** The enterprise the tenant belongs to (the `enterprise` policy). */
  enterprise: SignupTenant | null;
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
 * SPEC 4, sign-up: the user, what the preset's sign-up policy creates, a verification mail and a session — all in
 * one transaction, so a failure leaves nothing behind. The unique email index decides concurrent sign-ups with one
 * address: exactly one account results, the other gets 409.
 *
 * - Through an invitation link (`invitationToken`, for the invited address): no tenant is created; the account
 *   joins the inviting tenant with the invited roles and lands there. The invitation was mailed to that address,
 *   so holding its token proves the address as a verification link would: the account starts verified.
 * - `personal`: a tenant the person owns. `enterprise` (seed 000): the organisation as a root tenant and its first
 *   tenant below it, both owned, landing on the tenant. `none` (seeds 001, 004): refused (403 signup_closed)
 *   unless the operator opened sign-up, and then an account with no tenant until someone invites it.
 */
export async function signup(deps: AccountDeps, input: SignupInput, client: ClientInfo, audit: AuditContext): Promise<SignupResult> {
  const email = requireEmail(input.email);
  const invitation = input.invitationToken === undefined ? undefined : await findInvitationForSignup({ db: deps.db, clock: deps.clock }, input.invitationToken, email);
  const policy = deps.preset.signup;
  if (invitation === undefined && policy === 'none' && !deps.config.openSignup) {
    throw new AppError(AccountErrors.SIGNUP_CLOSED, { detail: 'people join this deployment by invitation: open the invitation link you were sent, or ask an administrator' });
  }
  requireGoodPassword(input.password, email);
  if (await findUserByEmail(deps.db, email)) throw new AppError(AccountErrors.EMAIL_TAKEN);
  // Hash before the transaction: argon2 takes tens of milliseconds and the embedded engine has one connection.
  const passwordHash = await hashPassword(input.password, deps.passwordHashing);
  const name = input.name?.trim() || null;
  const now = deps.clock.now();
  const verification = newSecret();
  const label = name ?? email.split('@')[0] ?? 'tenant';
  const creates = invitation !== undefined ? 'nothing' : policy === 'none' ? 'nothing' : policy;
  const enterpriseId = creates === 'enterprise' ? newTenantId() : null;
  const tenantId = invitation?.tenantId ?? (creates === 'nothing' ? null : newTenantId());

  const work = async (trx: Tx) => {
    const user = await insertUser(trx, { id: newId('user'), email, name, passwordHash, emailVerifiedAt: invitation === undefined ? null : now, platformRole: null, now });
    if (user === undefined) throw new AppError(AccountErrors.EMAIL_TAKEN);
    await enterUserContext(trx, user.id);
    const actor = { ...audit, actorType: 'user' as const, actorId: user.id };
    await appendAuditEvent(
      trx,
      actor,
      {
        tenantId: user.id,
        action: 'user.signed_up',
        targetType: 'user',
        targetId: user.id,
        after: { email, ...(invitation === undefined ? {} : { invitationId: invitation.invitationId }) },
      },
      now,
    );
    if (invitation === undefined) await sendVerification(trx, deps, user, verification, now);

    let enterprise: SignupTenant | null = null;
    let tenant: SignupTenant | null = null;
    let roles: string[] = [];
    if (invitation !== undefined && input.invitationToken !== undefined) {
      roles = (await joinByInvitation(trx, deps, invitation, input.invitationToken, user.id, actor)).roles;
      tenant = { id: invitation.tenantId, slug: invitation.tenantSlug, name: invitation.tenantName };
    } else if (tenantId !== null) {
      if (enterpriseId !== null) {
        enterprise = await createOwnedTenant(
          trx,
          deps,
          actor,
          user.id,
          { id: enterpriseId, name: input.organizationName?.trim() || `${label}'s organisation`, slug: slugify(input.organizationName ?? label), parentId: null },
          now,
        );
        await enterTenantContext(trx, tenantId);
      }
      tenant = await createOwnedTenant(
        trx,
        deps,
        actor,
        user.id,
        {
          id: tenantId,
          name: input.tenantName?.trim() || (enterpriseId === null ? `${label}'s workspace` : 'Default tenant'),
          slug: input.tenantSlug ?? slugify(input.tenantName ?? label),
          exactSlug: input.tenantSlug !== undefined,
          parentId: enterpriseId,
        },
        now,
      );
      roles = [deps.preset.ownerRole];
    }
    const tenants =
      tenant === null ? [] : [{ tenantId: tenant.id, slug: tenant.slug, name: tenant.name, status: 'active' as const, kind: 'direct' as const, roles, joinedAt: now }];
    const pending = await openSession(trx, deps, { user, activeTenantId: tenant?.id ?? null, tenants, client, audit: actor });
    return { user, tenant, enterprise, pending };
  };
  const { user, tenant, enterprise, pending } = await (tenantId === null ? withUser(deps.db, '', work) : withTenant(deps.db, enterpriseId ?? tenantId, work)).catch(
    (error: unknown) => {
      throw licenceLimitError(error) ?? error;
    },
  );
  deps.outbox.poke();
  const tokens = await finishTokens(deps, pending);
  return { ...tokens, user, tenant, enterprise };
}

/**
 * A tenant sign-up creates, owned by the new person: its row (under a free variant of the slug unless the person
 * chose the slug: then a taken one is 409), the membership, the audit events and the operator's shadow access.
 * The transaction is in the tenant's context.
 */
async function createOwnedTenant(
  trx: Tx,
  deps: AccountDeps,
  actor: AuditContext,
  userId: string,
  spec: { id: string; name: string; slug: string; exactSlug?: boolean; parentId: string | null },
  now: Date,
): Promise<SignupTenant> {
  const values = { id: spec.id, slug: spec.slug, name: spec.name, parentId: spec.parentId, now };
  const row = spec.exactSlug === true ? await insertTenant(trx, values) : await insertTenantWithFreeSlug(trx, values);
  if (row === undefined) throw new AppError(TenantErrors.SLUG_TAKEN);
  const ownerRole = deps.preset.ownerRole;
  await appendAuditEvent(
    trx,
    actor,
    { tenantId: spec.id, action: 'tenant.created', targetType: 'tenant', targetId: spec.id, after: { slug: row.slug, name: row.name, parentId: spec.parentId } },
    now,
  );
  await insertMembership(trx, { tenantId: spec.id, userId, kind: 'direct', roles: [ownerRole], now });
  await appendAuditEvent(trx, actor, { tenantId: spec.id, action: 'member.added', targetType: 'user', targetId: userId, after: { roles: [ownerRole], kind: 'direct' } }, now);
  await grantOperatorShadows(trx, spec.id, [userId], actor, now);
  return { id: row.id, slug: row.slug, name: row.name };
}

async function sendVerification(trx: Tx, deps: AccountDeps, user: UserRow, token: string, now: Date, invitationToken?: string): Promise<void> {
  await replaceOneTimeToken(trx, {
    hash: hashSecret(token),
    purpose: 'verify_email',
    userId: user.id,
    email: user.email,
    expiresAt: new Date(now.getTime() + VERIFY_EMAIL_TTL_MS),
    now,
  });
  const link = verifyEmailLink(deps.config.publicUrl, token, invitationToken);
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
  deps.outbox.poke();
}

/** Redeems a verification token: single use, expires after 24 h, only for the address it was sent to. */
export async function verifyEmail(deps: AccountDeps, token: string, audit: AuditContext): Promise<UserRow> {
  const now = deps.clock.now();
  return inTransaction(deps.db, async (trx) => {
    const redeemed = await redeemOneTimeToken(trx, hashSecret(token), 'verify_email', now);
    const user = redeemed?.user_id ? await findUserById(trx, redeemed.user_id) : undefined;
    if (redeemed === undefined || user === undefined || user.email !== redeemed.email) throw new AppError(AccountErrors.INVALID_VERIFICATION_TOKEN);
    if (user.email_verified_at !== null) return user;
    const updated = await updateUser(trx, user.id, { email_verified_at: now }, now);
    await enterUserContext(trx, user.id);
    await appendAuditEvent(
      trx,
      { ...audit, actorType: 'user', actorId: user.id },
      { tenantId: user.id, action: 'user.email_verified', targetType: 'user', targetId: user.id, after: { email: user.email } },
      now,
    );
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
    const link = resetPasswordLink(deps.config.publicUrl, token);
    await enqueueMail(trx, deps.clock, { to: user.email, ...passwordResetEmail({ ...(user.name ? { name: user.name } : {}), link }) });
    await appendAuditEvent(trx, audit, { tenantId: user.id, action: 'user.password_reset_requested', targetType: 'user', targetId: user.id }, now);
  });
  deps.outbox.poke();
}

/**
 * Sets a new password from a reset link and revokes every session of the account (whoever knew the old
 * password is signed out). The link proves control of the mailbox, so the address counts as verified.
 */
export async function resetPassword(deps: AccountDeps, token: string, password: string, audit: AuditContext): Promise<void> {
  const hash = hashSecret(token);
  requireGoodPassword(password, (await findOneTimeTokenEmail(deps.db, hash, 'reset_password')) ?? '');
  const passwordHash = await hashPassword(password, deps.passwordHashing);
  const now = deps.clock.now();
  const email = await inTransaction(deps.db, async (trx) => {
    const redeemed = await redeemOneTimeToken(trx, hash, 'reset_password', now);
    const user = redeemed?.user_id ? await findUserById(trx, redeemed.user_id) : undefined;
    if (redeemed === undefined || user === undefined || user.email !== redeemed.email) throw new AppError(AccountErrors.INVALID_RESET_TOKEN);
    await updateUser(trx, user.id, { password_hash: passwordHash, email_verified_at: user.email_verified_at ?? now }, now);
    const revoked = await revokeSessionsOfUser(trx, user.id, 'password_reset', now);
    await enterUserContext(trx, user.id);
    await appendAuditEvent(
      trx,
      { ...audit, actorType: 'user', actorId: user.id },
      { tenantId: user.id, action: 'user.password_reset', targetType: 'user', targetId: user.id, after: { sessionsRevoked: revoked } },
      now,
    );
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
    const data =
      changes.data === undefined
        ? undefined
        : applyDataPatch(user.data, changes.data, (max) => new AppError(HttpErrors.DATA_TOO_LARGE, { detail: `data must stay under ${max} bytes as JSON` }));
    const name = changes.name === undefined ? undefined : changes.name?.trim() || null;
    const updated = await updateUser(trx, userId, { ...(name === undefined ? {} : { name }), ...(data === undefined ? {} : { data }) }, now);
    await appendAuditEvent(
      trx,
      audit,
      {
        tenantId: userId,
        action: 'user.updated',
        targetType: 'user',
        targetId: userId,
        before: { name: user.name, data: user.data },
        after: { name: updated?.name ?? null, data: updated?.data ?? {} },
      },
      now,
    );
    return updated ?? user;
  });
}
