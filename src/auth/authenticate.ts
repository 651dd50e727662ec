import fp from 'fastify-plugin';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { authenticateKeyId, authenticateSecret, type UsableKey } from '../api-keys/api-keys.service.ts';
import { looksLikeApiKeySecret } from '../api-keys/credentials.ts';
import { AppError } from '../platform/http/errors.ts';
import { safeEqual } from '../platform/secrets.ts';
import { isMachineToken, verifyAccessToken } from '../tokens/access-tokens.ts';
import { AuthErrors } from './auth.errors.ts';
import { ACCESS_COOKIE, CSRF_HEADER, csrfTokenFor } from './cookies.ts';
import { type ApiKeyPrincipal, userPrincipal } from './principal.ts';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * `true` for the endpoints that start or renew a session (sign-in, refresh, sign-up, setup). They act on what
     * the request says, never on who is signed in, so the browser's access cookie — sent on every request, and
     * expired exactly when a refresh is due — is not read there; a bearer header still is.
     */
    startsSession?: boolean;
    /**
     * `true` for the endpoints MQTT brokers call (`/api/v1/mqtt/…`): their `Authorization` header carries the
     * broker's own secret, which those routes check, never a person's or a key's credential.
     */
    brokerEndpoint?: boolean;
  }
}

/**
 * Resolves `request.principal` on every request that carries credentials (`Authorization: Bearer`, or the
 * access cookie). A token is never the last word: the session must still be live and the user must still
 * exist, checked on this request (SPEC 6), so a logout or password reset takes effect at once.
 * Credentials that are present but bad are a 401 even on endpoints that would not need them — except the access
 * cookie on the endpoints that start or renew a session (`startsSession`), where the browser sends it unasked.
 * Three kinds of bearer: a person's access token, an API key's secret (`tnty_…`), and a machine token
 * minted from a key at /oauth/token; the last two are re-checked against the key on every request. A valid
 * key (or token) that its tenant cannot use now is authenticated and refused with a 403 (SPEC 5):
 * `tenant_suspended` while the tenant is not active, `feature_disabled` while the preset's key feature is off.
 */
export const authentication = fp(
  async (app: FastifyInstance) => {
    const keys = app.services.keys;
    app.decorateRequest('principal', null);
    app.addHook('onRequest', async (request) => {
      const credentials = readCredentials(request);
      if (credentials === undefined) return;
      if (credentials.transport === 'bearer' && looksLikeApiKeySecret(credentials.token)) {
        request.principal = keyPrincipal(await authenticateSecret(app.services, credentials.token), 'secret');
        return;
      }
      const { config, clock, database, secretKey } = app.services;
      const claims = await verifyAccessToken(keys, credentials.token, { issuer: config.publicUrl, clock });
      if (isMachineToken(claims)) {
        // A client-credentials token lives only as long as its key: revoked or expired key, no token.
        if (credentials.transport !== 'bearer') throw new AppError(AuthErrors.SESSION_ENDED);
        const key = await authenticateKeyId(app.services, claims.tid, claims.client_id);
        const scope = new Set(claims.scope.split(' '));
        request.principal = keyPrincipal({ ...key, permissions: key.permissions.filter((p) => scope.has(p)) }, 'token');
        return;
      }
      const session = claims.sid === undefined ? undefined : await app.services.credentials.session(database.db, claims.sid, clock.now());
      const live = session !== undefined && session.revoked_at === null && session.expires_at.getTime() > clock.now().getTime();
      const user = live ? await app.services.credentials.user(database.db, session.user_id) : undefined;
      if (session === undefined || user === undefined || user.id !== claims.sub) throw new AppError(AuthErrors.SESSION_ENDED);
      if (credentials.transport === 'cookie' && !SAFE_METHODS.has(request.method)) {
        const header = request.headers[CSRF_HEADER];
        if (typeof header !== 'string' || !safeEqual(header, csrfTokenFor(secretKey, session.id))) {
          throw new AppError(AuthErrors.CSRF_TOKEN_INVALID);
        }
      }
      request.principal = userPrincipal(user, { sessionId: session.id, tenantId: typeof claims.tid === 'string' ? claims.tid : null, transport: credentials.transport });
    });
  },
  { name: 'tenantry-authentication', dependencies: ['@fastify/cookie'] },
);

function keyPrincipal(key: UsableKey, credential: ApiKeyPrincipal['credential']): ApiKeyPrincipal {
  return { kind: 'api_key', keyId: key.keyId, name: key.name, tenantId: key.tenantId, permissions: key.permissions, credential };
}

function readCredentials(request: FastifyRequest): { token: string; transport: 'bearer' | 'cookie' } | undefined {
  if (request.routeOptions.config?.brokerEndpoint === true) return undefined;
  const header = request.headers.authorization;
  if (header !== undefined) {
    // HTTP Basic carries OAuth client credentials, which only the /oauth endpoints read (RFC 6749 §2.3.1).
    if (/^Basic\s/i.test(header)) return undefined;
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (match?.[1] === undefined) throw new AppError(AuthErrors.UNAUTHENTICATED, { detail: 'the Authorization header must be "Bearer <token>"' });
    return { token: match[1], transport: 'bearer' };
  }
  const cookie = request.cookies[ACCESS_COOKIE];
  if (cookie === undefined || cookie === '' || request.routeOptions.config?.startsSession === true) return undefined;
  return { token: cookie, transport: 'cookie' };
}
