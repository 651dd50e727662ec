import { sql } from 'kysely';
import { appendAuditEvent, type AuditContext } from '../audit/audit.repository.ts';
import { type Db, enterTenantContext, invalidateAfterCommit, type Tx } from '../platform/db/context.ts';
import { insertMembership } from '../members/memberships.repository.ts';

/**
 * SPEC 4, admin tenancy: when a tenant is created, every member of the admin tenancy who is operator staff gets
 * a shadow membership in it, with the roles they hold there, so operators can switch in at once without
 * appearing in the tenant's member list. Staff (one definition, `tenantry_staff_roles_of` in migration 0013):
 * a direct member holding one of the preset's staff roles there, or whose default tenant an operator has
 * explicitly made the admin tenancy — never anyone by fallback. Designating another admin tenancy changes who is
 * staff for tenants created afterwards only. The caller's transaction is in the new tenant's context; `skip`
 * are people who already have a (direct) membership there, such as its creator.
 */
export async function grantOperatorShadows(trx: Tx, tenantId: string, skip: readonly string[], audit: AuditContext, now: Date): Promise<string[]> {
  const { rows } = await sql<{ user_id: string; roles: string[]; admin_tenancy_id: string }>`
    SELECT user_id, roles, admin_tenancy_id FROM tenantry_operator_staff()
  `.execute(trx);
  const granted: string[] = [];
  for (const staff of rows) {
    if (skip.includes(staff.user_id)) continue;
    await insertMembership(trx, { tenantId, userId: staff.user_id, kind: 'shadow', roles: staff.roles, shadowOf: staff.admin_tenancy_id, now });
    await appendAuditEvent(trx, audit, { tenantId, action: 'member.added', targetType: 'user', targetId: staff.user_id, after: { roles: staff.roles, kind: 'shadow' } }, now);
    granted.push(staff.user_id);
  }
  return granted;
}

/** Whether `userId` is operator staff now (of the active admin tenancy); any context may ask. */
export async function isOperatorStaff(db: Db | Tx, userId: string): Promise<boolean> {
  const { rows } = await sql<{ user_id: string }>`SELECT user_id FROM tenantry_operator_staff() WHERE user_id = ${userId}`.execute(db);
  return rows.length > 0;
}

export interface ShadowChange {
  userId: string;
  tenantId: string;
  rolesBefore: string[];
  /** null: the shadow membership ended. */
  rolesAfter: string[] | null;
}

/**
 * Shadow access follows the person: re-syncs `userIds`' shadow memberships (those granted by `source`, or all)
 * with what they are now (staff of the admin tenancy that granted them, with which roles) and records each change
 * in the affected tenant's audit chain, as operator access by whoever made the change. The database does the same
 * sync at commit whatever path changed a membership (migration 0013), so this call is what makes the change
 * *audited*: every service that changes someone's membership or roles in a tenant (`source` = that tenant), or
 * their default tenant, calls it before committing. The transaction is left in `returnTo`'s context; the people's
 * cached permissions in this process are dropped at commit (other processes hear the NOTIFY of the shadow rows).
 */
export async function syncShadowAccess(
  trx: Tx,
  change: { userIds: readonly string[]; source?: string; returnTo: string },
  audit: AuditContext,
  now: Date,
): Promise<ShadowChange[]> {
  const changes: ShadowChange[] = [];
  for (const userId of [...new Set(change.userIds)].sort()) {
    const { rows } = await sql<{ shadow_tenant_id: string; roles_before: string[]; roles_after: string[] | null }>`
      SELECT shadow_tenant_id, roles_before, roles_after FROM tenantry_sync_shadow_access(${userId}, ${change.source ?? null})
    `.execute(trx);
    for (const row of rows) changes.push({ userId, tenantId: row.shadow_tenant_id, rolesBefore: row.roles_before, rolesAfter: row.roles_after });
  }
  if (changes.length === 0) return changes;
  // In the affected tenant, this was operator access (or the platform's), whatever it was where it was done.
  const actor: AuditContext = { ...audit, via: audit.via === 'platform_admin' ? 'platform_admin' : 'shadow' };
  for (const { userId, tenantId, rolesBefore, rolesAfter } of changes) {
    await enterTenantContext(trx, tenantId);
    const before = { roles: rolesBefore, kind: 'shadow' };
    await appendAuditEvent(
      trx,
      actor,
      rolesAfter === null
        ? { tenantId, action: 'member.removed', targetType: 'user', targetId: userId, before, after: null }
        : { tenantId, action: 'member.roles_changed', targetType: 'user', targetId: userId, before, after: { roles: rolesAfter, kind: 'shadow' } },
      now,
    );
  }
  await enterTenantContext(trx, change.returnTo);
  for (const userId of new Set(changes.map((c) => c.userId))) invalidateAfterCommit(trx, `user:${userId}`);
  return changes;
}
