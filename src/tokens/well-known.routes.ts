import { Type } from 'typebox';
import type { FastifyTypebox } from '../platform/http/types.ts';
import { SIGNING_ALG } from './key-store.ts';

const Jwk = Type.Object(
  {
    kty: Type.String(),
    crv: Type.String(),
    x: Type.String(),
    y: Type.String(),
    kid: Type.String(),
    alg: Type.Literal(SIGNING_ALG),
    use: Type.Literal('sig'),
  },
  { description: 'A public signing key (RFC 7517)' },
);
const JwkSet = Type.Object({ keys: Type.Array(Jwk) });

const Discovery = Type.Object({
  issuer: Type.String(),
  jwks_uri: Type.String(),
  token_endpoint: Type.String(),
  introspection_endpoint: Type.String(),
  grant_types_supported: Type.Array(Type.String()),
  token_endpoint_auth_methods_supported: Type.Array(Type.String()),
  id_token_signing_alg_values_supported: Type.Array(Type.String()),
});

const CACHE_CONTROL = 'public, max-age=300';

/** Key publication and discovery, outside /api/v1 where verifiers expect them. */
export async function wellKnownRoutes(app: FastifyTypebox): Promise<void> {
  app.get(
    '/.well-known/jwks.json',
    {
      schema: {
        tags: ['tokens'],
        summary: 'Public keys that verify access tokens (JWKS); retired keys stay listed until their tokens expire',
        response: { 200: JwkSet },
      },
    },
    async (_request, reply) => {
      const keys = await app.services.keys.publicKeys();
      reply.header('cache-control', CACHE_CONTROL);
      return {
        keys: keys.map((k) => ({ kty: k.kty, crv: k.crv, x: k.x, y: k.y, kid: k.kid, alg: k.alg, use: k.use })),
      };
    },
  );

  app.get(
    '/.well-known/openid-configuration',
    {
      schema: {
        tags: ['tokens'],
        summary: 'Discovery document: issuer, JWKS and token endpoints',
        response: { 200: Discovery },
      },
    },
    async (_request, reply) => {
      const issuer = app.services.config.publicUrl;
      reply.header('cache-control', CACHE_CONTROL);
      return {
        issuer,
        jwks_uri: `${issuer}/.well-known/jwks.json`,
        token_endpoint: `${issuer}/api/v1/oauth/token`,
        introspection_endpoint: `${issuer}/api/v1/oauth/introspect`,
        // Sign-in and refresh are Tenantry's own endpoints (/auth/login, /auth/refresh), not OAuth grants.
        grant_types_supported: ['client_credentials'],
        token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
        id_token_signing_alg_values_supported: [SIGNING_ALG],
      };
    },
  );
}
