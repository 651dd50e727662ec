import { Type } from 'typebox';
import { Email, Password, presentTenantChoices, presentUser, TenantChoiceSchema, TokenFields, TokenResponse, UseCookies, UserSchema } from './auth.schemas.ts';
import { AppError } from '../platform/http/errors.ts';
import type { FastifyTypebox } from '../platform/http/types.ts';
import { listTenantsToChoose, showsTenantSwitcher } from '../tenants/tenant-list.service.ts';
import { AuthErrors } from './auth.errors.ts';
import { clearAuthCookies, refreshTokenFromCookie } from './cookies.ts';
import { login } from './login.service.ts';
import { auditContextOf, requireUser, subjectOf } from './principal.ts';
import { assertMayEnter, authorizationView, endSession, mayStayIn, refreshSession, switchActiveTenant } from './sessions.service.ts';
import { Problems, TenantId } from '../platform/http/schemas.ts';
import { clientOf, credentialRateLimit, deliverTokens } from './auth.http.ts';

const AuthorizationSchema = Type.Record(
  Type.String(),
  Type.Object({
    tenantId: Type.String(),
    name: Type.String(),
    roles: Type.Array(Type.String()),
    shadow: Type.Optional(Type.Boolean()),
    inherited: Type.Optional(Type.Boolean({ description: 'Reached through a `tenant_and_descendants` role held above; `roles` are the roles held there' })),
    inheritedFrom: Type.Optional(Type.Union([Type.String(), Type.Null()])),
    status: Type.Optional(Type.String({ description: 'Only when the tenant is not active: `suspended` or `pending_deletion`' })),
    purgeAfter: Type.Optional(Type.Union([Type.String({ format: 'date-time' }), Type.Null()])),
  }),
  {
    description:
      'Keyed by tenant id: the tenants the user belongs to and their roles there (seed 003), then the tenants reached from above ' +
      "(marked `inherited`), as in the sign-in list. The access token's `authorization` claim lists memberships only.",
  },
);

const ShowTenantSwitcher = Type.Boolean({
  description:
    "Whether to show the header's tenant switcher: two or more tenants listed, and the preset shows it to everyone (seed 000) or only " +
    'to platform super admins and members of the admin tenancy (msp, seed 001)',
});

