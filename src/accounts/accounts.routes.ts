import { Type } from 'typebox';
import { Email, Password, presentUser, TokenFields, UseCookies, UserSchema } from '../auth/auth.schemas.ts';
import { auditContextOf, requireUser } from '../auth/principal.ts';
import { findInvitationPreview, previewInvitationFor } from '../invitations/invitations.service.ts';
import type { FastifyTypebox } from '../platform/http/types.ts';
import { SLUG_PATTERN } from '../tenants/tenants.repository.ts';
import { type AccountDeps, forgotPassword, resendVerification, resetPassword, signup, updateProfile, verifyEmail } from './accounts.service.ts';
import { Problems } from '../platform/http/schemas.ts';
import { clientOf, credentialRateLimit, deliverTokens } from '../auth/auth.http.ts';
import { InvitationPreviewSchema, presentInvitationPreview } from '../invitations/invitations.http.ts';

const OneTimeToken = Type.String({ minLength: 10, maxLength: 200 });
const TenantName = Type.String({ minLength: 1, maxLength: 200, pattern: '\\S' });
const TenantSlug = Type.String({ pattern: SLUG_PATTERN, minLength: 2, maxLength: 63, description: 'Lowercase letters, digits and dashes' });
const InvitationToken = Type.String({ minLength: 1, maxLength: 200, description: 'The token of the invitation link the person came from' });

