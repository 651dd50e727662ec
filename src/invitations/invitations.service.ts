import { AccountErrors } from '../accounts/accounts.errors.ts';
import { teamInviteLink } from '../platform/links.ts';
import { normalizeEmail } from '../accounts/email.ts';
import { findUserById } from '../accounts/users.repository.ts';
import { appendAuditEvent, type AuditContext } from '../audit/audit.repository.ts';
import type { UserPrincipal } from '../auth/principal.ts';
import { enqueueMail } from '../mail/outbox.ts';
import { invitationEmail } from '../mail/templates.ts';
import { makeDirectMember } from '../members/members.service.ts';
import { lockOwnCustomRoles } from '../roles/roles.repository.ts';
import { RoleBook } from '../roles/role-book.ts';
import { assertCanGrantRoles, type Authorized } from '../permissions/authorize.ts';
import type { Clock } from '../platform/clock.ts';
import type { Config } from '../platform/config.ts';
import { type Db, readSystem, readTenant, type Tx, withTenant } from '../platform/db/context.ts';
import { faultPoint } from '../platform/db/faults.ts';
import { decodeKeysetCursor, encodeKeysetCursor } from '../platform/http/cursor.ts';
import { AppError, HttpErrors } from '../platform/http/errors.ts';
import { assertRoom, lockPlan } from '../plans/plans.service.ts';
import { newId } from '../platform/ids.ts';
import { hashSecret, newSecret } from '../platform/secrets.ts';
import type { Preset } from '../presets/presets.ts';
import { InvitationErrors } from './invitations.errors.ts';
import {
  claimInvitation,
  type EffectiveStatus,
  effectiveStatus,
  findInvitationByToken,
  findInvitationByTokenInTenant,
  findInvitationForUpdate,
  findPendingInvitationForUpdate,
  type InvitationByToken,
  type InvitationPosition,
  type InvitationRow,
  listInvitations as listInvitationRows,
  markRevoked,
  upsertPendingInvitation,
} from './invitations.repository.ts';
import { findTenantPath } from '../tenants/tenants.repository.ts';
import { findMembership, isDirectMemberByEmail } from '../members/memberships.repository.ts';
import type { OutboxWorker } from '../mail/outbox.ts';

/** Invitation tokens carry this prefix, so secret scanners can recognise a leaked one. */
export const INVITATION_TOKEN_PREFIX = 'tnr_inv_';

export interface InvitationDeps {
  db: Db;
  clock: Clock;
  config: Config;
  preset: Preset;
  /** Asked to deliver soon once mail is committed. */
  outbox: Pick<OutboxWorker, 'poke'>;
}

/** The caller, already authorized for the tenant (see `authorize`). */
export interface InvitationView {
  id: string;
  email: string;
  roles: string[];
  status: EffectiveStatus;
  createdAt: Date;
  expiresAt: Date;
  invitedBy: string | null;
  acceptedAt: Date | null;
  revokedAt: Date | null;
}

/** What anyone holding the token may see: where it leads, with which roles, from whom, until when. */
export interface InvitationPreview {
  tenantId: string;
  tenantName: string;
  roles: string[];
  inviterName: string | null;
  /** The invited address, whole, so the client can prefill sign-up (the token holder received it there). */
  email: string;
  expiresAt: Date;
  status: 'pending';
}

function present(row: InvitationRow, now: Date): InvitationView {
  return {
    id: row.id,
    email: row.email,
    roles: row.roles,
    status: effectiveStatus(row, now),
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    invitedBy: row.invited_by,
    acceptedAt: row.accepted_at,
    revokedAt: row.revoked_at,
  };
}

/**
 * SPEC 4: invites `email` into the tenant with `roles`, and mails the link. Roles must resolve in the
 * tenant and give nothing beyond what the inviter's roles give. Re-inviting an address with a pending
 * invitation gives that invitation a new token, roles and expiry (the old link stops working).
 */
