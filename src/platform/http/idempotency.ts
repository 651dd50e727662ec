import fp from 'fastify-plugin';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Principal } from '../../auth/principal.ts';
import { openSecret, sealSecret } from '../../platform/secret-box.ts';
import type { Db } from '../db/context.ts';
import { hmac } from '../secrets.ts';
import { AppError, defineErrors } from './errors.ts';
import { completeClaim, deleteExpiredKeys, findKey, insertClaim, type KeyRef, releaseClaim, type StoredKey, takeOverClaim } from './idempotency.repository.ts';

/**
 * `Idempotency-Key` on every POST (SPEC 8): a client may retry a write without doing it twice.
 *
 * - The key is scoped to the caller (`user:<id>`, or `anon:<ip>` without credentials), the tenant in the
 *   path (`:tenantId`) and the route, so one caller's key never answers for another caller, another
 *   tenant or another endpoint.
 * - The first request claims the key (a row without a status) in a `preHandler`, i.e. after
 *   authentication and validation: a request refused before that is not remembered and may be fixed
 *   and retried with the same key. Its response is stored in `onSend` for 2xx and 4xx; a 5xx (and a
 *   429, which only means "later") releases the claim so a retry runs again.
 * - A retry with the same request gets the stored status, body, `Content-Type` and `Location` (never
 *   `Set-Cookie`) plus `Idempotent-Replayed: true`; the handler does not run. The same key with another
 *   request is 422; while the first is still running, 409 with `Retry-After: 1`.
 * - Rows older than 24 h are treated as absent and swept at most once a minute per process.
 *
 * Caveat: the response is stored after the handler's transaction has committed. A crash between the two
 * leaves the claim in progress without a response; after 60 s a retry takes the claim over and runs the
 * request again, so that retry may meet the first run's effects (e.g. 409 email_taken on sign-up).
 *
 * Secrets at rest: responses can carry tokens (sign-up, sign-in) or secrets shown once (API keys), so
 * stored bodies are sealed with the server's secret key; and the request hash is an HMAC under that key,
 * because a bare sha256 of a sign-in body would be a fast, unsalted hash of the password.
 */
export const IdempotencyErrors = defineErrors({
  INVALID_KEY: {
    status: 400,
    code: 'invalid_idempotency_key',
    title: 'The Idempotency-Key header must be 1 to 255 printable ASCII characters',
  },
  KEY_REUSED: {
    status: 422,
    code: 'idempotency_key_reused',
    title: 'This Idempotency-Key was already used for a different request',
  },
  IN_PROGRESS: {
    status: 409,
    code: 'idempotency_key_in_progress',
    title: 'A request with this Idempotency-Key is still being processed',
  },
});

export const IDEMPOTENCY_HEADER = 'idempotency-key';
export const REPLAYED_HEADER = 'idempotent-replayed';
/** How long a stored response answers retries. */
export const IDEMPOTENCY_TTL_MS = 24 * 60 * 60_000;
/** A claim this old without a response belongs to a request that died; its retry may take over. */
export const ABANDONED_CLAIM_MS = 60_000;
const SWEEP_INTERVAL_MS = 60_000;
/** Racing claimers loop at most this often (claim vanished, takeover lost) before answering 409. */
const MAX_CLAIM_ATTEMPTS = 3;
const KEY_SYNTAX = /^[\x20-\x7e]{1,255}$/;
/** `cache-control` too: a replayed once-only secret must stay `no-store`. */
const REPLAYED_RESPONSE_HEADERS = ['content-type', 'location', 'cache-control'] as const;

interface Claim extends KeyRef {
  /** The claim's `created_at`: completing or releasing touches the row only while it is still ours. */
  claimedAt: Date;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set while this request holds an idempotency claim whose response is still to be stored. */
    idempotencyClaim: Claim | null;
  }
  interface FastifyContextConfig {
    /**
     * `false` for POSTs that must not be replayed: those whose caller is known only from a header the
     * scope does not see (OAuth client authentication with HTTP Basic), and that are safe to repeat anyway.
     */
    idempotency?: boolean;
  }
}