export async function accountRoutes(app: FastifyTypebox): Promise<void> {
  const deps: AccountDeps = app.services;
  const SignupTenant = Type.Object({ id: Type.String(), slug: Type.String(), name: Type.String() });

  app.post(
    '/auth/signup',
    {
      config: { ...credentialRateLimit(app), startsSession: true },
      schema: {
        tags: ['auth'],
        summary: "Create an account, what the preset's sign-up policy creates, and sign in",
        description:
          "What it creates is the preset's sign-up policy (README, Presets): `personal` (default, marketplace) a " +
          'tenant you own (`tenantName`, `tenantSlug`); `enterprise` (mqtt-portal) your organisation as a root tenant (`organizationName`) and ' +
          'its first tenant below it, landing on the tenant; `none` (msp, company-tree) nothing: `403 signup_closed` unless the operator set ' +
          '`TENANTRY_OPEN_SIGNUP`, and then an account with no tenant (`tenant: null`) until someone invites it. Sends a verification email. ' +
          'With `invitationToken` (sign-up from an invitation link, for the invited address; else `403 invitation_email_mismatch`) no tenant ' +
          'is created in any preset: the account joins the inviting tenant with the invited roles and lands there, already verified (the link ' +
          'was mailed to that address). `409 licence_limit_reached` when the licence allows no more tenants; `409 slug_taken` for a chosen ' +
          '`tenantSlug` in use (nothing is created).',
        body: Type.Object(
          {
            email: Email,
            password: Password,
            name: Type.Optional(Type.String({ maxLength: 200 })),
            useCookies: UseCookies,
            invitationToken: Type.Optional(InvitationToken),
            tenantName: Type.Optional(TenantName),
            tenantSlug: Type.Optional(TenantSlug),
            organizationName: Type.Optional(TenantName),
          },
          { additionalProperties: false },
        ),
        response: {
          201: Type.Object({
            user: UserSchema,
            tenant: Type.Union([SignupTenant, Type.Null()], { description: 'Where you land: the tenant created, or the one that invited you' }),
            enterprise: Type.Optional(SignupTenant),
            ...TokenFields,
          }),
          ...Problems,
        },
      },
    },
    async (request, reply) => {
      const { useCookies, ...input } = request.body;
      const result = await signup(deps, input, clientOf(request), auditContextOf(request));
      reply.code(201);
      return {
        user: presentUser(result.user),
        tenant: result.tenant,
        ...(result.enterprise === null ? {} : { enterprise: result.enterprise }),
        ...deliverTokens(app, reply, result, useCookies === true),
      };
    },
  );

  app.post(
    '/auth/verify-email',
    {
      config: credentialRateLimit(app),
      schema: {
        tags: ['auth'],
        summary: 'Verify the email address with the token from the verification mail',
        description: "With `invitationToken` (the `invitation` parameter of the link), the response carries that invitation's preview, or null if it can no longer be accepted.",
        body: Type.Object({ token: OneTimeToken, invitationToken: Type.Optional(InvitationToken) }, { additionalProperties: false }),
        response: {
          200: Type.Object({ user: UserSchema, invitation: Type.Optional(Type.Union([InvitationPreviewSchema, Type.Null()])) }),
          ...Problems,
        },
      },
    },
    async (request) => {
      const user = presentUser(await verifyEmail(deps, request.body.token, auditContextOf(request)));
      if (request.body.invitationToken === undefined) return { user };
      const invitation = await findInvitationPreview(app.services, request.body.invitationToken);
      return { user, invitation: invitation === undefined ? null : presentInvitationPreview(invitation) };
    },
  );

  app.post(
    '/auth/verify-email/resend',
    {
      config: credentialRateLimit(app),
      // No body at all is the common case; validate it as an empty object.
      preValidation: async (request) => {
        request.body ??= {};
      },
      schema: {
        tags: ['auth'],
        summary: 'Send a new verification mail to the signed-in user (the previous link stops working)',
        description:
          'With `invitationToken` (the person signed up from an invitation link), the new link carries the invitation on, as the first one did; ' +
          "it must be a pending invitation for this user's address.",
        body: Type.Object({ invitationToken: Type.Optional(InvitationToken) }, { additionalProperties: false, description: 'Optional: the request may have no body' }),
        response: { 202: Type.Object({ status: Type.Literal('sent') }), ...Problems },
      },
    },
    async (request, reply) => {
      const principal = requireUser(request);
      const { invitationToken } = request.body;
      if (invitationToken !== undefined) await previewInvitationFor(app.services, invitationToken, principal.email);
      await resendVerification(deps, principal.userId, invitationToken);
      reply.code(202);
      return { status: 'sent' as const };
    },
  );

  app.post(
    '/auth/password/forgot',
    {
      config: credentialRateLimit(app),
      schema: {
        tags: ['auth'],
        summary: 'Mail a password-reset link',
        description: 'Answers the same whether or not an account has that address.',
        body: Type.Object({ email: Email }, { additionalProperties: false }),
        response: { 202: Type.Object({ status: Type.Literal('accepted') }), ...Problems },
      },
    },
    async (request, reply) => {
      await forgotPassword(deps, request.body.email, auditContextOf(request));
      reply.code(202);
      return { status: 'accepted' as const };
    },
  );

  app.post(
    '/auth/password/reset',
    {
      config: credentialRateLimit(app),
      schema: {
        tags: ['auth'],
        summary: 'Set a new password with the token from the reset mail; signs out every session',
        body: Type.Object({ token: OneTimeToken, password: Password }, { additionalProperties: false }),
        response: { 204: Type.Null(), ...Problems },
      },
    },
    async (request, reply) => {
      await resetPassword(deps, request.body.token, request.body.password, auditContextOf(request));
      return reply.code(204).send(null);
    },
  );

  app.patch(
    '/auth/me',
    {
      schema: {
        tags: ['auth'],
        summary: "Update the signed-in user's name or data object",
        description: '`data` is an RFC 7396 merge patch: members set to null are removed. At most 64 KiB as JSON.',
        body: Type.Object(
          {
            name: Type.Optional(Type.Union([Type.String({ maxLength: 200 }), Type.Null()])),
            data: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ user: UserSchema }), ...Problems },
      },
    },
    async (request) => {
      const principal = requireUser(request);
      const user = await updateProfile(deps, principal.userId, request.body, auditContextOf(request));
      return { user: presentUser(user) };
    },
  );
}