export async function createInvitation(deps: InvitationDeps, acting: Authorized, tenantId: string, input: { email: string; roles: readonly string[] }): Promise<InvitationView> {
  const email = normalizeEmail(input.email);
  if (email === undefined) {
    throw new AppError(AccountErrors.INVALID_EMAIL, { detail: 'not an email address we accept (ASCII only; write international domains in punycode)' });
  }
  const roles = [...new Set(input.roles)].sort();
  const now = deps.clock.now();
  const expiresAt = new Date(now.getTime() + deps.config.invitationTtlHours * 60 * 60_000);
  const token = newSecret(INVITATION_TOKEN_PREFIX);

  const view = await withTenant(deps.db, tenantId, async (trx) => {
    const room = await lockPlan(trx, deps, tenantId);
    // Share-lock the tenant's own custom roles named here, so a concurrent deletion of one waits for us.
    await lockOwnCustomRoles(trx, { tenantId, keys: roles });
    const granted = (await RoleBook.load(trx, deps.preset, acting.access.path, roles)).require(roles);
    assertCanGrantRoles(acting.access, granted);
    if (await isDirectMemberByEmail(trx, { tenantId, email })) throw new AppError(InvitationErrors.ALREADY_MEMBER, { detail: `${email} is already a member here` });

    const previous = await findPendingInvitationForUpdate(trx, { tenantId, email });
    // A live pending invitation already holds its seat; renewing it takes no other. An expired one holds none
    // (the count leaves it out), so renewing it takes a seat like a new invitation.
    assertRoom(room, 'members', previous !== undefined && previous.expires_at.getTime() > now.getTime() ? 0 : 1);
    const { row, created } = await upsertPendingInvitation(trx, {
      tenantId,
      newId: newId('invitation'),
      email,
      roles,
      tokenHash: hashSecret(token),
      invitedBy: acting.principal?.kind === 'user' ? acting.principal.userId : null,
      expiresAt,
      now,
    });
    const inviterName =
      acting.principal?.kind === 'user' ? ((await findUserById(trx, acting.principal.userId))?.name ?? acting.principal.email) : `The ${acting.access.tenantName} team`;
    const link = teamInviteLink(deps.config.publicUrl, token);
    await enqueueMail(trx, deps.clock, {
      to: email,
      ...invitationEmail({
        tenantName: acting.access.tenantName,
        inviterName,
        roles: granted.map((role) => role.name),
        link,
        expiresAt,
      }),
    });
    // Never the token, nor its hash: the audit trail is readable by auditors, the link is a credential.
    await appendAuditEvent(
      trx,
      acting.audit,
      {
        tenantId,
        action: created ? 'invitation.created' : 'invitation.renewed',
        targetType: 'invitation',
        targetId: row.id,
        before: created || previous === undefined ? null : { roles: previous.roles, expiresAt: previous.expires_at.toISOString() },
        after: { email, roles, expiresAt: expiresAt.toISOString() },
      },
      now,
    );
    return present(row, now);
  });
  deps.outbox.poke();
  return view;
}

export async function listInvitations(
  deps: InvitationDeps,
  tenantId: string,
  query: { status?: EffectiveStatus; limit: number; cursor?: string },
): Promise<{ invitations: InvitationView[]; nextCursor: string | null }> {
  const now = deps.clock.now();
  const after = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
  const page = await readTenant(deps.db, tenantId, (trx) =>
    listInvitationRows(trx, { tenantId, now, limit: query.limit, ...(query.status === undefined ? {} : { status: query.status }), ...(after ? { after } : {}) }),
  );
  return { invitations: page.invitations.map((row) => present(row, now)), nextCursor: page.next === null ? null : encodeCursor(page.next) };
}

/**
 * Withdraws a pending (or expired) invitation: its link stops working. Revoking a revoked one changes
 * nothing; an accepted one cannot be revoked (remove the member instead).
 */
