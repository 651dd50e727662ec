import { Type } from 'typebox';
import type { AppDeps } from '../platform/deps.ts';
import type { FastifyTypebox } from '../platform/http/types.ts';
import { KeyStore, SIGNING_ALG } from './key-store.ts';

/**
 * Fallback stores, one per app, keyed by the app's deps object (shared by every encapsulated child
 * instance): used only when the composition root has not decorated the app with `keys`.
 */
const stores = new WeakMap<AppDeps, KeyStore>();

export function keyStoreFor(deps: AppDeps): KeyStore {
  let store = stores.get(deps);
  if (store === undefined) {
    store = new KeyStore({ db: deps.database.db, secretKey: deps.secretKey, clock: deps.clock });
    stores.set(deps, store);
  }
  return store;
}

/**
 * The app's KeyStore: the one buildApp decorates the app with (`app.keys`), so signing, verifying and
 * the JWKS share one cache and a rotation is published at once; else one created lazily per app.
 */
export function getKeyStore(app: FastifyTypebox): KeyStore {
  return app.hasDecorator('keys') ? app.keys : keyStoreFor(app.deps);
}

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
      const keys = await getKeyStore(app).publicKeys();
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
      const issuer = app.deps.config.publicUrl;
      reply.header('cache-control', CACHE_CONTROL);
      return {
        issuer,
        jwks_uri: `${issuer}/.well-known/jwks.json`,
        token_endpoint: `${issuer}/api/v1/oauth/token`,
        introspection_endpoint: `${issuer}/api/v1/oauth/introspect`,
        grant_types_supported: ['client_credentials', 'refresh_token', 'password'],
        token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
        id_token_signing_alg_values_supported: [SIGNING_ALG],
      };
    },
  );
}