/** The hooks, registered after authentication (the scope needs the principal) and before any route. */
export const idempotency = fp(
  async (app: FastifyInstance) => {
    let lastSweep = Number.NEGATIVE_INFINITY;
    app.decorateRequest('idempotencyClaim', null);

    app.addHook('preHandler', async (request, reply) => {
      if (request.method !== 'POST' || request.routeOptions.config.idempotency === false) return;
      const header = request.headers[IDEMPOTENCY_HEADER];
      // The not-found handler has no route template and nothing to make idempotent.
      const route = request.routeOptions.url;
      if (header === undefined || route === undefined) return;
      const key = parseKey(header);
      const { database, clock, secretKey } = app.services;
      const now = clock.now();

      if (now.getTime() - lastSweep >= SWEEP_INTERVAL_MS) {
        lastSweep = now.getTime();
        await sweepExpired(database.db, now, request);
      }

      const ref: KeyRef = { scope: scopeOf(request, route), key };
      const requestHash = hashRequest(secretKey, route, request.body);
      const stored = await claimOrFind(database.db, ref, requestHash, now);
      if (stored === undefined) {
        request.idempotencyClaim = { ...ref, claimedAt: now };
        return;
      }
      return replay(reply, stored, secretKey);
    });

    app.addHook('onSend', async (request, reply, payload) => {
      const claim = request.idempotencyClaim;
      if (claim === null) return payload;
      request.idempotencyClaim = null;
      const { database, clock, secretKey } = app.services;
      const status = reply.statusCode;
      const body = payloadText(payload);
      try {
        if (isRemembered(status) && body !== undefined) {
          const kept = await completeClaim(database.db, {
            ...claim,
            statusCode: status,
            headers: replayedHeaders(reply),
            body: sealSecret(secretKey, body),
            now: clock.now(),
          });
          if (!kept) request.log.warn({ scope: claim.scope }, 'idempotency claim was taken over before the response could be stored');
        } else {
          await releaseClaim(database.db, claim);
        }
      } catch (err) {
        // The response itself is fine (the handler's work is committed); only the replay copy is missing.
        // The claim stays in progress and is taken over after ABANDONED_CLAIM_MS.
        request.log.error({ err, scope: claim.scope }, 'could not store the idempotent response');
      }
      return payload;
    });
  },
  { name: 'tenantry-idempotency', dependencies: ['tenantry-authentication'] },
);

function parseKey(header: string | string[]): string {
  if (typeof header !== 'string' || !KEY_SYNTAX.test(header)) {
    throw new AppError(IdempotencyErrors.INVALID_KEY, { detail: 'send at most one Idempotency-Key of 1 to 255 printable ASCII characters' });
  }
  return header;
}

/**
 * One entry per kind of principal: a new kind (API keys…) does not compile until it chooses its own scope,
 * so it can never fall back to sharing the IP-based anonymous scope.
 */
const CALLER_SCOPE: { [K in Principal['kind']]: (principal: Extract<Principal, { kind: K }>) => string } = {
  user: (principal) => `user:${principal.userId}`,
  api_key: (principal) => `api_key:${principal.keyId}`,
};

/** Who is asking, in which tenant, of which endpoint. */
export function scopeOf(request: FastifyRequest, route: string): string {
  const principal = request.principal;
  const caller = principal === null ? `anon:${request.ip}` : (CALLER_SCOPE[principal.kind] as (p: Principal) => string)(principal);
  const params = request.params as Record<string, unknown> | undefined;
  const tenantId = params?.tenantId;
  const tenant = typeof tenantId === 'string' ? `|tenant:${tenantId}` : '';
  return `${caller}${tenant}|${request.method} ${route}`;
}

/** HMAC-SHA256 of the route and the body with its object keys sorted (member order does not matter). */
export function hashRequest(secretKey: Buffer, route: string, body: unknown): string {
  return hmac(secretKey, 'idempotency-request', `${route}\n${canonicalJson(body)}`);
}

