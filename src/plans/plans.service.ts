import { appendAuditEvent, type AuditContext } from '../audit/audit.repository.ts';
import type { Authorized } from '../permissions/authorize.ts';
import type { Clock } from '../platform/clock.ts';
import { type Db, readSystem, readTenant, type Tx, withTenant } from '../platform/db/context.ts';
import { AppError } from '../platform/http/errors.ts';
import type { Preset } from '../presets/presets.ts';
import { PlanErrors } from './plans.errors.ts';
import { listDuePlanChanges, type PlanUsage, readPlanState, type TenantPlanState, updateTenantPlan } from './plans.repository.ts';

export interface PlanDeps {
  db: Db;
  clock: Clock;
  preset: Preset;
}

export type PlanDefinition = Preset['plans'][number];
export type LimitedResource = keyof PlanDefinition['limits'];

/** A tenant's plan and usage, as a limit check needs them. */
export interface PlanCheck {
  tenantId: string;
  plan: PlanDefinition | null;
  usage: PlanUsage;
}

/**
 * Locks the tenant's plan usage for this transaction and returns it (see readPlanState). Every path that
 * adds a member seat, a child tenant or an API key calls this first and `assertRoom` before inserting, so
 * concurrent requests cannot together overshoot a limit.
 */
export async function lockPlan(trx: Tx, deps: Pick<PlanDeps, 'preset' | 'clock'>, tenantId: string): Promise<PlanCheck> {
  const now = deps.clock.now();
  const state = await readPlanState(trx, tenantId, now, { lock: true });
  if (state === undefined) throw new Error(`tenant ${tenantId} vanished while checking its plan`);
  return { tenantId, plan: planInForce(deps.preset, state, now), usage: state.usage };
}

const RESOURCE_WORDS: Record<LimitedResource, string> = {
  members: 'members (pending invitations included)',
  childTenants: 'child tenants',
  apiKeys: 'API keys',
};

/** `409 plan_limit_reached` unless `adding` more of `resource` stays within the plan (no plan: no limit). */
export function assertRoom(check: PlanCheck, resource: LimitedResource, adding = 1): void {
  const limit = check.plan?.limits[resource] ?? null;
  if (limit === null || adding <= 0) return;
  const used = usedOf(check.usage, resource);
  if (used + adding > limit) {
    throw new AppError(PlanErrors.PLAN_LIMIT_REACHED, {
      detail: `the ${check.plan?.name} plan allows ${limit} ${RESOURCE_WORDS[resource]}; ${used} in use`,
      tenantId: check.tenantId,
      plan: check.plan?.key,
      resource,
      limit,
      used,
    });
  }
}

function usedOf(usage: PlanUsage, resource: LimitedResource): number {
  return resource === 'members' ? usage.members + usage.pendingInvitations : usage[resource];
}

export interface PlanView {
  plan: PlanDefinition | null;
  scheduledChange: { plan: PlanDefinition; at: Date } | null;
  /** When the current billing period ends: monthly from the tenant's creation. */
  periodEndsAt: Date;
  usage: PlanUsage;
  /** Limits the tenant is over (after a downgrade): nothing is taken away, but no more can be added. */
  overLimit: LimitedResource[];
  plans: PlanDefinition[];
}

export async function getPlan(deps: PlanDeps, tenantId: string): Promise<PlanView> {
  const now = deps.clock.now();
  const state = await readTenant(deps.db, tenantId, (trx) => readPlanState(trx, tenantId, now, { lock: false }));
  if (state === undefined) throw new Error(`tenant ${tenantId} vanished while reading its plan`);
  return present(deps.preset, state, now);
}

/**
 * SPEC 4 and seed 002: an upgrade applies now; a downgrade is scheduled for the end of the billing period
 * (what the tenant paid for stays until then); asking for the plan in force cancels a scheduled change.
 * A downgrade never removes anything: a tenant over a lower limit keeps what it has and cannot add more.
 */
export async function changePlan(deps: PlanDeps, caller: Pick<Authorized, 'audit'>, tenantId: string, planKey: string): Promise<PlanView> {
  const target = assertKnownPlan(deps.preset, planKey);
  const now = deps.clock.now();
  return withTenant(deps.db, tenantId, async (trx) => {
    const state = await applyIfDue(trx, deps.preset, tenantId, now);
    const current = planInForce(deps.preset, state, now);
    const rank = (plan: PlanDefinition | null) => (plan === null ? -1 : deps.preset.plans.indexOf(plan));
    let next: TenantPlanState;
    if (current?.key === target.key) {
      if (state.scheduled === null) return present(deps.preset, state, now);
      next = { ...state, scheduled: null };
      await updateTenantPlan(trx, tenantId, { plan: target.key, scheduled: null, now });
      await audit(trx, caller.audit, tenantId, 'plan.change_cancelled', { plan: state.scheduled.plan, at: state.scheduled.at.toISOString() }, { plan: target.key }, now);
    } else if (rank(target) > rank(current)) {
      next = { ...state, plan: target.key, scheduled: null };
      await updateTenantPlan(trx, tenantId, { plan: target.key, scheduled: null, now });
      await audit(trx, caller.audit, tenantId, 'plan.changed', { plan: current?.key ?? null }, { plan: target.key }, now);
    } else {
      const scheduled = { plan: target.key, at: periodEnd(state.createdAt, now) };
      next = { ...state, scheduled };
      await updateTenantPlan(trx, tenantId, { plan: current?.key ?? target.key, scheduled, now });
      await audit(trx, caller.audit, tenantId, 'plan.change_scheduled', { plan: current?.key ?? null }, { plan: target.key, at: scheduled.at.toISOString() }, now);
    }
    return present(deps.preset, next, now);
  });
}

