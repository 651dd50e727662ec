import { sql } from 'kysely';
import type { Tx } from '../platform/db/context.ts';

/** What a plan's limits count, as of a moment. */
export interface PlanUsage {
  /** Direct members (shadow memberships never count). */
  members: number;
  /** Pending invitations that have not expired: they count toward the member limit. */
  pendingInvitations: number;
  /** Child tenants that are not deleted (pending deletion still counts). */
  childTenants: number;
  /** API keys neither revoked nor expired. */
  apiKeys: number;
}

export interface TenantPlanState {
  plan: string | null;
  scheduled: { plan: string; at: Date } | null;
  createdAt: Date;
  usage: PlanUsage;
}

type UsageRow = {
  plan: string | null;
  scheduled_plan: string | null;
  scheduled_plan_at: Date | string | null;
  created_at: Date | string;
  members: string;
  pending_invitations: string;
  child_tenants: string;
  api_keys: string;
};

/**
 * The tenant's plan state and usage as of `at`, whatever context the transaction is in (a parent's
 * limits are checked from the new child's context). With `lock`, the tenant row is locked first
 * (FOR NO KEY UPDATE: inserts referencing the tenant go on, a second check waits), so call it before
 * inserting anything: a transaction must not hold a weaker lock on the row and then ask for this one.
 */
export async function readPlanState(trx: Tx, tenantId: string, at: Date, options: { lock: boolean }): Promise<TenantPlanState | undefined> {
  const { rows } = await sql<UsageRow>`SELECT * FROM tenantry_plan_usage(${tenantId}, ${at}, ${options.lock})`.execute(trx);
  const row = rows[0];
  if (row === undefined) return undefined;
  return {
    plan: row.plan,
    scheduled: row.scheduled_plan === null || row.scheduled_plan_at === null ? null : { plan: row.scheduled_plan, at: new Date(row.scheduled_plan_at) },
    createdAt: new Date(row.created_at),
    usage: {
      members: Number(row.members),
      pendingInvitations: Number(row.pending_invitations),
      childTenants: Number(row.child_tenants),
      apiKeys: Number(row.api_keys),
    },
  };
}

/** Sets the plan in force and the scheduled change (null clears it). The caller is in the tenant's context. */
export async function updateTenantPlan(trx: Tx, tenantId: string, change: { plan: string; scheduled: { plan: string; at: Date } | null; now: Date }): Promise<void> {
  await trx
    .updateTable('tenants')
    .set({ plan: change.plan, scheduled_plan: change.scheduled?.plan ?? null, scheduled_plan_at: change.scheduled?.at ?? null, updated_at: change.now })
    .where('id', '=', tenantId)
    .execute();
}

/** Tenants whose scheduled plan change is due, oldest first. The caller is in the system context. */
export async function listDuePlanChanges(trx: Tx, now: Date, limit: number): Promise<string[]> {
  const rows = await trx
    .selectFrom('tenants')
    .select('id')
    .where('scheduled_plan', 'is not', null)
    .where('scheduled_plan_at', '<=', now)
    .where('status', '<>', 'deleted')
    .orderBy('scheduled_plan_at')
    .limit(limit)
    .execute();
  return rows.map((row) => row.id);
}