export async function revokeInvitation(deps: InvitationDeps, acting: Authorized, key: { tenantId: string; invitationId: string }): Promise<void> {
  const now = deps.clock.now();
  await withTenant(deps.db, key.tenantId, async (trx) => {
    const row = await findInvitationForUpdate(trx, key);
    if (row === undefined) throw new AppError(InvitationErrors.INVITATION_NOT_FOUND);
    if (row.status === 'accepted') throw new AppError(InvitationErrors.INVITATION_NOT_PENDING, { detail: 'remove the member instead' });
    if (row.status === 'revoked') return;
    await markRevoked(trx, { ...key, now });
    await appendAuditEvent(
      trx,
      acting.audit,
      {
        tenantId: key.tenantId,
        action: 'invitation.revoked',
        targetType: 'invitation',
        targetId: row.id,
        before: { email: row.email, roles: row.roles, status: effectiveStatus(row, now) },
        after: { status: 'revoked' },
      },
      now,
    );
  });
}

/** The preview of a usable invitation; 404/410 problems otherwise, revealing nothing else. */
export async function previewInvitation(deps: InvitationDeps, token: string): Promise<InvitationPreview> {
  const found = await findUsableInvitation(deps, token);
  return {
    tenantId: found.tenantId,
    tenantName: found.tenantName,
    roles: found.roles,
    inviterName: found.inviterName,
    email: found.email,
    expiresAt: found.expiresAt,
    status: 'pending',
  };
}

/**
 * For sign-up from an invitation link: the preview, provided the new account's address is the invited
 * one (else 403 invitation_email_mismatch — that account could never accept it).
 */
export async function previewInvitationFor(deps: InvitationDeps, token: string, rawEmail: string): Promise<InvitationPreview> {
  const preview = await previewInvitation(deps, token);
  const email = normalizeEmail(rawEmail);
  // An address we do not accept at all is sign-up's to refuse (422 invalid_email).
  if (email !== undefined && email !== preview.email) throw new AppError(InvitationErrors.EMAIL_MISMATCH);
  return preview;
}

const INVITATION_CODES: ReadonlySet<string> = new Set(Object.values(InvitationErrors).map((spec) => spec.code));

/** Like previewInvitation, but undefined instead of a problem (for responses that merely carry an invitation along). */
export async function findInvitationPreview(deps: InvitationDeps, token: string): Promise<InvitationPreview | undefined> {
  try {
    return await previewInvitation(deps, token);
  } catch (error) {
    if (error instanceof AppError && INVITATION_CODES.has(error.spec.code)) return undefined;
    throw error;
  }
}

/**
 * SPEC 4, accepting: the signed-in user's verified email must be the invited one. In one transaction in
 * the tenant's context: the invitation is claimed by a conditional update (of concurrent acceptances one
 * wins), the direct membership is created with the invited roles, both audited. An existing direct member
 * gets 409 and the invitation stays pending (nothing changes; an admin may revoke it). Returns where the
 * user now belongs; the caller issues tokens for that tenant.
 */
export async function acceptInvitation(deps: InvitationDeps, principal: UserPrincipal, token: string, audit: AuditContext): Promise<{ tenantId: string; roles: string[] }> {
  const found = await findUsableInvitation(deps, token);
  if (found.email !== principal.email) throw new AppError(InvitationErrors.EMAIL_MISMATCH);
  if (!principal.emailVerified) throw new AppError(InvitationErrors.EMAIL_NOT_VERIFIED);
  return withTenant(deps.db, found.tenantId, (trx) => joinByInvitation(trx, deps, found, token, principal.userId, audit));
}

/**
 * The usable invitation behind `token` for a new account with `rawEmail` (sign-up through an invitation link):
 * 403 invitation_email_mismatch for another address, since that account could never accept it.
 */
export async function findInvitationForSignup(deps: Pick<InvitationDeps, 'db' | 'clock'>, token: string, rawEmail: string): Promise<InvitationByToken> {
  const found = await findUsableInvitation(deps, token);
  if (normalizeEmail(rawEmail) !== found.email) throw new AppError(InvitationErrors.EMAIL_MISMATCH);
  return found;
}

/**
 * Accepting, inside the caller's transaction in the invitation's tenant context: the invitation is claimed by a
 * conditional update (of concurrent acceptances one wins), the direct membership created with the invited roles
 * (a shadow one is promoted), both audited. Used by accepting and by sign-up through an invitation link.
 */