/** The plan called `planKey`, or `422 unknown_plan` listing the plans there are. */
export function assertKnownPlan(preset: Preset, planKey: string): PlanDefinition {
  const plan = preset.plans.find((p) => p.key === planKey);
  if (plan !== undefined) return plan;
  const known = preset.plans.map((p) => p.key);
  throw new AppError(PlanErrors.UNKNOWN_PLAN, { detail: known.length === 0 ? `the ${preset.name} preset has no plans` : `plans here: ${known.join(', ')}`, plans: known });
}

const SYSTEM: AuditContext = { actorType: 'system', actorId: null, requestId: null, ip: null };

/** Applies scheduled plan changes that have come due (the server runs this every minute). */
export async function applyDuePlanChanges(deps: PlanDeps): Promise<string[]> {
  const now = deps.clock.now();
  // Which tenants are due is a question across tenants; each change is then made in its own tenant's context.
  const due = await readSystem(deps.db, (trx) => listDuePlanChanges(trx, now, 500));
  for (const tenantId of due) {
    await withTenant(deps.db, tenantId, (trx) => applyIfDue(trx, deps.preset, tenantId, now));
  }
  return due;
}

/** Locks the tenant's plan and, if its scheduled change is due, makes it the plan in force (audited). */
async function applyIfDue(trx: Tx, preset: Preset, tenantId: string, now: Date): Promise<TenantPlanState> {
  const state = await readPlanState(trx, tenantId, now, { lock: true });
  if (state === undefined) throw new Error(`tenant ${tenantId} vanished while changing its plan`);
  if (state.scheduled === null || state.scheduled.at.getTime() > now.getTime()) return state;
  const applied = { ...state, plan: state.scheduled.plan, scheduled: null };
  await updateTenantPlan(trx, tenantId, { plan: state.scheduled.plan, scheduled: null, now });
  // The change was decided when it was scheduled; applying it is the system's doing.
  await audit(trx, SYSTEM, tenantId, 'plan.changed', { plan: planInForce(preset, { ...state, scheduled: null }, now)?.key ?? null }, { plan: state.scheduled.plan }, now);
  return applied;
}

async function audit(trx: Tx, actor: AuditContext, tenantId: string, action: string, before: Record<string, unknown>, after: Record<string, unknown>, now: Date): Promise<void> {
  await appendAuditEvent(trx, actor, { tenantId, action, targetType: 'tenant', targetId: tenantId, before, after }, now);
}

/**
 * The plan in force at `now`: a due scheduled change counts even before the job has written it, and a
 * tenant without a known plan is on the preset's default. Null only when the preset has no plans.
 */
function planInForce(preset: Preset, state: Pick<TenantPlanState, 'plan' | 'scheduled'>, now: Date): PlanDefinition | null {
  const key = state.scheduled !== null && state.scheduled.at.getTime() <= now.getTime() ? state.scheduled.plan : state.plan;
  return preset.plans.find((plan) => plan.key === key) ?? preset.plans.find((plan) => plan.key === preset.defaultPlan) ?? null;
}

function present(preset: Preset, state: TenantPlanState, now: Date): PlanView {
  const plan = planInForce(preset, state, now);
  const pending = state.scheduled !== null && state.scheduled.at.getTime() > now.getTime() ? state.scheduled : null;
  const scheduledPlan = pending === null ? undefined : preset.plans.find((p) => p.key === pending.plan);
  const resources = Object.keys(RESOURCE_WORDS) as LimitedResource[];
  return {
    plan,
    scheduledChange: pending === null || scheduledPlan === undefined ? null : { plan: scheduledPlan, at: pending.at },
    periodEndsAt: periodEnd(state.createdAt, now),
    usage: state.usage,
    overLimit: resources.filter((r) => {
      const limit = plan?.limits[r] ?? null;
      return limit !== null && usedOf(state.usage, r) > limit;
    }),
    plans: [...preset.plans],
  };
}

/** The end of the monthly billing period containing `now`, anchored at `anchor` (clamped to short months). */
export function periodEnd(anchor: Date, now: Date): Date {
  let months = Math.max(1, (now.getUTCFullYear() - anchor.getUTCFullYear()) * 12 + (now.getUTCMonth() - anchor.getUTCMonth()));
  let end = addMonths(anchor, months);
  while (end.getTime() <= now.getTime()) end = addMonths(anchor, ++months);
  return end;
}

function addMonths(anchor: Date, months: number): Date {
  const result = new Date(anchor.getTime());
  result.setUTCDate(1);
  result.setUTCMonth(result.getUTCMonth() + months);
  const lastDay = new Date(Date.UTC(result.getUTCFullYear(), result.getUTCMonth() + 1, 0)).getUTCDate();
  result.setUTCDate(Math.min(anchor.getUTCDate(), lastDay));
  return result;
}
