import { enqueueMail } from '../mail/outbox.ts';
import { approvalLink as portalApprovalLink } from '../platform/links.ts';
import { approvalDecidedEmail, approvalRequestedEmail } from '../mail/templates.ts';
import type { Clock } from '../platform/clock.ts';
import type { Tx } from '../platform/db/context.ts';
import type { ApprovalAction } from '../platform/db/schema.ts';
import type { Preset } from '../presets/presets.ts';
import { RoleBook } from '../roles/role-book.ts';
import { ACTIONS_WITH_TARGET, type ApprovalRow, findTenantName, listPeople, listSuperAdminIds } from './approvals.repository.ts';
import { approvalDeciders, DECIDE } from './deciders.ts';
import { findTenantPath } from '../tenants/tenants.repository.ts';
import { listDirectMembersIn } from '../members/memberships.repository.ts';
import type { Config } from '../platform/config.ts';

/**
 * The mail approvals send (SPEC 4: deciders are notified, the initiator hears the decision), always queued in
 * the outbox inside the transaction that records the request or the decision, so the mail exists exactly when
 * the change does.
 */
export interface NotifyDeps {
  clock: Clock;
  preset: Preset;
  config?: Pick<Config, 'publicUrl'>;
}

interface Person {
  email: string;
  name: string | null;
}

/** What the mails need to name: the tenant and the people involved, read before the decision's transactions. */
export interface MailNames {
  tenantName: string;
  people: ReadonlyMap<string, Person>;
}

/** The person an action is about (never its decider), if the action has one. */
export function targetOf(request: { action: ApprovalAction; params: unknown }): string | null {
  const userId = (request.params as Record<string, unknown> | null)?.userId;
  return ACTIONS_WITH_TARGET.includes(request.action) && typeof userId === 'string' ? userId : null;
}

/** Where the portal shows the request (the inbox's page for it). */
export function approvalLink(publicUrl: string | undefined, request: Pick<ApprovalRow, 'tenant_id' | 'id'>): string {
  return portalApprovalLink(publicUrl ?? '', request.tenant_id, request.id);
}

/** Reads the tenant's name and the named people; the caller is in the request's tenant context. */
export async function loadMailNames(trx: Tx, request: ApprovalRow, alsoPeople: readonly string[] = []): Promise<MailNames> {
  const ids = new Set([request.requested_by, ...alsoPeople]);
  const target = targetOf(request);
  if (target !== null) ids.add(target);
  const people = await listPeople(trx, [...ids]);
  return {
    tenantName: (await findTenantName(trx, request.tenant_id)) ?? request.tenant_id,
    people: new Map(people.map((p) => [p.id, { email: p.email, name: p.name }])),
  };
}

/**
 * Mails everyone who should decide `request`: the direct holders of `approvals.decide` in its tenant (unless the
 * preset wants deciders from above only) and in its ancestors through a role that reaches it
 * (`tenant_and_descendants`), never the initiator nor the person the action is about. When that leaves nobody
 * (a root tenant under the `above` policy), the platform super admins are asked. The caller is in the request's
 * tenant context, inside the transaction that records it; the ancestors' memberships are read in their own
 * contexts, one at a time, and the transaction is back in the tenant's context afterwards.
 */
export async function mailDeciders(trx: Tx, deps: NotifyDeps, request: ApprovalRow): Promise<void> {
  const tenantId = request.tenant_id;
  const path = await findTenantPath(trx, tenantId);
  const roles = await RoleBook.load(trx, deps.preset, path);
  const fromTenantItself = approvalDeciders(deps.preset) === 'same_tenant_or_above';
  const visit = fromTenantItself ? path : path.filter((id) => id !== tenantId);
  const excluded = new Set([request.requested_by, targetOf(request)]);
  const recipients = new Set<string>();
  for (const member of await listDirectMembersIn(trx, visit, tenantId)) {
    if (excluded.has(member.userId)) continue;
    const decides = member.roles.some((key) => {
      const role = roles.resolve(key, member.tenantId);
      return role?.permissions.has(DECIDE) === true && (member.tenantId === tenantId || role.scope === 'tenant_and_descendants');
    });
    if (decides) recipients.add(member.userId);
  }
  if (recipients.size === 0) for (const id of await listSuperAdminIds(trx)) if (!excluded.has(id)) recipients.add(id);
  if (recipients.size === 0) return;

  const names = await loadMailNames(trx, request, [...recipients]);
  const initiatorName = displayName(names.people.get(request.requested_by), request.requested_by);
  const what = describeAction(request, names);
  for (const id of recipients) {
    const person = names.people.get(id);
    if (person === undefined) continue;
    await enqueueMail(trx, deps.clock, {
      to: person.email,
      ...approvalRequestedEmail({
        ...(person.name ? { name: person.name } : {}),
        initiatorName,
        tenantName: names.tenantName,
        what,
        expiresAt: request.expires_at,
        link: approvalLink(deps.config?.publicUrl, request),
      }),
    });
  }
}

/** Mails the initiator that `request` (just closed as executed, failed or declined) was decided by `deciderId`. */
export async function mailInitiator(trx: Tx, deps: NotifyDeps, request: ApprovalRow, names: MailNames, deciderId: string): Promise<void> {
  if (request.status !== 'executed' && request.status !== 'failed' && request.status !== 'declined') return;
  const initiator = names.people.get(request.requested_by);
  if (initiator === undefined) return;
  const failure = (request.outcome as { detail?: unknown } | null)?.detail;
  await enqueueMail(trx, deps.clock, {
    to: initiator.email,
    ...approvalDecidedEmail({
      ...(initiator.name ? { name: initiator.name } : {}),
      what: describeAction(request, names),
      tenantName: names.tenantName,
      outcome: request.status,
      deciderName: displayName(names.people.get(deciderId), 'A decider'),
      note: request.note,
      ...(typeof failure === 'string' ? { failure } : {}),
      link: approvalLink(deps.config?.publicUrl, request),
    }),
  });
}

/** The action in words, completing "asks to …". */
export function describeAction(request: Pick<ApprovalRow, 'action' | 'params'>, names: MailNames): string {
  const params = request.params as Record<string, unknown>;
  const tenant = names.tenantName;
  const target = targetOf(request);
  const who = target === null ? 'a member' : displayName(names.people.get(target), target);
  switch (request.action) {
    case 'tenant.delete':
      return `delete ${tenant}${params.includeDescendants === true ? ' and every tenant below it' : ''}`;
    case 'tenant.transfer_ownership':
      return `transfer the ownership of ${tenant} to ${who}`;
    case 'tenant.change_plan':
      return `change the plan of ${tenant} to ${String(params.plan)}`;
    case 'member.remove_admin':
      return Array.isArray(params.roles)
        ? `change the roles of ${who} in ${tenant} to ${params.roles.map(String).join(', ')}, so that they no longer administer it`
        : `remove ${who}, an administrator, from ${tenant}`;
    case 'role.update':
      return `change the role ${String(params.key)} in ${tenant} so that its holders no longer manage members`;
  }
}

function displayName(person: Person | undefined, fallback: string): string {
  return person?.name?.trim() || person?.email || fallback;
}