export async function joinByInvitation(
  trx: Tx,
  deps: Pick<InvitationDeps, 'clock' | 'preset'>,
  found: InvitationByToken,
  token: string,
  userId: string,
  audit: AuditContext,
): Promise<{ tenantId: string; roles: string[] }> {
  const { tenantId } = found;
  const tokenHash = hashSecret(token);
  const now = deps.clock.now();
  const claimed = await claimInvitation(trx, { tenantId, invitationId: found.invitationId, tokenHash, userId, now });
  if (claimed === undefined) {
    const current = await findInvitationByTokenInTenant(trx, { tenantId, tokenHash });
    throw statusProblem(current === undefined ? undefined : effectiveStatus(current, now));
  }
  await faultPoint(trx, 'invitation.claimed');
  await lockOwnCustomRoles(trx, { tenantId, keys: claimed.roles });
  const book = await RoleBook.load(trx, deps.preset, await findTenantPath(trx, tenantId), claimed.roles);
  const gone = claimed.roles.filter((key) => book.resolve(key) === undefined);
  if (gone.length > 0) throw new AppError(InvitationErrors.ROLE_UNAVAILABLE, { detail: `no role ${gone.join(', ')} in this tenant any more`, roles: gone });

  const membership = await findMembership(trx, { tenantId, userId }, { lock: true });
  if (membership?.kind === 'direct') throw new AppError(InvitationErrors.ALREADY_MEMBER, { detail: 'you are already a member here' });
  const roles = await makeDirectMember(trx, { tenantId, userId, roles: claimed.roles, now }, membership, 'you are already a member here');
  const actor: AuditContext = { ...audit, actorType: 'user', actorId: userId, via: 'direct' };
  await appendAuditEvent(
    trx,
    actor,
    { tenantId, action: 'invitation.accepted', targetType: 'invitation', targetId: claimed.id, before: { status: 'pending' }, after: { status: 'accepted', userId } },
    now,
  );
  await appendAuditEvent(
    trx,
    actor,
    {
      tenantId,
      action: 'member.joined',
      targetType: 'user',
      targetId: userId,
      before: membership === undefined ? null : { kind: membership.kind },
      after: { roles, kind: 'direct', invitationId: claimed.id },
    },
    now,
  );
  return { tenantId, roles };
}

/**
 * The invitation behind `token`, if it can still be accepted; else the problem saying why. Invitations of
 * a tenant that is not active (suspended, being deleted) are not found, like unknown ones.
 */
async function findUsableInvitation(deps: Pick<InvitationDeps, 'db' | 'clock'>, token: string): Promise<InvitationByToken> {
  // A token we never issue needs no lookup.
  if (!token.startsWith(INVITATION_TOKEN_PREFIX)) throw new AppError(InvitationErrors.INVITATION_NOT_FOUND);
  // System context: the token is the only key the invitee holds and it does not say which tenant it
  // belongs to, so this lookup must see every tenant's invitations; it reads one row by its unique hash
  // and only the columns the preview needs.
  const found = await readSystem(deps.db, (trx) => findInvitationByToken(trx, hashSecret(token)));
  if (found === undefined || found.tenantStatus !== 'active') throw new AppError(InvitationErrors.INVITATION_NOT_FOUND);
  const status = effectiveStatus({ status: found.status, expires_at: found.expiresAt }, deps.clock.now());
  if (status !== 'pending') throw statusProblem(status);
  return found;
}

function statusProblem(status: EffectiveStatus | undefined): AppError {
  switch (status) {
    case 'expired':
      return new AppError(InvitationErrors.INVITATION_EXPIRED);
    case 'revoked':
      return new AppError(InvitationErrors.INVITATION_REVOKED);
    case 'accepted':
      return new AppError(InvitationErrors.INVITATION_USED);
    default:
      // Pending yet unclaimable cannot happen; unknown (e.g. replaced by a re-invitation meanwhile) is 404.
      return new AppError(InvitationErrors.INVITATION_NOT_FOUND);
  }
}

function encodeCursor(position: InvitationPosition): string {
  return encodeKeysetCursor({ at: position.createdAt, id: position.id });
}

function decodeCursor(cursor: string): InvitationPosition {
  const { at, id } = decodeKeysetCursor(cursor, HttpErrors.INVALID_CURSOR);
  return { createdAt: at, id: id };
}
