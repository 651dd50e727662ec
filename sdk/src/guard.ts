import type { AccessTokenClaims, TenantryClient } from './index.ts';
import { TenantryError } from './errors.ts';

/**
 * Who is calling a service, from a Tenantry token verified locally (discovery + JWKS, cached, refetched when an unknown
 * key id appears, so signing-key rotation needs nothing from the service):
 * - a person's access token: their id, the tenant they are working in (`tid`) and their roles there;
 * - a machine token (client credentials of an API key): the key's id, its tenant and the permissions it carries.
 */
export type Caller =
  | { kind: 'user'; userId: string; tenantId: string | null; roles: string[]; claims: AccessTokenClaims; token: string }
  | { kind: 'key'; keyId: string; tenantId: string; permissions: string[]; claims: AccessTokenClaims; token: string };

export interface GuardOptions {
  /** Most questions sent to /check in one request (Tenantry takes up to 100). */
  maxBatch?: number;
}

/** A webhook event as Tenantry sends it (docs/webhooks.md): enough to know whose answers to forget. */
export interface TenantryEvent {
  type: string;
  data: { tenantId: string; target?: { type: string | null; id: string | null } };
}

const MAX_ANSWERS = 50_000;

interface Question {
  /** The person's own token: /check answers for its bearer, so the service needs no authority of its own. */
  token: string;
  tenantId: string;
  permission: string;
  resolve: (allowed: boolean) => void;
  reject: (error: unknown) => void;
}

/**
 * The part of a service that decides: `authenticate` turns an `Authorization` header into a `Caller`, `allowed` asks
 * whether it may do `permission` in a tenant. A key's permissions are in its token, so a key is answered locally (in
 * its own tenant only). A person is asked of Tenantry's `/check` with their own token (the service needs no key for
 * it): a person's questions asked in the same tick go in one request, and answers are remembered until the token
 * expires — or until `forget` (or `handleEvent` with a webhook event) says the person or the tenant changed.
 */
export class TenantryGuard {
  readonly #client: TenantryClient;
  readonly #maxBatch: number;
  readonly #answers = new Map<string, { allowed: boolean; until: number }>();
  /** Bumped by every `forget`: an answer fetched before it is not remembered after it. */
  #generation = 0;
  #queue: Question[] = [];
  #scheduled = false;

  constructor(client: TenantryClient, options: GuardOptions = {}) {
    this.#client = client;
    this.#maxBatch = Math.min(options.maxBatch ?? 100, 100);
  }

  /** The caller of an `Authorization: Bearer <token>` header; a `TenantryError` 401 for anything else. */
  async authenticate(authorization: string | undefined): Promise<Caller> {
    const token = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '')?.[1];
    if (token === undefined) throw new TenantryError(401, { code: 'unauthenticated', detail: 'send Authorization: Bearer <a Tenantry access token>' });
    if (token.startsWith('tnty_')) throw new TenantryError(401, { code: 'invalid_token', detail: 'exchange the API key for a machine token at /api/v1/oauth/token' });
    let claims: AccessTokenClaims;
    try {
      claims = await this.#client.verifyAccessToken(token);
    } catch (error) {
      if (error instanceof TenantryError) throw error;
      throw new TenantryError(401, { code: 'invalid_token', detail: error instanceof Error ? error.message : 'the token is not valid' });
    }
    if (typeof claims.client_id === 'string') {
      if (typeof claims.tid !== 'string') throw new TenantryError(401, { code: 'invalid_token', detail: 'a machine token names its tenant' });
      return { kind: 'key', keyId: claims.client_id, tenantId: claims.tid, permissions: (claims.scope ?? '').split(' ').filter(Boolean), claims, token };
    }
    return { kind: 'user', userId: claims.sub, tenantId: claims.tid ?? null, roles: claims.roles ?? [], claims, token };
  }

  /** Whether `caller` may do `permission` in `tenantId` (false, never an error, for a tenant out of their reach). */
  async allowed(caller: Caller, tenantId: string, permission: string): Promise<boolean> {
    if (caller.kind === 'key') return caller.tenantId === tenantId && caller.permissions.includes(permission);
    const key = `${caller.userId}|${tenantId}|${permission}`;
    const known = this.#answers.get(key);
    if (known !== undefined && Date.now() < known.until) return known.allowed;
    if (known !== undefined) this.#answers.delete(key);
    const generation = this.#generation;
    const allowed = await new Promise<boolean>((resolve, reject) => {
      this.#queue.push({ token: caller.token, tenantId, permission, resolve, reject });
      if (!this.#scheduled) {
        this.#scheduled = true;
        queueMicrotask(() => void this.#flush());
      }
    });
    // Remembered while the token that asked is valid: a new token (a switch, a refresh) may ask again.
    if (generation === this.#generation) {
      // Bounded: past the cap the oldest answers go (they are asked again when needed).
      if (this.#answers.size >= MAX_ANSWERS) this.#answers.delete(this.#answers.keys().next().value as string);
      this.#answers.set(key, { allowed, until: (caller.claims.exp ?? 0) * 1000 });
    }
    return allowed;
  }

  /** Drops remembered answers about a person, a tenant, or both (after a change Tenantry told you about). */
  forget(change: { userId?: string; tenantId?: string }): void {
    this.#generation++;
    for (const key of this.#answers.keys()) {
      const [subject, tenantId] = key.split('|');
      if ((change.userId !== undefined && subject === change.userId) || (change.tenantId !== undefined && tenantId === change.tenantId)) this.#answers.delete(key);
    }
  }

  /** Forgets what a Tenantry webhook event may have changed: the tenant's answers, and its target person's everywhere. */
  handleEvent(event: TenantryEvent): void {
    this.forget({ tenantId: event.data.tenantId });
    if (event.data.target?.type === 'user' && event.data.target.id !== null) this.forget({ userId: event.data.target.id });
  }

  async #flush(): Promise<void> {
    this.#scheduled = false;
    const byToken = new Map<string, Question[]>();
    for (const q of this.#queue.splice(0)) byToken.set(q.token, [...(byToken.get(q.token) ?? []), q]);
    for (const [token, questions] of byToken) {
      for (let i = 0; i < questions.length; i += this.#maxBatch) {
        const batch = questions.slice(i, i + this.#maxBatch);
        try {
          const results = await this.#client.checkAs(
            token,
            batch.map(({ tenantId, permission }) => ({ tenantId, permission })),
          );
          for (const [j, q] of batch.entries()) q.resolve(results[j]?.allowed === true);
        } catch (error) {
          for (const q of batch) q.reject(error);
        }
      }
    }
  }
}
