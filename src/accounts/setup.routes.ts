import { Type } from 'typebox';
import { Email, Password, presentUser, TokenFields, UseCookies, UserSchema } from '../auth/auth.schemas.ts';
import { login } from '../auth/login.service.ts';
import { auditContextOf } from '../auth/principal.ts';
import type { FastifyTypebox } from '../platform/http/types.ts';
import { createOperator } from './operator.service.ts';
import { Problems } from '../platform/http/schemas.ts';
import { clientOf, credentialRateLimit, deliverTokens } from '../auth/auth.http.ts';

/** First-run setup: the link printed at start-up creates the platform operator and signs them in. */
export async function setupRoutes(app: FastifyTypebox): Promise<void> {
  const deps = app.services;
  app.post(
    '/setup',
    {
      config: { ...credentialRateLimit(app), startsSession: true },
      schema: {
        tags: ['auth'],
        summary: 'Create the platform operator with the one-time setup link printed at first start',
        body: Type.Object(
          {
            token: Type.String({ minLength: 10, maxLength: 200 }),
            email: Email,
            password: Password,
            name: Type.Optional(Type.String({ maxLength: 200 })),
            useCookies: UseCookies,
          },
          { additionalProperties: false },
        ),
        response: { 201: Type.Object({ user: UserSchema, ...TokenFields }), ...Problems },
      },
    },
    async (request, reply) => {
      const { token, useCookies, ...input } = request.body;
      const audit = auditContextOf(request);
      await createOperator(
        {
          db: deps.db,
          clock: deps.clock,
          ownerRole: app.services.preset.ownerRole,
          ...(app.services.passwordHashing === undefined ? {} : { passwordHashing: app.services.passwordHashing }),
        },
        input,
        audit,
        token,
      );
      const tokens = await login(deps, { email: input.email, password: input.password }, clientOf(request), audit);
      reply.code(201);
      return { user: presentUser(tokens.user), ...deliverTokens(app, reply, tokens, useCookies === true) };
    },
  );
}
