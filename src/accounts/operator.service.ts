import { appendAuditEvent, type AuditContext } from '../audit/audit.repository.ts';
import { setupLink } from '../platform/links.ts';
import type { Clock } from '../platform/clock.ts';
import { licenceLimitError } from '../licence/licence.errors.ts';
import { type Db, enterUserContext, inTransaction, withSystem } from '../platform/db/context.ts';
import { AppError } from '../platform/http/errors.ts';
import { newId, newTenantId } from '../platform/ids.ts';
import { hashSecret, newSecret } from '../platform/secrets.ts';
import { insertMembership } from '../members/memberships.repository.ts';
import { insertTenantWithFreeSlug } from '../tenants/tenants.repository.ts';
import { AccountErrors } from './accounts.errors.ts';
import { normalizeEmail } from './email.ts';
import { redeemOneTimeToken, replaceOneTimeToken, voidOneTimeTokens } from './one-time-tokens.repository.ts';
import { hashPassword, type PasswordHashing, passwordProblem } from './passwords.ts';
import { findUserByEmail, hasSuperAdmin, insertUser, setExplicitDefaultTenant, updateUser, type UserRow } from './users.repository.ts';
import { findAdminTenancyId, setAdminTenancy } from '../admin/admin.repository.ts';

export const SETUP_TOKEN_TTL_MS = 24 * 60 * 60_000;

export interface OperatorDeps {
  db: Db;
  clock: Clock;
  ownerRole: string;
  /** argon2 parameters for the new account's hash; default OWASP's. */
  passwordHashing?: PasswordHashing;
}

export interface OperatorInput {
  email: string;
  password: string;
  name?: string;
}

const SYSTEM: AuditContext = { actorType: 'system', actorId: null, requestId: null, ip: null };

/**
 * The platform operator (SPEC 5.2): a verified `super_admin` who owns the admin tenancy. An existing
 * account with that email is promoted instead (its password is left alone); a new one gets a new admin
 * tenancy, unless the install already has one. `setupToken`, when given, is redeemed in the same
 * transaction, so a setup link creates at most one operator.
 */
export async function createOperator(
  deps: OperatorDeps,
  input: OperatorInput,
  audit: AuditContext = SYSTEM,
  setupToken?: string,
): Promise<{ user: UserRow; created: boolean; adminTenantId: string | null }> {
  const email = normalizeEmail(input.email);
  if (email === undefined) throw new AppError(AccountErrors.INVALID_EMAIL);
  const existing = await findUserByEmail(deps.db, email);
  if (existing === undefined) {
    const problem = passwordProblem(input.password, { email });
    if (problem !== undefined) throw new AppError(AccountErrors.WEAK_PASSWORD, { detail: `The password ${problem}.` });
  }
  const passwordHash = existing === undefined ? await hashPassword(input.password, deps.passwordHashing) : null;
  const now = deps.clock.now();
  const tenantId = newTenantId();

  // The system context: finding the install's admin tenancy means looking across all tenants.
  return withSystem(deps.db, async (trx) => {
    if (setupToken !== undefined) {
      const redeemed = await redeemOneTimeToken(trx, hashSecret(setupToken), 'operator_setup', now);
      if (redeemed === undefined || (await hasSuperAdmin(trx))) throw new AppError(AccountErrors.INVALID_SETUP_TOKEN);
    }
    if (existing !== undefined) {
      // A setup link is for a new operator account, never for taking over an existing one.
      if (setupToken !== undefined) throw new AppError(AccountErrors.EMAIL_TAKEN);
      const user = (await updateUser(trx, existing.id, { platform_role: 'super_admin', email_verified_at: existing.email_verified_at ?? now }, now)) ?? existing;
      await enterUserContext(trx, user.id);
      await appendAuditEvent(
        trx,
        audit,
        { tenantId: user.id, action: 'user.platform_role_granted', targetType: 'user', targetId: user.id, after: { platformRole: 'super_admin' } },
        now,
      );
      return { user, created: false, adminTenantId: null };
    }
    const user = await insertUser(trx, { id: newId('user'), email, name: input.name?.trim() || 'Operator', passwordHash, emailVerifiedAt: now, platformRole: 'super_admin', now });
    if (user === undefined) throw new AppError(AccountErrors.EMAIL_TAKEN);
    await enterUserContext(trx, user.id);
    let adminTenantId = (await findAdminTenancyId(trx)) ?? null;
    if (adminTenantId === null) {
      await insertTenantWithFreeSlug(trx, { id: tenantId, slug: 'admin', name: 'Platform administration', now });
      await setAdminTenancy(trx, tenantId, true);
      adminTenantId = tenantId;
      await appendAuditEvent(
        trx,
        { ...audit, actorType: 'user', actorId: user.id },
        { tenantId, action: 'tenant.created', targetType: 'tenant', targetId: tenantId, after: { adminTenancy: true } },
        now,
      );
    }
    await insertMembership(trx, { tenantId: adminTenantId, userId: user.id, kind: 'direct', roles: [deps.ownerRole], now });
    // Explicit: the operator is staff of the admin tenancy by designation as well as by role (migration 0013).
    await setExplicitDefaultTenant(trx, user.id, adminTenantId, now);
    await appendAuditEvent(
      trx,
      audit,
      { tenantId: adminTenantId, action: 'member.added', targetType: 'user', targetId: user.id, after: { roles: [deps.ownerRole], kind: 'direct' } },
      now,
    );
    await appendAuditEvent(trx, audit, { tenantId: user.id, action: 'user.created', targetType: 'user', targetId: user.id, after: { email, platformRole: 'super_admin' } }, now);
    return { user, created: true, adminTenantId };
  }).catch((error: unknown) => {
    // The admin tenancy is a tenant too: a licence already full refuses it like any other.
    throw licenceLimitError(error) ?? error;
  });
}

/**
 * On a fresh install with no operator configured: a one-time link (24 h) to create one. Each start
 * issues a new link and voids the previous ones. Returns undefined when an operator already exists.
 */
export async function issueSetupLink(deps: OperatorDeps, publicUrl: string): Promise<string | undefined> {
  if (await hasSuperAdmin(deps.db)) return undefined;
  const token = newSecret();
  const now = deps.clock.now();
  await inTransaction(deps.db, async (trx) => {
    await voidOneTimeTokens(trx, 'operator_setup', now);
    await replaceOneTimeToken(trx, { hash: hashSecret(token), purpose: 'operator_setup', userId: null, email: null, expiresAt: new Date(now.getTime() + SETUP_TOKEN_TTL_MS), now });
  });
  return setupLink(publicUrl, token);
}
