import type { Access } from '../permissions/access.ts';
import { type Db, withUser } from '../platform/db/context.ts';
import type { Preset } from '../presets/presets.ts';
import { listSubtrees } from './approvals.repository.ts';
import { listMembershipTenantsOf } from '../members/memberships.repository.ts';

/**
 * Who may decide a tenant's approval requests (SPEC 4, seed 004): a holder of `approvals.decide` in the tenant
 * or an ancestor, or a platform super admin — never the initiator, never the person the action is about (those
 * two are per request, in approvals.service.ts). The preset says whether holding it in the request's own tenant
 * is enough (`same_tenant_or_above`) or whether it must come from above (`above`: company-tree, "decided only
 * from above"): from an ancestor, operator (shadow) access or the platform.
 */
export const DECIDE = 'approvals.decide';

export type DeciderPolicy = 'above' | 'same_tenant_or_above';

/**
 * The preset's `policies.approvalDeciders`. Read defensively (the preset schema does not declare it yet): absent
 * means SPEC 4's general rule, `same_tenant_or_above`; any value other than that one means `above`, so a typo
 * narrows who may decide rather than widening it.
 */
export function approvalDeciders(preset: Preset): DeciderPolicy {
  const value = (preset.policies as { approvalDeciders?: unknown }).approvalDeciders;
  return value === undefined || value === 'same_tenant_or_above' ? 'same_tenant_or_above' : 'above';
}

/** A person's access to a tenant, resolved (and cached) by AccessResolver. */
export type AccessTo = (tenantId: string) => Promise<Access>;

/**
 * Where someone stands towards a tenant's requests: `decider`; `peer` (holds `approvals.decide` in the tenant
 * itself only, which the `above` policy does not accept — they may still see the requests); `none`.
 */
export type Standing = 'decider' | 'peer' | 'none';

export async function standingIn(policy: DeciderPolicy, accessTo: AccessTo, tenantId: string): Promise<Standing> {
  const here = await accessTo(tenantId);
  if (!here.visible) return 'none';
  for (const id of here.path) {
    if (id !== tenantId && (await accessTo(id)).permissions.has(DECIDE)) return 'decider';
  }
  if (!here.permissions.has(DECIDE)) return 'none';
  // Operator (shadow) access and the platform count as above (`fromAbove`), as they do for lifting a suspension.
  return policy === 'same_tenant_or_above' || here.fromAbove.has(DECIDE) ? 'decider' : 'peer';
}

export interface Decider {
  userId: string;
  isSuperAdmin: boolean;
  accessTo: AccessTo;
}

/**
 * Every tenant whose requests `decider` may decide (the inbox, `GET /approval-requests`), or 'all' for a
 * platform super admin. Authority to decide starts at a membership (direct or shadow), so the candidates are
 * the subtrees of the person's memberships; below a membership tenant M where they hold `approvals.decide`
 * together with a role that reaches below (so every tenant there is visible to them), every tenant qualifies
 * at once. Anything else is checked one by one with `standingIn`, so the scope is exactly where the decide
 * endpoints would accept the person.
 */
export async function decisionScope(db: Db, policy: DeciderPolicy, decider: Decider): Promise<readonly string[] | 'all'> {
  if (decider.isSuperAdmin) return 'all';
  const memberships = await withUser(db, decider.userId, (trx) => listMembershipTenantsOf(trx, decider.userId));
  const roots: string[] = [];
  const wholeBelow = new Set<string>();
  for (const tenantId of memberships) {
    const access = await decider.accessTo(tenantId);
    if (!access.permissions.has(DECIDE) && !access.reachBelow.has(DECIDE)) continue;
    roots.push(tenantId);
    if (access.permissions.has(DECIDE) && access.reachBelow.size > 0) wholeBelow.add(tenantId);
  }
  // The tree (ids and paths) is readable in every context, no transaction needed.
  const candidates = await listSubtrees(db, roots);
  const scope: string[] = [];
  for (const { tenantId, path } of candidates) {
    const coveredFromAbove = path.some((id) => id !== tenantId && wholeBelow.has(id));
    if (coveredFromAbove || (await standingIn(policy, decider.accessTo, tenantId)) === 'decider') scope.push(tenantId);
  }
  return scope;
}

/**
 * The tenants below `tenantId` whose requests the caller sees in that tenant's listing (they are a decider or
 * a peer there): every one of them they can see, since a decide grant at or above `tenantId` is above each of
 * them. With a role that reaches below, they see them all; otherwise each is checked.
 */
export async function visibleBelow(db: Db, accessTo: AccessTo, tenantId: string): Promise<string[]> {
  const reaches = (await accessTo(tenantId)).reachBelow.size > 0;
  const below = (await listSubtrees(db, [tenantId])).filter((t) => t.tenantId !== tenantId);
  const visible: string[] = [];
  for (const { tenantId: id } of below) if (reaches || (await accessTo(id)).visible) visible.push(id);
  return visible;
}
