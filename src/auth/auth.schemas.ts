import { Type } from 'typebox';
import type { UserRow } from '../accounts/users.repository.ts';
import { Nullable } from '../platform/http/schemas.ts';
import type { UserTenant } from '../members/memberships.repository.ts';
import type { SessionTokens } from './sessions.service.ts';

export const Email = Type.String({ minLength: 3, maxLength: 254, description: 'Compared case-insensitively; ASCII only' });
export const Password = Type.String({ minLength: 1, maxLength: 1024 });

export const UseCookies = Type.Optional(
  Type.Boolean({
    description: 'Cookie mode (browsers): tokens are set as HttpOnly cookies and left out of the body; writes then need the X-CSRF-Token header',
  }),
);

export const UserSchema = Type.Object({
  id: Type.String(),
  email: Type.String(),
  name: Type.Union([Type.String(), Type.Null()]),
  emailVerified: Type.Boolean(),
  data: Type.Record(Type.String(), Type.Unknown()),
  defaultTenantId: Type.Union([Type.String(), Type.Null()]),
  platformRole: Type.Union([Type.Literal('super_admin'), Type.Null()]),
  createdAt: Type.String({ format: 'date-time' }),
});

export function presentUser(user: Omit<UserRow, 'password_hash'>) {
  return {
    id: user.id,
    email: user.email,
    name: user.name,
    emailVerified: user.email_verified_at !== null,
    data: user.data,
    defaultTenantId: user.default_tenant_id,
    platformRole: user.platform_role,
    createdAt: user.created_at.toISOString(),
  };
}

const NullableDate = Nullable(Type.String({ format: 'date-time' }));

/**
 * Where a tenant in a list stands (issue 11), shared by sign-in's list and `GET /tenants`: its parent, status, when and
 * why it was suspended, when its deletion was requested and when it will be purged.
 */
export const TenantStandingFields = {
  parentId: Nullable(Type.String()),
  status: Type.Union([Type.Literal('active'), Type.Literal('suspended'), Type.Literal('pending_deletion')], {
    description: '`pending_deletion` is listed only to those who may restore it, and is never landed on',
  }),
  suspendedAt: NullableDate,
  suspensionReason: Nullable(Type.String()),
  deletionRequestedAt: NullableDate,
  purgeAfter: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], { description: 'While pending deletion: when the purge is due unless restored' }),
  inherited: Type.Boolean({ description: 'Reached through a `tenant_and_descendants` role held in a tenant above, not a membership' }),
  inheritedFrom: Type.Union([Type.String(), Type.Null()], { description: 'For an inherited tenant: the nearest tenant above whose roles reach it' }),
};

export const TenantChoiceSchema = Type.Object({
  tenantId: Type.String(),
  name: Type.String(),
  slug: Type.String(),
  roles: Type.Array(Type.String(), { description: 'Your roles here; for an inherited tenant, the roles held in `inheritedFrom` that reach it' }),
  shadow: Type.Boolean(),
  ...TenantStandingFields,
});

/** The standing fields of a listed tenant, as `TenantStandingFields` describes them. */
export function presentStanding(t: UserTenant) {
  return {
    parentId: t.parentId ?? null,
    status: t.status as 'active' | 'suspended' | 'pending_deletion',
    suspendedAt: t.suspendedAt?.toISOString() ?? null,
    suspensionReason: t.suspensionReason ?? null,
    deletionRequestedAt: t.deletionRequestedAt?.toISOString() ?? null,
    purgeAfter: t.purgeAfter?.toISOString() ?? null,
    inherited: t.kind === 'inherited',
    inheritedFrom: t.inheritedFrom ?? null,
  };
}

export const TokenFields = {
  accessToken: Type.Optional(Type.String({ description: 'Absent in cookie mode' })),
  refreshToken: Type.Optional(Type.String({ description: 'Absent in cookie mode' })),
  tokenType: Type.Literal('Bearer'),
  expiresIn: Type.Integer({ description: 'Seconds until the access token expires' }),
  activeTenantId: Type.Union([Type.String(), Type.Null()]),
};

export const TokenResponse = Type.Object(TokenFields);

/** The token part of a response; in cookie mode the tokens travel only as cookies. */
export function presentTokens(tokens: SessionTokens, cookieMode: boolean, now: Date) {
  return {
    ...(cookieMode ? {} : { accessToken: tokens.accessToken, refreshToken: tokens.refreshToken }),
    tokenType: 'Bearer' as const,
    expiresIn: Math.max(0, Math.round((tokens.accessTokenExpiresAt.getTime() - now.getTime()) / 1000)),
    activeTenantId: tokens.activeTenantId,
  };
}

export function presentTenantChoices(tokens: SessionTokens) {
  return tokens.tenants.map((t) => ({ tenantId: t.tenantId, name: t.name, slug: t.slug, roles: t.roles, shadow: t.kind === 'shadow', ...presentStanding(t) }));
}
