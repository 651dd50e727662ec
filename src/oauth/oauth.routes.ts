import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import type { Principal } from '../auth/principal.ts';
import type { FastifyTypebox } from '../platform/http/types.ts';
import { OAuthErrors, oauthError } from './oauth.errors.ts';
import { authenticateClient, introspect, issueMachineToken, type OAuthDeps } from './oauth.service.ts';
import { Problems } from '../platform/http/schemas.ts';
import { credentialRateLimit } from '../auth/auth.http.ts';

const FORM = 'application/x-www-form-urlencoded';
const Param = (description: string) => Type.Optional(Type.String({ maxLength: 4096, description }));

const TokenRequest = Type.Object(
  {
    grant_type: Param('`client_credentials`'),
    client_id: Param('The API key id (`key_…`); or send id and secret with HTTP Basic'),
    client_secret: Param('The API key secret (`tnty_…`)'),
    scope: Param("Space-separated permissions, a subset of the key's; omitted = all of them"),
  },
  { additionalProperties: true, description: `JSON or ${FORM}; unknown parameters are ignored (RFC 6749 §3.2)` },
);
const IntrospectionRequest = Type.Object(
  {
    token: Param('An access token, machine token or API key secret'),
    token_type_hint: Param('Ignored: every kind is recognised by its shape'),
    client_id: Param('With client_secret: authenticate as an API key instead of a bearer token'),
    client_secret: Param('The API key secret'),
  },
  { additionalProperties: true },
);

/**
 * The OAuth 2.0 endpoints (SPEC 4): client credentials for API keys (RFC 6749 §4.4) and token
 * introspection (RFC 7662). Bodies may be JSON or form-encoded; errors are problem documents that also
 * carry RFC 6749's `error` and `error_description`.
 */