export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const object = value as Record<string, unknown>;
    const members = Object.keys(object)
      .filter((name) => object[name] !== undefined)
      .sort()
      .map((name) => `${JSON.stringify(name)}:${canonicalJson(object[name])}`);
    return `{${members.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/**
 * Claims the key for this request (undefined) or returns the stored response to replay. Throws 422 for
 * another request under the same key and 409 while the first is still running.
 */
async function claimOrFind(db: Db, ref: KeyRef, requestHash: string, now: Date): Promise<StoredKey | undefined> {
  const expiredBefore = new Date(now.getTime() - IDEMPOTENCY_TTL_MS);
  const abandonedBefore = new Date(now.getTime() - ABANDONED_CLAIM_MS);
  for (let attempt = 0; attempt < MAX_CLAIM_ATTEMPTS; attempt += 1) {
    if (await insertClaim(db, { ...ref, requestHash, now })) return undefined;
    const stored = await findKey(db, ref);
    if (stored === undefined) continue; // released or swept since the insert: try again
    const expired = stored.createdAt < expiredBefore;
    if (!expired && stored.requestHash !== requestHash) {
      throw new AppError(IdempotencyErrors.KEY_REUSED, { detail: 'use a new key for a different request' });
    }
    if (!expired && stored.statusCode !== null) return stored;
    if (!expired && stored.createdAt >= abandonedBefore) break;
    if (await takeOverClaim(db, { ...ref, requestHash, now, expiredBefore, abandonedBefore })) return undefined;
  }
  throw new AppError(IdempotencyErrors.IN_PROGRESS, { detail: 'retry when the first request has finished' }, { 'retry-after': '1' });
}

function replay(reply: FastifyReply, stored: StoredKey, secretKey: Buffer): FastifyReply {
  reply.code(stored.statusCode ?? 500);
  for (const [name, value] of Object.entries(stored.responseHeaders ?? {})) reply.header(name, value);
  reply.header(REPLAYED_HEADER, 'true');
  return reply.send(stored.responseBody === null ? '' : openSecret(secretKey, stored.responseBody));
}

/** 2xx and 4xx are the request's answer; 5xx and 429 only say "not now", so the key is released. */
function isRemembered(status: number): boolean {
  return status >= 200 && status < 500 && status !== 429;
}

function replayedHeaders(reply: FastifyReply): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const name of REPLAYED_RESPONSE_HEADERS) {
    const value = reply.getHeader(name);
    if (typeof value === 'string') headers[name] = value;
    else if (typeof value === 'number') headers[name] = String(value);
  }
  return headers;
}

/** The serialised body; undefined for streams, which are not stored. */
function payloadText(payload: unknown): string | undefined {
  if (payload === null || payload === undefined) return '';
  if (typeof payload === 'string') return payload;
  if (Buffer.isBuffer(payload)) return payload.toString('utf8');
  return undefined;
}

async function sweepExpired(db: Db, now: Date, request: FastifyRequest): Promise<void> {
  try {
    await deleteExpiredKeys(db, new Date(now.getTime() - IDEMPOTENCY_TTL_MS));
  } catch (err) {
    // Housekeeping only: expired rows are ignored anyway, and the next sweep a minute later retries.
    request.log.warn({ err }, 'could not delete expired idempotency keys');
  }
}

type OpenApiDocument = { paths?: Record<string, Record<string, { parameters?: unknown[] } | undefined> | undefined>; components?: Record<string, unknown> };

/** Documents the header on the POST operations of the OpenAPI document (all but the OAuth endpoints). */
export function withIdempotencyKeyParameter<T>(document: T): T {
  const doc = document as OpenApiDocument;
  doc.components ??= {};
  const components = doc.components as { parameters?: Record<string, unknown> };
  components.parameters = {
    ...components.parameters,
    IdempotencyKey: {
      name: 'Idempotency-Key',
      in: 'header',
      required: false,
      schema: { type: 'string', minLength: 1, maxLength: 255 },
      description: 'Makes a retry safe: the same key and body within 24 h replays the first response (`Idempotent-Replayed: true`); the same key with another body is `422`.',
    },
  };
  for (const path of Object.values(doc.paths ?? {})) {
    const post = path?.post as { parameters?: unknown[]; tags?: string[] } | undefined;
    if (post !== undefined && !post.tags?.includes('oauth')) post.parameters = [...(post.parameters ?? []), { $ref: '#/components/parameters/IdempotencyKey' }];
  }
  return document;
}
