import { type Selectable, sql } from 'kysely';
import type { Tx } from '../platform/db/context.ts';
import { cursorInstant } from '../platform/http/cursor.ts';
import type { InvitationsTable, InvitationStatus, TenantStatus } from '../platform/db/schema.ts';

export type InvitationRow = Selectable<InvitationsTable>;

/** What an invitation looks like from outside: the stored status, with pending rows past their expiry as `expired`. */
export type EffectiveStatus = InvitationStatus | 'expired';

export function effectiveStatus(row: { status: InvitationStatus; expires_at: Date }, now: Date): EffectiveStatus {
  return row.status === 'pending' && row.expires_at.getTime() <= now.getTime() ? 'expired' : row.status;
}

/** What the invitee's preview needs, and nothing more. */
export interface InvitationByToken {
  tenantId: string;
  tenantName: string;
  tenantSlug: string;
  tenantStatus: TenantStatus;
  invitationId: string;
  email: string;
  roles: string[];
  status: InvitationStatus;
  expiresAt: Date;
  inviterName: string | null;
}

/**
 * The invitation whose token hashes to `tokenHash`, in whichever tenant it is. The one tenant-crossing
 * query here: the token is the only key an invitee holds, so the caller runs it in the system context,
 * and it selects only the columns the preview and acceptance need.
 */
export async function findInvitationByToken(trx: Tx, tokenHash: string): Promise<InvitationByToken | undefined> {
  const row = await trx
    .selectFrom('invitations as i')
    .innerJoin('tenants as t', 't.id', 'i.tenant_id')
    .leftJoin('users as u', 'u.id', 'i.invited_by')
    .select([
      'i.tenant_id',
      't.name as tenant_name',
      't.slug as tenant_slug',
      't.status as tenant_status',
      'i.id',
      'i.email',
      'i.roles',
      'i.status',
      'i.expires_at',
      'u.name as inviter_name',
      'u.email as inviter_email',
    ])
    .where('i.token_hash', '=', tokenHash)
    .executeTakeFirst();
  if (row === undefined) return undefined;
  return {
    tenantId: row.tenant_id,
    tenantName: row.tenant_name,
    tenantSlug: row.tenant_slug,
    tenantStatus: row.tenant_status,
    invitationId: row.id,
    email: row.email,
    roles: row.roles,
    status: row.status,
    expiresAt: row.expires_at,
    inviterName: row.inviter_name ?? row.inviter_email,
  };
}

/** The pending invitation of `email` in the tenant (expired or not), locked until the transaction ends. */
export async function findPendingInvitationForUpdate(trx: Tx, key: { tenantId: string; email: string }): Promise<InvitationRow | undefined> {
  return trx
    .selectFrom('invitations')
    .selectAll()
    .where('tenant_id', '=', key.tenantId)
    .where('email', '=', key.email)
    .where('status', '=', 'pending')
    .forUpdate()
    .executeTakeFirst();
}

export interface PendingInvitation {
  tenantId: string;
  /** Used only when no pending invitation of this email exists yet. */
  newId: string;
  email: string;
  roles: readonly string[];
  tokenHash: string;
  invitedBy: string | null;
  expiresAt: Date;
  now: Date;
}

/**
 * Creates the pending invitation of `email`, or — if one is pending already — gives it the new token,
 * roles, inviter and expiry, so the old link stops working. One statement decided by the partial unique
 * index `invitations_one_pending`, so concurrent invitations of one address leave exactly one row.
 * `created` tells which happened (the row keeps its id when renewed).
 */
export async function upsertPendingInvitation(trx: Tx, inv: PendingInvitation): Promise<{ row: InvitationRow; created: boolean }> {
  const row = await trx
    .insertInto('invitations')
    .values({
      tenant_id: inv.tenantId,
      id: inv.newId,
      email: inv.email,
      roles: [...inv.roles],
      token_hash: inv.tokenHash,
      invited_by: inv.invitedBy,
      created_at: inv.now,
      updated_at: inv.now,
      expires_at: inv.expiresAt,
    })
    .onConflict((oc) =>
      oc
        .columns(['tenant_id', 'email'])
        // A literal, not a parameter: PostgreSQL must see that it matches the partial index's predicate.
        .where('status', '=', sql.lit('pending'))
        .doUpdateSet({ roles: [...inv.roles], token_hash: inv.tokenHash, invited_by: inv.invitedBy, updated_at: inv.now, expires_at: inv.expiresAt }),
    )
    .returningAll()
    .executeTakeFirstOrThrow();
  return { row, created: row.id === inv.newId };
}

