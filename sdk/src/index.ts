import { createRemoteJWKSet, customFetch, type JWTPayload, jwtVerify } from 'jose';
import createApiClient, { type Client } from 'openapi-fetch';
import type { paths } from './api-schema.ts';
import { TenantryError } from './errors.ts';

export { KEY_REFUSED_BY_TENANT_CODES, TenantryError } from './errors.ts';
export { expressTenantry, fastifyTenantry, honoTenantry, type RequireOptions } from './frameworks.ts';
export { type Caller, type GuardOptions, TenantryGuard, type TenantryEvent } from './guard.ts';
export type { paths } from './api-schema.ts';
export { verifyTenantryWebhook } from './webhooks.ts';

/**
 * @tenantry/sdk — what a service needs to sit behind Tenantry:
 * - `verifyAccessToken`: check a caller's JWT locally against Tenantry's published keys (no round trip);
 * - `check` / `checkMany`: ask "may this subject do P in tenant T?" (the answer comes with the reason);
 * - `introspect`: ask whether a token or API key is still live (revocation, suspension, removal);
 * - `request`, and `api()` (every endpoint, typed from docs/openapi.json): Tenantry as the service's own API key;
 * - `TenantryGuard` and `requirePermission` for Fastify, Express and Hono (guard.ts, frameworks.ts): who is calling
 *   a service, and may they.
 * The service authenticates with an API key, exchanged for short-lived tokens at /oauth/token and cached
 * until shortly before they expire; the key's secret crosses the wire once per token, not per call.
 */
export interface TenantryClientOptions {
  /** Where Tenantry is reachable, e.g. `https://id.example.com` (its TENANTRY_PUBLIC_URL). */
  baseUrl: string;
  /** The service's API key secret (`tnty_…`). Without it only `verifyAccessToken` works. */
  apiKey?: string;
  /** Defaults to the global fetch. */
  fetch?: typeof fetch;
  /** Refresh a cached machine token this long before it expires (default 30 s). */
  refreshMarginSeconds?: number;
  /** The tokens' `iss` (Tenantry's TENANTRY_PUBLIC_URL); defaults to what its discovery document says. */
  issuer?: string;
  /**
   * After fetching the JWKS, how long a token naming an unknown key waits for the next fetch (default 30 s): a new
   * signing key is picked up at most this long after Tenantry rotates, and strangers' made-up key ids cost at most one
   * fetch per period.
   */
  jwksCooldownSeconds?: number;
}

export interface CheckQuery {
  tenantId: string;
  permission: string;
  /** A user id; omitted = the service's own key. */
  subject?: string;
}

export interface CheckResult {
  allowed: boolean;
  reason: string;
}

export interface AccessTokenClaims extends JWTPayload {
  sub: string;
  /** The active tenant, or null. */
  tid?: string | null;
  roles?: string[];
  sid?: string;
  /** Machine tokens: the API key id and its permissions. */
  client_id?: string;
  scope?: string;
}

export type Introspection = { active: false } | ({ active: true; token_type: string; sub: string; tid: string | null } & Record<string, unknown>);

export class TenantryClient {
  readonly #baseUrl: string;
  readonly #apiKey: string | undefined;
  readonly #fetch: typeof fetch;
  readonly #marginMs: number;
  readonly #issuerOption: string | undefined;
  readonly #jwksCooldownMs: number;
  #token: { value: string; expiresAt: number } | undefined;
  #pendingToken: Promise<string> | undefined;
  #verifier: Promise<{ jwks: ReturnType<typeof createRemoteJWKSet>; issuer: string }> | undefined;
  #api: Client<paths> | undefined;

  constructor(options: TenantryClientOptions) {
    this.#baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.#apiKey = options.apiKey;
    this.#fetch = options.fetch ?? globalThis.fetch;
    this.#marginMs = (options.refreshMarginSeconds ?? 30) * 1000;
    this.#issuerOption = options.issuer;
    this.#jwksCooldownMs = (options.jwksCooldownSeconds ?? 30) * 1000;
  }

  /**
   * Verifies a Tenantry access token (signature against the JWKS, issuer, expiry, `typ at+jwt`) and returns
   * its claims. Authority still lives in Tenantry: pair this with `check`, or `introspect` where a revoked
   * session must be refused before the token expires.
   */
  async verifyAccessToken(token: string): Promise<AccessTokenClaims> {
    const { jwks, issuer } = await this.#discover();
    const { payload } = await jwtVerify(token, jwks, { issuer, typ: 'at+jwt', algorithms: ['ES256'] });
    if (typeof payload.sub !== 'string') throw new TenantryError(401, { code: 'invalid_token', detail: 'the token has no subject' });
    return payload as AccessTokenClaims;
  }

