import { Type } from 'typebox';
import { requirePrincipal } from '../auth/principal.ts';
import { findUserById } from '../accounts/users.repository.ts';
import { explain } from '../permissions/access.ts';
import { accessOf } from '../permissions/authorize.ts';
import type { FastifyTypebox } from '../platform/http/types.ts';
import { Problems, TenantId } from '../platform/http/schemas.ts';
import { idPattern } from '../platform/ids.ts';

const Check = Type.Object(
  {
    subject: Type.Optional(Type.String({ pattern: idPattern('user'), description: 'A user id; omitted = the caller (a person or an API key)' })),
    tenantId: TenantId,
    permission: Type.String({ minLength: 1, maxLength: 200 }),
  },
  { additionalProperties: false },
);
const Result = Type.Object({
  subject: Type.String(),
  tenantId: Type.String(),
  permission: Type.String(),
  allowed: Type.Boolean(),
  reason: Type.String({ description: 'Which role in which tenant granted it, or why not' }),
});

export const MAX_BATCH = 100;

/**
 * "May this subject do P in tenant T?" for other services (SPEC 4, check API). Answers, never 404s:
 * a tenant the subject cannot reach is simply "not allowed", with the reason. Asking about someone
 * else needs `members.read` in that tenant (or platform super_admin), so the API cannot be used to map
 * other tenants' members. An API key may ask too: without `subject` it asks about itself.
 */
export async function checkRoutes(app: FastifyTypebox): Promise<void> {
  app.post(
    '/check',
    {
      schema: {
        tags: ['permissions'],
        summary: 'Check permissions: one {subject?, tenantId, permission} or a batch {checks: [...]} of up to 100',
        body: Type.Union([Check, Type.Object({ checks: Type.Array(Check, { minItems: 1, maxItems: MAX_BATCH }) }, { additionalProperties: false })]),
        response: {
          200: Type.Union([Type.Object({ allowed: Type.Boolean(), reason: Type.String() }), Type.Object({ results: Type.Array(Result) })]),
          ...Problems,
        },
      },
    },
    async (request) => {
      const caller = requirePrincipal(request);
      const callerId = caller.kind === 'user' ? caller.userId : caller.keyId;
      const users = new Map<string, { userId: string; isSuperAdmin: boolean } | null>();

      const answer = async (check: { subject?: string; tenantId: string; permission: string }) => {
        const subjectId = check.subject ?? callerId;
        const base = { subject: subjectId, tenantId: check.tenantId, permission: check.permission };
        if (subjectId === callerId) return { ...base, ...explain(app.access.preset, await accessOf(app, caller, check.tenantId), check.permission) };
        const mine = await accessOf(app, caller, check.tenantId);
        if (!mine.permissions.has('members.read')) {
          return { ...base, allowed: false, reason: 'checking another subject here needs members.read in this tenant' };
        }
        if (!users.has(subjectId)) {
          const user = await findUserById(app.deps.database.db, subjectId);
          users.set(subjectId, user === undefined ? null : { userId: user.id, isSuperAdmin: user.platform_role === 'super_admin' });
        }
        const subject = users.get(subjectId);
        if (subject == null) return { ...base, allowed: false, reason: 'no such subject' };
        const access = await app.access.forUser(subject, check.tenantId);
        return { ...base, ...explain(app.access.preset, access, check.permission) };
      };

      const body = request.body;
      if ('checks' in body) {
        const results = [];
        // Sequential on purpose: on the embedded engine queries run one at a time anyway, and the
        // cache makes repeated (subject, tenant) pairs in one batch free after the first.
        for (const check of body.checks) results.push(await answer(check));
        return { results };
      }
      const { allowed, reason } = await answer(body);
      return { allowed, reason };
    },
  );
}