/**
 * Marks the invitation accepted if it is still pending and unexpired: one conditional UPDATE, so of two
 * concurrent acceptances exactly one gets the row back. Undefined when it was not (any more).
 */
export async function claimInvitation(
  trx: Tx,
  claim: { tenantId: string; invitationId: string; tokenHash: string; userId: string; now: Date },
): Promise<InvitationRow | undefined> {
  return trx
    .updateTable('invitations')
    .set({ status: 'accepted', accepted_at: claim.now, accepted_by: claim.userId, updated_at: claim.now })
    .where('tenant_id', '=', claim.tenantId)
    .where('id', '=', claim.invitationId)
    .where('token_hash', '=', claim.tokenHash)
    .where('status', '=', 'pending')
    .where('expires_at', '>', claim.now)
    .returningAll()
    .executeTakeFirst();
}

/** The invitation `invitationId` of the tenant, locked until the transaction ends. */
export async function findInvitationForUpdate(trx: Tx, key: { tenantId: string; invitationId: string }): Promise<InvitationRow | undefined> {
  return trx.selectFrom('invitations').selectAll().where('tenant_id', '=', key.tenantId).where('id', '=', key.invitationId).forUpdate().executeTakeFirst();
}

/** The current row of the invitation with this token in the tenant (after a lost claim: why it was lost). */
export async function findInvitationByTokenInTenant(trx: Tx, key: { tenantId: string; tokenHash: string }): Promise<InvitationRow | undefined> {
  return trx.selectFrom('invitations').selectAll().where('tenant_id', '=', key.tenantId).where('token_hash', '=', key.tokenHash).executeTakeFirst();
}

export async function markRevoked(trx: Tx, key: { tenantId: string; invitationId: string; now: Date }): Promise<void> {
  await trx
    .updateTable('invitations')
    .set({ status: 'revoked', revoked_at: key.now, updated_at: key.now })
    .where('tenant_id', '=', key.tenantId)
    .where('id', '=', key.invitationId)
    .where('status', '=', 'pending')
    .execute();
}

/** Where the previous page ended: the last row's exact `created_at` (ISO 8601 in UTC, to the microsecond) and id. */
export interface InvitationPosition {
  createdAt: string;
  id: string;
}

export interface InvitationPage {
  invitations: InvitationRow[];
  next: InvitationPosition | null;
}

/** The tenant's invitations, newest first (ties by id), optionally of one effective status. Caller is in the tenant's context. */
export async function listInvitations(
  trx: Tx,
  query: { tenantId: string; status?: EffectiveStatus; now: Date; after?: InvitationPosition; limit: number },
): Promise<InvitationPage> {
  let select = trx.selectFrom('invitations').selectAll().select(cursorInstant('created_at').as('position')).where('tenant_id', '=', query.tenantId);
  if (query.status === 'pending') select = select.where('status', '=', 'pending').where('expires_at', '>', query.now);
  else if (query.status === 'expired') select = select.where('status', '=', 'pending').where('expires_at', '<=', query.now);
  else if (query.status !== undefined) select = select.where('status', '=', query.status);
  if (query.after !== undefined) {
    const { createdAt, id } = query.after;
    select = select.where(sql<boolean>`(created_at, id) < (${createdAt}::timestamptz, ${id})`);
  }
  const rows = await select
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(query.limit + 1)
    .execute();
  const page = rows.slice(0, query.limit);
  const last = page.at(-1);
  return {
    invitations: page.map(({ position: _position, ...row }) => row),
    next: rows.length > query.limit && last !== undefined ? { createdAt: last.position, id: last.id } : null,
  };
}
