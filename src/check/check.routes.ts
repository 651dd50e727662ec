import { Type } from 'typebox';
import { requirePrincipal } from '../auth/principal.ts';
import type { FastifyTypebox } from '../platform/http/types.ts';
import { Problems, TenantId } from '../platform/http/schemas.ts';
import { idPattern } from '../platform/ids.ts';
import { answerChecks, type CheckDeps } from './check.service.ts';

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

/** SPEC 4, check API: the HTTP side of `answerChecks` (check.service.ts), one question or a batch. */
export async function checkRoutes(app: FastifyTypebox): Promise<void> {
  const deps: CheckDeps = app.services;
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
      const body = request.body;
      const answers = await answerChecks(deps, requirePrincipal(request), 'checks' in body ? body.checks : [body]);
      if ('checks' in body) return { results: answers };
      const only = answers[0];
      if (only === undefined) throw new Error('answerChecks answered no question');
      return { allowed: only.allowed, reason: only.reason };
    },
  );
}
