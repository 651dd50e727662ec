import { Type } from 'typebox';
import type { FastifyTypebox } from '../platform/http/types.ts';
import { type ApiKeyView, createApiKey, listKeys, revokeApiKey } from './api-keys.service.ts';
import { Nullable, Problems, TenantId } from '../platform/http/schemas.ts';
import { authorize } from '../permissions/authorize.http.ts';

const TenantParams = Type.Object({ tenantId: TenantId });
const KeyParams = Type.Object({ tenantId: TenantId, keyId: Type.String({ minLength: 1, maxLength: 100, description: 'An API key id (`key_…`)' }) });
const DateTime = Type.String({ format: 'date-time' });

const ApiKeySchema = Type.Object({
  id: Type.String({ description: 'Also the OAuth `client_id` for POST /oauth/token' }),
  tenantId: Type.String(),
  name: Type.String(),
  permissions: Type.Array(Type.String(), { description: "Sorted; the key acts with exactly these, narrowed by the tenant's features and status" }),
  status: Type.Union([Type.Literal('active'), Type.Literal('expired'), Type.Literal('revoked')]),
  createdBy: Type.Object({
    type: Type.Union([Type.Literal('user'), Type.Literal('api_key'), Type.Literal('system')], { description: '`system`: made by the operator with the CLI' }),
    id: Nullable(Type.String()),
  }),
  createdAt: DateTime,
  expiresAt: Nullable(DateTime),
  lastUsedAt: Nullable(Type.String({ format: 'date-time', description: 'Recorded to the minute' })),
  revokedAt: Nullable(DateTime),
});

export function presentApiKey(key: ApiKeyView) {
  return {
    ...key,
    createdAt: key.createdAt.toISOString(),
    expiresAt: key.expiresAt?.toISOString() ?? null,
    lastUsedAt: key.lastUsedAt?.toISOString() ?? null,
    revokedAt: key.revokedAt?.toISOString() ?? null,
  };
}

/**
 * SPEC 4 "API keys & machine tokens": tenant-scoped machine credentials, managed with `api_keys.manage`.
 * A key is used as `Authorization: Bearer <secret>` or exchanged at POST /oauth/token.
 */
export async function apiKeyRoutes(app: FastifyTypebox): Promise<void> {
  const deps = app.services;

  app.post(
    '/tenants/:tenantId/api-keys',
    {
      schema: {
        tags: ['api-keys'],
        summary: 'Create an API key; its secret is in this response and nowhere else, ever',
        description:
          'Needs `api_keys.manage`. Every permission must be in the catalogue (else `422 unknown_permission`) and held by the caller here ' +
          '(`["*"]` alone: every permission the caller holds here, listed in the key now; seed 000\'s "all the permissions I hold") ' +
          '(else `403 forbidden`): a key can never mint a stronger key. The secret looks like `tnty_<tenant>_<key>_<random>`; send it as ' +
          '`Authorization: Bearer <secret>`, or exchange it at POST /oauth/token (client_id = `id`). `409 plan_limit_reached` when the ' +
          "tenant's plan allows no more live keys. Using a key: a secret that is unknown, forged, revoked or expired (or whose tenant " +
          'was deleted) is `401 invalid_api_key`; a valid key whose tenant is suspended or pending deletion is `403 tenant_suspended` ' +
          '(`tenantStatus` says which), and one whose tenant lacks the feature keys need (mqtt-portal: `mgmt_api`) is ' +
          '`403 feature_disabled` (`feature` names it). The same holds for its machine tokens.',
        params: TenantParams,
        body: Type.Object(
          {
            name: Type.String({ minLength: 1, maxLength: 100, pattern: '\\S' }),
            permissions: Type.Array(Type.String({ minLength: 1, maxLength: 200 }), { minItems: 1, maxItems: 200, uniqueItems: true }),
            expiresAt: Type.Optional(Nullable(Type.String({ format: 'date-time', description: 'Omitted or null: the key does not expire' }))),
          },
          { additionalProperties: false },
        ),
        response: { 201: Type.Object({ ...ApiKeySchema.properties, secret: Type.String({ description: 'Shown once; store it now' }) }), ...Problems },
      },
    },
    async (request, reply) => {
      const { tenantId } = request.params;
      const { access, audit } = await authorize(app, request, tenantId, 'api_keys.manage');
      const { expiresAt, ...rest } = request.body;
      const { key, secret } = await createApiKey(deps, { access, audit }, tenantId, { ...rest, expiresAt: expiresAt == null ? null : new Date(expiresAt) });
      reply.code(201).header('cache-control', 'no-store');
      return { ...presentApiKey(key), secret };
    },
  );

  app.get(
    '/tenants/:tenantId/api-keys',
    {
      schema: {
        tags: ['api-keys'],
        summary: "The tenant's API keys, newest first, revoked and expired ones included (never a secret)",
        description: 'Needs `api_keys.manage`.',
        params: TenantParams,
        response: { 200: Type.Object({ apiKeys: Type.Array(ApiKeySchema) }), ...Problems },
      },
    },
    async (request) => {
      const { tenantId } = request.params;
      await authorize(app, request, tenantId, 'api_keys.manage');
      return { apiKeys: (await listKeys(deps, tenantId)).map(presentApiKey) };
    },
  );

  app.delete(
    '/tenants/:tenantId/api-keys/:keyId',
    {
      schema: {
        tags: ['api-keys'],
        summary: 'Revoke an API key: it and every token minted from it stop working on the next request, on every server',
        description: 'Needs `api_keys.manage`. Revoking a revoked key changes nothing (204).',
        params: KeyParams,
        response: { 204: Type.Null(), ...Problems },
      },
    },
    async (request, reply) => {
      const { tenantId, keyId } = request.params;
      const { audit } = await authorize(app, request, tenantId, 'api_keys.manage');
      await revokeApiKey(deps, audit, tenantId, keyId);
      return reply.code(204).send(null);
    },
  );
}
