import { type ApiKeyDeps, authenticateKeyId, authenticateSecret, isKeyRefusedByTenant, type UsableKey } from '../api-keys/api-keys.service.ts';
import { looksLikeApiKeySecret, parseApiKeySecret } from '../api-keys/credentials.ts';
import { findUserById } from '../accounts/users.repository.ts';
import { type Principal, userPrincipal } from '../auth/principal.ts';
import { findLiveSession } from '../auth/sessions.repository.ts';
import { AppError } from '../platform/http/errors.ts';
import { isMachineToken, signAccessToken, type VerifiedAccessClaims, verifyAccessToken } from '../tokens/access-tokens.ts';
import type { KeyStore } from '../tokens/key-store.ts';
import { OAuthErrors, oauthError, refusedClient } from './oauth.errors.ts';
import type { Config } from '../platform/config.ts';
import type { AccessResolver } from '../permissions/access-resolver.ts';
import { principalAccess } from '../permissions/authorize.ts';

export interface OAuthDeps extends ApiKeyDeps {
  keys: KeyStore;
  /** The issuer of the tokens is the public URL. */
  config: Pick<Config, 'publicUrl'>;
  /** What a caller may do in a tenant (for deciding whose tokens it may introspect). */
  access: Pick<AccessResolver, 'forUser' | 'forKey'>;
}

export interface TokenGrant {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  scope: string;
}

/**
 * RFC 6749 §4.4, client credentials: the client is an API key (client_id = key id, client_secret = its
 * secret). The token is a JWT for the key's tenant carrying its permissions as `scope` (or the subset asked
 * for), verifiable through the JWKS, and never outliving the key. An invalid key is `401 invalid_client`; a
 * valid one its tenant cannot use now is `403 tenant_suspended` / `feature_disabled` with `error: unauthorized_client`.
 */
export async function issueMachineToken(deps: OAuthDeps, client: { clientId: string | undefined; clientSecret: string }, requestedScope: string | undefined): Promise<TokenGrant> {
  const key = await authenticateClient(deps, client);
  const scope = grantedScope(key, requestedScope);
  const now = deps.clock.now();
  const untilKeyExpires = key.expiresAt === null ? Number.POSITIVE_INFINITY : Math.floor((key.expiresAt.getTime() - now.getTime()) / 1000);
  const ttl = Math.max(1, Math.min(deps.keys.accessTokenTtlSeconds, untilKeyExpires));
  const signed = await signAccessToken(
    deps.keys,
    { sub: key.keyId, client_id: key.keyId, tid: key.tenantId, scope: scope.join(' ') },
    { issuer: deps.config.publicUrl, clock: deps.clock, ttlSeconds: ttl },
  );
  return { access_token: signed.token, token_type: 'Bearer', expires_in: ttl, scope: scope.join(' ') };
}

/**
 * The API key a client authenticates as (RFC 6749 §2.3): a credential that is not valid is `invalid_client`;
 * a valid one whose tenant cannot use it now is refused as that (`refusedClient`).
 */
export async function authenticateClient(deps: ApiKeyDeps, client: { clientId: string | undefined; clientSecret: string }): Promise<UsableKey> {
  const named = parseApiKeySecret(client.clientSecret);
  if (named === undefined || (client.clientId !== undefined && client.clientId !== named.keyId)) {
    throw oauthError(OAuthErrors.INVALID_CLIENT, 'unknown client or wrong secret');
  }
  return authenticateSecret(deps, client.clientSecret).catch((error: unknown) => {
    if (isKeyRefusedByTenant(error)) throw refusedClient(error);
    if (error instanceof AppError && error.spec.status === 401) throw oauthError(OAuthErrors.INVALID_CLIENT, error.message);
    throw error;
  });
}

function grantedScope(key: UsableKey, requested: string | undefined): string[] {
  if (requested === undefined || requested.trim() === '') return [...key.permissions].sort();
  const asked = [...new Set(requested.trim().split(/ +/))];
  const beyond = asked.filter((p) => !key.permissions.includes(p));
  if (beyond.length > 0) throw oauthError(OAuthErrors.INVALID_SCOPE, `the key does not carry ${beyond.sort().join(', ')}`);
  return asked.sort();
}

/** RFC 7662's answer; only `active` when the token is live and the caller may know about it. */
export type Introspection =
  | { active: false }
  | {
      active: true;
      token_type: 'Bearer' | 'api_key';
      sub: string;
      client_id?: string;
      tid: string | null;
      scope?: string;
      sid?: string;
      iss: string;
      iat: number;
      exp?: number;
      jti?: string;
    };