export async function authRoutes(app: FastifyTypebox): Promise<void> {
  const deps = app.services;

  app.post(
    '/auth/login',
    {
      config: { ...credentialRateLimit(app), startsSession: true },
      schema: {
        tags: ['auth'],
        summary: 'Sign in with email and password',
        description:
          '`tenants` lists every tenant you can choose ("Choose a tenant"): your memberships (direct or shadow), then every live tenant below ' +
          'one where you hold a `tenant_and_descendants` role, marked `inherited` with `inheritedFrom` and the roles held there that reach it. ' +
          'A suspended tenant is listed to those who may still enter it (owners, those above it); a tenant pending deletion only to those who ' +
          'may restore it, with `status: pending_deletion` and `purgeAfter`. Lands on the requested tenant (`404` if you may not enter it, the rule switching follows, `409 ' +
          'tenant_status_conflict` if pending deletion), else on your valid default tenant, else on your only membership even when tenants below ' +
          "it are listed as inherited (seed 004: the Main Company's admin lands on the Main Company, its companies listed for switching), else " +
          'on the only tenant listed; never on a tenant pending deletion. Otherwise `needsTenantChoice` is true and `activeTenantId` null.',
        body: Type.Object({ email: Email, password: Password, tenantId: Type.Optional(TenantId), useCookies: UseCookies }, { additionalProperties: false }),
        response: {
          200: Type.Object({
            user: UserSchema,
            ...TokenFields,
            needsTenantChoice: Type.Boolean(),
            tenants: Type.Array(TenantChoiceSchema),
            showTenantSwitcher: ShowTenantSwitcher,
          }),
          ...Problems,
        },
      },
    },
    async (request, reply) => {
      const { useCookies, ...input } = request.body;
      const tokens = await login(deps, input, clientOf(request), auditContextOf(request));
      return {
        user: presentUser(tokens.user),
        ...deliverTokens(app, reply, tokens, useCookies === true),
        needsTenantChoice: tokens.activeTenantId === null,
        tenants: presentTenantChoices(tokens),
        showTenantSwitcher: showsTenantSwitcher(app.services.preset, { userId: tokens.user.id, isSuperAdmin: tokens.user.platform_role === 'super_admin' }, tokens.tenants),
      };
    },
  );

  app.post(
    '/auth/refresh',
    {
      config: { ...credentialRateLimit(app), startsSession: true },
      schema: {
        tags: ['auth'],
        summary: 'Exchange a refresh token for new tokens (the refresh token rotates)',
        description: 'Presenting an already-used refresh token revokes the whole session. In cookie mode the token comes from the cookie.',
        body: Type.Union([Type.Object({ refreshToken: Type.Optional(Type.String({ maxLength: 200 })) }, { additionalProperties: false }), Type.Null()]),
        response: { 200: TokenResponse, ...Problems },
      },
    },
    async (request, reply) => {
      const fromBody = request.body?.refreshToken;
      const token = fromBody ?? refreshTokenFromCookie(request);
      if (token === undefined) throw new AppError(AuthErrors.INVALID_REFRESH_TOKEN, { detail: 'no refresh token in the body or cookie' });
      const tokens = await refreshSession(deps, token, auditContextOf(request));
      return deliverTokens(app, reply, tokens, fromBody === undefined);
    },
  );

  app.post(
    '/auth/logout',
    {
      schema: { tags: ['auth'], summary: 'End the current session', response: { 204: Type.Null(), ...Problems } },
    },
    async (request, reply) => {
      const principal = requireUser(request);
      await endSession(deps, { userId: principal.userId, sessionId: principal.sessionId, audit: auditContextOf(request) });
      clearAuthCookies(reply, app.services.config);
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/auth/me',
    {
      schema: {
        tags: ['auth'],
        summary: 'The signed-in user, the active tenant and the authorization object',
        response: {
          200: Type.Object({
            user: UserSchema,
            activeTenantId: Type.Union([Type.String(), Type.Null()]),
            authorization: AuthorizationSchema,
            showTenantSwitcher: ShowTenantSwitcher,
          }),
          ...Problems,
        },
      },
    },
    async (request) => {
      const principal = requireUser(request);
      // Both from memory when warm: the person as authentication read them, and their (cached) tenant list.
      const user = await app.services.credentials.user(deps.db, principal.userId);
      if (user === undefined) throw new AppError(AuthErrors.SESSION_ENDED);
      const subject = { userId: user.id, isSuperAdmin: user.platform_role === 'super_admin' };
      const tenants = await listTenantsToChoose(app.services, subject);
      const active =
        principal.tenantId !== null && (tenants.some((t) => t.tenantId === principal.tenantId) || (await mayStayIn(deps, subject, principal.tenantId))) ? principal.tenantId : null;
      return {
        user: presentUser(user),
        activeTenantId: active,
        authorization: authorizationView(tenants),
        showTenantSwitcher: showsTenantSwitcher(app.services.preset, subject, tenants),
      };
    },
  );

  app.post(
    '/auth/active-tenant',
    {
      schema: {
        tags: ['auth'],
        summary: 'Switch the active tenant: re-issues tokens (and cookies) for another tenant you belong to',
        body: Type.Object({ tenantId: TenantId }, { additionalProperties: false }),
        response: { 200: TokenResponse, ...Problems },
      },
    },
    async (request, reply) => {
      const principal = requireUser(request);
      await assertMayEnter(deps, subjectOf(principal), request.body.tenantId);
      const tokens = await switchActiveTenant(deps, { subject: subjectOf(principal), sessionId: principal.sessionId, tenantId: request.body.tenantId });
      return deliverTokens(app, reply, tokens, principal.transport === 'cookie');
    },
  );
}
