import { randomBytes } from 'node:crypto';
import { errors, type JWTPayload, jwtVerify, SignJWT } from 'jose';
import type { Clock } from '../platform/clock.ts';
import { AppError } from '../platform/http/errors.ts';
import { type KeyStore, SIGNING_ALG } from './key-store.ts';
import { INVALID_TOKEN_HEADERS, TokenErrors } from './tokens.errors.ts';

/**
 * Access tokens (SPEC 6): JWTs signed with the store's current ES256 key, published at
 * /.well-known/jwks.json, so any service can verify them without calling Tenantry.
 * Header `{ alg: 'ES256', kid, typ: 'at+jwt' }` (RFC 9068).
 */
export const ACCESS_TOKEN_TYP = 'at+jwt';

/** Per-tenant entry of the `authorization` claim. */
export interface TenantAuthorization {
  tenantId: string;
  name: string;
  roles: string[];
  shadow?: boolean;
}

export interface AccessClaims {
  /** The user (or API client) the token stands for. */
  sub: string;
  /** Session id. */
  sid?: string;
  /** Active tenant, or null for none. */
  tid?: string | null;
  /** Roles in the active tenant. */
  roles?: string[];
  /** Every tenant the subject may act in; omitted (and `authorization_omitted: true` set) when too large. */
  authorization?: Record<string, TenantAuthorization>;
  scope?: string;
  typ?: string;
  [extra: string]: unknown;
}

export type VerifiedAccessClaims = AccessClaims & { jti: string; exp: number; iat: number; iss: string };

/** A client-credentials token (RFC 9068 §2.2): `client_id` names the API key, `tid` its tenant, `scope` its permissions. */
export type MachineTokenClaims = VerifiedAccessClaims & { client_id: string; tid: string; scope: string };

export function isMachineToken(claims: VerifiedAccessClaims): claims is MachineTokenClaims {
  return claims.client_id !== undefined;
}

export interface SignAccessTokenOptions {
  issuer: string;
  clock: Clock;
  /** Defaults to, and may not exceed, the store's access-token lifetime (600 s unless configured). */
  ttlSeconds?: number;
  /** The `authorization` claim is left out when its JSON is larger than this (default 4096 bytes). */
  maxAuthorizationBytes?: number;
}

export interface SignedAccessToken {
  token: string;
  expiresAt: Date;
  jti: string;
}

export interface VerifyAccessTokenOptions {
  issuer: string;
  clock: Clock;
  /** The expected `typ` header (default `at+jwt`). */
  typ?: string;
}

const DEFAULT_MAX_AUTHORIZATION_BYTES = 4096;
/** Skew tolerated between nodes' clocks when checking exp and iat. */
const CLOCK_TOLERANCE_SECONDS = 5;
/** Longer than any token we issue; anything bigger is refused before it is parsed. */
const MAX_TOKEN_CHARS = 16_384;
/** Claims the signer sets; a caller's values for them are overwritten. */
const REGISTERED = ['iss', 'iat', 'exp', 'jti', 'nbf'] as const;

export async function signAccessToken(store: KeyStore, claims: AccessClaims, opts: SignAccessTokenOptions): Promise<SignedAccessToken> {
  if (typeof claims.sub !== 'string' || claims.sub === '') throw new TypeError('signAccessToken: claims.sub must be a non-empty string');
  const ttl = opts.ttlSeconds ?? store.accessTokenTtlSeconds;
  if (!Number.isInteger(ttl) || ttl <= 0 || ttl > store.accessTokenTtlSeconds) {
    // A token outliving the store's TTL could outlive its key's publication after a rotation.
    throw new RangeError(`signAccessToken: ttlSeconds must be an integer from 1 to ${store.accessTokenTtlSeconds}`);
  }
  const payload: JWTPayload = { ...claims };
  for (const claim of REGISTERED) delete payload[claim];
  delete payload.authorization_omitted;
  if (claims.authorization !== undefined) {
    const bytes = Buffer.byteLength(JSON.stringify(claims.authorization), 'utf8');
    if (bytes > (opts.maxAuthorizationBytes ?? DEFAULT_MAX_AUTHORIZATION_BYTES)) {
      delete payload.authorization;
      payload.authorization_omitted = true;
    }
  }

  const { kid, key } = await store.signingKey();
  const iat = Math.floor(opts.clock.now().getTime() / 1000);
  const exp = iat + ttl;
  const jti = randomBytes(16).toString('base64url');
  const token = await new SignJWT(payload)
    .setProtectedHeader({ alg: SIGNING_ALG, kid, typ: ACCESS_TOKEN_TYP })
    .setIssuer(opts.issuer)
    .setIssuedAt(iat)
    .setExpirationTime(exp)
    .setJti(jti)
    .sign(key);
  return { token, expiresAt: new Date(exp * 1000), jti };
}

/** Raised inside the key lookup; becomes a 401 with its message as the detail. */
class RefusedKey extends Error {
  override name = 'RefusedKey';
}

/**
 * Verifies signature (ES256 only, a kid the store publishes), `typ` header, issuer, expiry and issue
 * time. Any refusal is `AppError(TokenErrors.INVALID_TOKEN)` (401); failures of the key store itself
 * (the database is down) propagate unchanged.
 */