/**
 * RFC 7662 for the three credentials Tenantry issues: people's access tokens, API key secrets and machine
 * tokens. Answers `active: false` (never an error) for anything dead, unknown, or not the caller's to see:
 * a key sees every credential for its own tenant (a resource server checking its callers, people or
 * machines; a person's session id is left out); a person sees their own tokens and, where they hold
 * `api_keys.manage`, that tenant's keys and machine tokens; a platform super_admin sees all. A person's
 * token is active only while they could still act with it: session live and the tenant still theirs.
 * A valid key or machine token whose tenant cannot use it now (suspended, pending deletion, key feature off)
 * is not active either: it would be refused if presented (RFC 7662 §2.2, "currently active"), and §2.2 asks
 * that nothing more be said about an inactive token, so a resource server learns no tenant's status here.
 */
export async function introspect(deps: OAuthDeps, caller: Principal, token: string): Promise<Introspection> {
  const found = await describe(deps, token).catch((error: unknown) => {
    if (isKeyRefusedByTenant(error) || (error instanceof AppError && error.spec.status === 401)) return undefined;
    throw error;
  });
  if (found === undefined || !(await mayIntrospect(deps, caller, found))) return { active: false };
  // Which session a person's token belongs to is theirs (and the platform's) to know.
  if (found.sid !== undefined && !(caller.kind === 'user' && (caller.userId === found.sub || caller.platformRole === 'super_admin'))) {
    const { sid: _sid, ...rest } = found;
    return rest;
  }
  return found;
}

async function describe(deps: OAuthDeps, token: string): Promise<Exclude<Introspection, { active: false }> | undefined> {
  if (looksLikeApiKeySecret(token)) {
    const key = await authenticateSecret(deps, token, { recordUse: false });
    return {
      active: true,
      token_type: 'api_key',
      sub: key.keyId,
      client_id: key.keyId,
      tid: key.tenantId,
      scope: [...key.permissions].sort().join(' '),
      iss: deps.config.publicUrl,
      iat: seconds(key.createdAt),
      ...(key.expiresAt === null ? {} : { exp: seconds(key.expiresAt) }),
    };
  }
  const claims = await verifyAccessToken(deps.keys, token, { issuer: deps.config.publicUrl, clock: deps.clock });
  const common = { active: true as const, token_type: 'Bearer' as const, sub: claims.sub, iss: claims.iss, iat: claims.iat, exp: claims.exp, jti: claims.jti };
  if (isMachineToken(claims)) {
    await authenticateKeyId(deps, claims.tid, claims.client_id, { recordUse: false });
    return { ...common, client_id: claims.client_id, tid: claims.tid, scope: claims.scope };
  }
  const tid = typeof claims.tid === 'string' ? claims.tid : null;
  return (await personMayStillAct(deps, claims, tid)) ? { ...common, tid, ...(claims.sid === undefined ? {} : { sid: claims.sid }) } : undefined;
}

/** As on every request (SPEC 6): the session is live, the person exists, and they can still reach the token's tenant. */
async function personMayStillAct(deps: OAuthDeps, claims: VerifiedAccessClaims, tid: string | null): Promise<boolean> {
  if (claims.sid === undefined) return false;
  const session = await findLiveSession(deps.db, claims.sid, deps.clock.now());
  const user = session?.user_id === claims.sub ? await findUserById(deps.db, claims.sub) : undefined;
  if (user === undefined) return false;
  if (tid === null) return true;
  return (await principalAccess(deps.access, userPrincipal(user, { sessionId: claims.sid, tenantId: tid, transport: 'bearer' }), tid)).visible;
}

async function mayIntrospect(deps: OAuthDeps, caller: Principal, token: Exclude<Introspection, { active: false }>): Promise<boolean> {
  // A key is a resource server checking whoever calls it in its tenant, person or machine.
  if (caller.kind === 'api_key') return token.tid === caller.tenantId;
  if (caller.platformRole === 'super_admin' || token.sub === caller.userId) return true;
  // Someone else's sign-in is theirs alone; machine credentials are the tenant's, seen by its key managers.
  if (token.client_id === undefined) return false;
  return token.tid !== null && (await principalAccess(deps.access, caller, token.tid)).permissions.has('api_keys.manage');
}

function seconds(date: Date): number {
  return Math.floor(date.getTime() / 1000);
}
