import { sql } from 'kysely';
import { appendAuditEvent, type AuditContext } from '../audit/audit.repository.ts';
import type { Tx } from '../platform/db/context.ts';
import { insertMembership } from './memberships.repository.ts';

/**
 * SPEC 4, admin tenancy: when a tenant is created, every person whose primary tenant is the admin
 * tenancy gets a shadow membership in it, with the roles they hold there, so operators can switch in at
 * once without appearing in the tenant's member list. Designating another admin tenancy changes who is
 * staff for tenants created afterwards only. The caller's transaction is in the new tenant's context;
 * `skip` are people who already have a (direct) membership there, such as its creator.
 */
export async function grantOperatorShadows(trx: Tx, tenantId: string, skip: readonly string[], audit: AuditContext, now: Date): Promise<string[]> {
  const { rows } = await sql<{ user_id: string; roles: string[] }>`SELECT user_id, roles FROM tenantry_operator_staff()`.execute(trx);
  const granted: string[] = [];
  for (const staff of rows) {
    if (skip.includes(staff.user_id)) continue;
    await insertMembership(trx, { tenantId, userId: staff.user_id, kind: 'shadow', roles: staff.roles, now });
    await appendAuditEvent(trx, audit, { tenantId, action: 'member.added', targetType: 'user', targetId: staff.user_id, after: { roles: staff.roles, kind: 'shadow' } }, now);
    granted.push(staff.user_id);
  }
  return granted;
}