export async function verifyAccessToken(store: KeyStore, token: string, opts: VerifyAccessTokenOptions): Promise<VerifiedAccessClaims> {
  if (typeof token !== 'string' || token === '' || token.length > MAX_TOKEN_CHARS) throw invalid('the token is malformed');
  const typ = opts.typ ?? ACCESS_TOKEN_TYP;
  const cacheKey = `${typ} ${opts.issuer} ${token}`;
  const remembered = await recall(store, cacheKey, opts.clock);
  if (remembered !== undefined) return remembered;
  let payload: JWTPayload;
  let kid = '';
  try {
    ({ payload } = await jwtVerify(
      token,
      async (header) => {
        if (header.alg !== SIGNING_ALG) throw new RefusedKey('the token algorithm is not accepted');
        if (typeof header.kid !== 'string' || header.kid === '' || header.kid.length > 256) throw new RefusedKey('the token names no signing key');
        kid = header.kid;
        const key = await store.verificationKey(header.kid);
        if (key === undefined) throw new RefusedKey('the token was signed by an unknown key');
        return key;
      },
      {
        algorithms: [SIGNING_ALG],
        issuer: opts.issuer,
        typ,
        currentDate: opts.clock.now(),
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        // Also refuses an iat in the future and tokens older than any we issue, whatever their exp says.
        maxTokenAge: store.accessTokenTtlSeconds,
        requiredClaims: ['exp', 'iat', 'jti', 'sub'],
      },
    ));
  } catch (error) {
    throw translate(error);
  }
  if (
    typeof payload.sub !== 'string' ||
    typeof payload.jti !== 'string' ||
    typeof payload.iss !== 'string' ||
    typeof payload.exp !== 'number' ||
    typeof payload.iat !== 'number' ||
    (payload.sid !== undefined && typeof payload.sid !== 'string') ||
    (payload.tid !== undefined && payload.tid !== null && typeof payload.tid !== 'string') ||
    (payload.roles !== undefined && !(Array.isArray(payload.roles) && payload.roles.every((r) => typeof r === 'string'))) ||
    (payload.client_id !== undefined &&
      (typeof payload.client_id !== 'string' || payload.sub !== payload.client_id || typeof payload.tid !== 'string' || typeof payload.scope !== 'string'))
  ) {
    throw invalid('the token claims are malformed');
  }
  remember(store, cacheKey, { claims: payload as VerifiedAccessClaims, kid });
  return payload as VerifiedAccessClaims;
}

/**
 * Tokens this process has verified, by their exact text (and the typ and issuer they were checked against): a
 * token presented again is checked for what can change — its age against the clock, its key still published —
 * without repeating the signature check, which was a quarter of a warm `POST /check`'s CPU (issue 13). Only
 * verified tokens are kept, so a forged one can never be served from here; the oldest go first.
 */
const VERIFIED_MAX = 10_000;
const verified = new WeakMap<KeyStore, Map<string, { claims: VerifiedAccessClaims; kid: string }>>();

function remember(store: KeyStore, cacheKey: string, entry: { claims: VerifiedAccessClaims; kid: string }): void {
  const tokens = verified.get(store) ?? new Map<string, { claims: VerifiedAccessClaims; kid: string }>();
  verified.set(store, tokens);
  if (tokens.size >= VERIFIED_MAX) tokens.delete(tokens.keys().next().value as string);
  tokens.set(cacheKey, entry);
}

/** The claims of a token verified before and still valid now; undefined to verify it in full (which then explains a refusal). */
async function recall(store: KeyStore, cacheKey: string, clock: Clock): Promise<VerifiedAccessClaims | undefined> {
  const tokens = verified.get(store);
  const entry = tokens?.get(cacheKey);
  if (tokens === undefined || entry === undefined) return undefined;
  // jose's rules at first verification: exp and maxTokenAge, with the same tolerance.
  const now = Math.floor(clock.now().getTime() / 1000);
  const { exp, iat } = entry.claims;
  const fresh = exp > now - CLOCK_TOLERANCE_SECONDS && now - iat - CLOCK_TOLERANCE_SECONDS <= store.accessTokenTtlSeconds && iat <= now + CLOCK_TOLERANCE_SECONDS;
  if (fresh && (await store.verificationKey(entry.kid)) !== undefined) return entry.claims;
  tokens.delete(cacheKey);
  return undefined;
}

function invalid(detail: string): AppError {
  return new AppError(TokenErrors.INVALID_TOKEN, { detail }, { ...INVALID_TOKEN_HEADERS });
}

/** jose's errors → a fixed, short detail (jose's messages are safe too, but ours are stable). */
function translate(error: unknown): unknown {
  if (error instanceof RefusedKey) return invalid(error.message);
  if (error instanceof errors.JWTExpired) return invalid('the token has expired');
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'nbf' || error.claim === 'iat') return invalid('the token is not yet valid');
    if (error.claim === 'typ') return invalid('the token is not an access token');
    if (error.reason === 'missing') return invalid(`the token has no "${error.claim}" claim`);
    return invalid(`the token's "${error.claim}" claim is not accepted`);
  }
  if (error instanceof errors.JOSEAlgNotAllowed) return invalid('the token algorithm is not accepted');
  if (error instanceof errors.JWSSignatureVerificationFailed) return invalid('the token signature is invalid');
  if (error instanceof errors.JWSInvalid || error instanceof errors.JWTInvalid || error instanceof errors.JOSENotSupported) {
    return invalid('the token is malformed');
  }
  if (error instanceof errors.JOSEError) return invalid('the token is invalid');
  return error;
}
