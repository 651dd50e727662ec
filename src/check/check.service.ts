import { findUserById } from '../accounts/users.repository.ts';
import type { Principal } from '../auth/principal.ts';
import { explain } from '../permissions/access.ts';
import type { AccessResolver, Subject } from '../permissions/access-resolver.ts';
import { principalAccess } from '../permissions/authorize.ts';
import type { Db } from '../platform/db/context.ts';
import type { Preset } from '../presets/presets.ts';

export interface CheckDeps {
  db: Db;
  access: Pick<AccessResolver, 'forUser' | 'forKey'>;
  preset: Preset;
}

export interface CheckQuestion {
  /** A user id; omitted: the caller (a person or an API key). */
  subject?: string;
  tenantId: string;
  permission: string;
}

export interface CheckAnswer {
  subject: string;
  tenantId: string;
  permission: string;
  allowed: boolean;
  reason: string;
}

/**
 * "May this subject do P in tenant T?" for other services (SPEC 4, check API), each question in order. Answers, never
 * 404s: a tenant the subject cannot reach is simply "not allowed", with the reason. Asking about someone else needs
 * `members.read` in that tenant (or platform super_admin), so the API cannot be used to map other tenants' members.
 * Sequential on purpose: on the embedded engine queries run one at a time anyway, and the resolver's cache makes
 * repeated (subject, tenant) pairs in one batch free after the first; looked-up subjects are shared too.
 */
export async function answerChecks(deps: CheckDeps, caller: Principal, questions: readonly CheckQuestion[]): Promise<CheckAnswer[]> {
  const callerId = caller.kind === 'user' ? caller.userId : caller.keyId;
  const subjects = new Map<string, Subject | null>();
  const answers: CheckAnswer[] = [];
  for (const question of questions) {
    const subjectId = question.subject ?? callerId;
    const base = { subject: subjectId, tenantId: question.tenantId, permission: question.permission };
    if (subjectId === callerId) {
      answers.push({ ...base, ...explain(deps.preset, await principalAccess(deps.access, caller, question.tenantId), question.permission) });
      continue;
    }
    if (!(await principalAccess(deps.access, caller, question.tenantId)).permissions.has('members.read')) {
      answers.push({ ...base, allowed: false, reason: 'checking another subject here needs members.read in this tenant' });
      continue;
    }
    if (!subjects.has(subjectId)) {
      const user = await findUserById(deps.db, subjectId);
      subjects.set(subjectId, user === undefined ? null : { userId: user.id, isSuperAdmin: user.platform_role === 'super_admin' });
    }
    const subject = subjects.get(subjectId);
    if (subject == null) {
      answers.push({ ...base, allowed: false, reason: 'no such subject' });
      continue;
    }
    answers.push({ ...base, ...explain(deps.preset, await deps.access.forUser(subject, question.tenantId), question.permission) });
  }
  return answers;
}