  /**
   * Every Tenantry endpoint, typed from its OpenAPI document (openapi-fetch), authenticated as the service's key:
   * `const { data, error } = await tenantry.api().GET('/api/v1/tenants/{tenantId}/members', { params: { path: { tenantId } } })`.
   */
  api(): Client<paths> {
    if (this.#api === undefined) {
      const api = createApiClient<paths>({ baseUrl: this.#baseUrl, fetch: (request) => this.#fetch(request) });
      api.use({
        onRequest: async ({ request }) => {
          request.headers.set('authorization', `Bearer ${await this.#machineToken()}`);
          return request;
        },
      });
      this.#api = api;
    }
    return this.#api;
  }

  /**
   * The discovery document (`/.well-known/openid-configuration`): its JWKS, fetched on first use, cached, and fetched
   * again when a token names a key it does not hold (signing-key rotation), at most every 30 s.
   */
  #discover(): Promise<{ jwks: ReturnType<typeof createRemoteJWKSet>; issuer: string }> {
    this.#verifier ??= (async () => {
      const discovery = await parse<{ issuer: string; jwks_uri: string }>(await this.#fetch(`${this.#baseUrl}/.well-known/openid-configuration`));
      const jwks = createRemoteJWKSet(new URL(discovery.jwks_uri), { [customFetch]: (url, init) => this.#fetch(url, init), cooldownDuration: this.#jwksCooldownMs });
      return { jwks, issuer: this.#issuerOption ?? discovery.issuer };
    })().catch((error: unknown) => {
      this.#verifier = undefined;
      throw error;
    });
    return this.#verifier;
  }

  /** One permission check. Never throws for "no": a tenant the subject cannot reach is simply not allowed. */
  async check(query: CheckQuery): Promise<CheckResult> {
    return this.request<CheckResult>('POST', '/api/v1/check', query);
  }

  /** Up to 100 checks in one round trip, answered in order. */
  async checkMany(queries: readonly CheckQuery[]): Promise<Array<CheckQuery & CheckResult>> {
    const { results } = await this.request<{ results: Array<CheckQuery & CheckResult> }>('POST', '/api/v1/check', { checks: queries });
    return results;
  }

  /** Up to 100 checks about the bearer of `token` itself (a person's access token): what a resource server asks. */
  async checkAs(token: string, queries: ReadonlyArray<{ tenantId: string; permission: string }>): Promise<Array<CheckQuery & CheckResult>> {
    const { results } = await parse<{ results: Array<CheckQuery & CheckResult> }>(await this.#send('POST', '/api/v1/check', { checks: queries }, token));
    return results;
  }

  /** RFC 7662: whether a person's token, a machine token or an API key is live right now. */
  async introspect(token: string): Promise<Introspection> {
    return this.request<Introspection>('POST', '/api/v1/oauth/introspect', { token });
  }

  /** Any Tenantry endpoint as the service's key; a problem document becomes a `TenantryError`. */
  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await this.#send(method, path, body, await this.#machineToken());
    // A 403 (tenant suspended, feature off) keeps the cached token: it is valid and works again once the tenant is back.
    if (response.status === 401 && this.#token !== undefined) {
      // The cached token may have been refused early (key rotated, clock skew): one fresh try.
      this.#token = undefined;
      return parse<T>(await this.#send(method, path, body, await this.#machineToken()));
    }
    return parse<T>(response);
  }

  #send(method: string, path: string, body: unknown, token: string): Promise<Response> {
    return this.#fetch(`${this.#baseUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  }

  /** A cached client-credentials token; concurrent callers share one exchange. */
  async #machineToken(): Promise<string> {
    if (this.#apiKey === undefined) throw new TypeError('TenantryClient: this call needs the apiKey option');
    if (this.#token !== undefined && Date.now() < this.#token.expiresAt - this.#marginMs) return this.#token.value;
    this.#pendingToken ??= this.#exchange(this.#apiKey).finally(() => {
      this.#pendingToken = undefined;
    });
    return this.#pendingToken;
  }

  async #exchange(apiKey: string): Promise<string> {
    const response = await this.#fetch(`${this.#baseUrl}/api/v1/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_secret: apiKey }).toString(),
    });
    const grant = await parse<{ access_token: string; expires_in: number }>(response);
    this.#token = { value: grant.access_token, expiresAt: Date.now() + grant.expires_in * 1000 };
    return grant.access_token;
  }
}

async function parse<T>(response: Response): Promise<T> {
  const text = await response.text();
  const body: unknown = text === '' ? null : JSON.parse(text);
  if (!response.ok) throw new TenantryError(response.status, typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {});
  return body as T;
}