export async function oauthRoutes(app: FastifyTypebox): Promise<void> {
  const deps: OAuthDeps = app.services;

  app.addContentTypeParser(FORM, { parseAs: 'string' }, (_request, body, done) => {
    const params: Record<string, string> = {};
    for (const [name, value] of new URLSearchParams(body as string)) {
      // RFC 6749 §3.2: parameters must not be repeated.
      if (name in params) return done(oauthError(OAuthErrors.INVALID_REQUEST, `the parameter ${name} is repeated`), undefined);
      params[name] = value;
    }
    done(null, params);
  });
  // RFC 6749 §5.2: OAuth clients expect errors as application/json (the body is still the problem document).
  app.addHook('onSend', async (_request, reply, payload) => {
    if (String(reply.getHeader('content-type') ?? '').startsWith('application/problem+json')) reply.header('content-type', 'application/json; charset=utf-8');
    return payload;
  });
  // Schema violations become invalid_request; everything else goes to the app's problem handler.
  app.setErrorHandler((error, _request, _reply) => {
    if ((error as { validation?: unknown }).validation !== undefined) throw oauthError(OAuthErrors.INVALID_REQUEST, (error as Error).message);
    throw error;
  });

  app.post(
    '/oauth/token',
    {
      // Never replayed: the client may authenticate with HTTP Basic, which the idempotency scope cannot see.
      config: { ...credentialRateLimit(app), idempotency: false },
      schema: {
        tags: ['oauth'],
        summary: 'Exchange an API key for a short-lived access token (grant_type=client_credentials)',
        description:
          'Client authentication: HTTP Basic (`client_id:client_secret`) or `client_id` + `client_secret` in the body. The token is a JWT ' +
          '(`sub` and `client_id` = key id, `tid` = its tenant, `scope` = permissions), verifiable with the JWKS; it lives at most 10 minutes, ' +
          "never past the key's expiry, and stops working when the key is revoked or its tenant suspended. A key that is not valid " +
          '(unknown, wrong secret, revoked, expired) is `401 invalid_client`. A valid key whose tenant cannot use it now is refused ' +
          'as on every other endpoint, `403 tenant_suspended` (suspended or pending deletion) or `403 feature_disabled`, with RFC 6749 ' +
          '`error: unauthorized_client`: the client authenticated, so the key needs no rotating.',
        body: TokenRequest,
        response: {
          200: Type.Object({ access_token: Type.String(), token_type: Type.Literal('Bearer'), expires_in: Type.Integer(), scope: Type.String() }),
          ...Problems,
        },
      },
    },
    async (request, reply) => {
      const body = request.body;
      if (body.grant_type === undefined) throw oauthError(OAuthErrors.INVALID_REQUEST, 'grant_type is required');
      if (body.grant_type !== 'client_credentials') throw oauthError(OAuthErrors.UNSUPPORTED_GRANT_TYPE, `grant_type ${body.grant_type} is not supported; use client_credentials`);
      const client = clientCredentials(request, body);
      if (client === undefined) throw oauthError(OAuthErrors.INVALID_CLIENT, 'send the API key as HTTP Basic credentials or as client_id and client_secret');
      const grant = await issueMachineToken(deps, client, body.scope);
      reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
      return grant;
    },
  );

  app.post(
    '/oauth/introspect',
    {
      config: { idempotency: false },
      schema: {
        tags: ['oauth'],
        summary: 'Is this token live, and what does it stand for? (RFC 7662)',
        description:
          'The caller authenticates with a bearer token or API key, or as an API key with client credentials. A key may introspect credentials ' +
          "for its own tenant; a person their own tokens and, where they hold `api_keys.manage`, that tenant's keys and machine tokens. " +
          'Anything else, and anything revoked, expired or unknown, is `{"active": false}`; so is a valid key or machine token whose ' +
          'tenant cannot use it now (suspended, pending deletion, key feature off), with nothing more said (RFC 7662 §2.2). A calling ' +
          'key refused that way is `403 tenant_suspended` / `403 feature_disabled`.',
        body: IntrospectionRequest,
        response: {
          200: Type.Object({
            active: Type.Boolean(),
            token_type: Type.Optional(Type.String({ description: '`Bearer` (a JWT) or `api_key`' })),
            sub: Type.Optional(Type.String()),
            client_id: Type.Optional(Type.String()),
            tid: Type.Optional(Type.Union([Type.String(), Type.Null()])),
            scope: Type.Optional(Type.String()),
            sid: Type.Optional(Type.String()),
            iss: Type.Optional(Type.String()),
            iat: Type.Optional(Type.Integer()),
            exp: Type.Optional(Type.Integer()),
            jti: Type.Optional(Type.String()),
          }),
          ...Problems,
        },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const caller = await introspectionCaller(request, body);
      if (body.token === undefined || body.token === '') throw oauthError(OAuthErrors.INVALID_REQUEST, 'token is required');
      reply.header('cache-control', 'no-store');
      return introspect(deps, caller, body.token);
    },
  );

  /** The bearer principal, or an API key authenticating with client credentials. */
  async function introspectionCaller(request: FastifyRequest, body: { client_id?: string; client_secret?: string }): Promise<Principal> {
    const client = clientCredentials(request, body);
    if (client === undefined) {
      if (request.principal === null) throw oauthError(OAuthErrors.INVALID_CLIENT, 'authenticate with a bearer token or API key credentials');
      return request.principal;
    }
    const key = await authenticateClient(deps, client);
    return { kind: 'api_key', keyId: key.keyId, name: key.name, tenantId: key.tenantId, permissions: key.permissions, credential: 'secret' };
  }
}

/** RFC 6749 §2.3.1: HTTP Basic or body parameters, never both. */
function clientCredentials(request: FastifyRequest, body: { client_id?: string; client_secret?: string }): { clientId: string | undefined; clientSecret: string } | undefined {
  const header = request.headers.authorization;
  const basic = header === undefined ? null : /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (basic?.[1] !== undefined) {
    if (body.client_secret !== undefined) throw oauthError(OAuthErrors.INVALID_REQUEST, 'send client credentials once: HTTP Basic or the body, not both');
    const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) throw oauthError(OAuthErrors.INVALID_CLIENT, 'malformed HTTP Basic credentials');
    return { clientId: formDecode(decoded.slice(0, colon)) || undefined, clientSecret: formDecode(decoded.slice(colon + 1)) };
  }
  if (header !== undefined && /^Basic/i.test(header)) throw oauthError(OAuthErrors.INVALID_CLIENT, 'malformed HTTP Basic credentials');
  if (body.client_secret === undefined) return undefined;
  return { clientId: body.client_id, clientSecret: body.client_secret };
}

function formDecode(value: string): string {
  try {
    return decodeURIComponent(value.replaceAll('+', ' '));
  } catch {
    throw oauthError(OAuthErrors.INVALID_CLIENT, 'malformed HTTP Basic credentials');
  }
}
