import { calculateJwkThumbprint, type CryptoKey, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import { type Kysely, sql } from 'kysely';
import type { Clock } from '../platform/clock.ts';
import { inTransaction } from '../platform/db/context.ts';
import type { DB } from '../platform/db/schema.ts';
import { openSecret, sealSecret } from '../platform/secret-box.ts';

/** ES256: the signature every JWT library verifies. */
export const SIGNING_ALG = 'ES256';

export interface KeyStoreOptions {
  db: Kysely<DB>;
  /** 32 bytes; private keys are stored only sealed under it (secret-box.ts). */
  secretKey: Buffer;
  clock: Clock;
  /** The longest an access token lives (default 600 s): a retired key stays published this long + 60 s. */
  accessTokenTtlSeconds?: number;
}

export interface SigningKey {
  kid: string;
  key: CryptoKey;
}

/** A row of `signing_keys` without its key material, for `tenantry keys list`. */
export interface SigningKeyInfo {
  kid: string;
  alg: string;
  createdAt: Date;
  retiredAt: Date | null;
}

/** What the JWKS publishes for one key. */
export interface PublicSigningJwk {
  kty: string;
  crv: string;
  x: string;
  y: string;
  kid: string;
  alg: typeof SIGNING_ALG;
  use: 'sig';
}

interface EcPublicJwk {
  kty: 'EC';
  crv: 'P-256';
  x: string;
  y: string;
}

interface StoredKey {
  kid: string;
  publicJwk: EcPublicJwk;
  sealedPrivateJwk: string;
  createdAt: Date;
  retiredAt: Date | null;
}

/** How long the in-memory copy of the key table is trusted. */
const CACHE_MS = 60_000;
/** An unknown kid reloads the table at most this often, so random kids cannot hammer the database. */
const UNKNOWN_KID_RELOAD_MS = 1_000;
/**
 * How long a retired key keeps being published beyond the token lifetime: other processes may sign
 * with it for up to CACHE_MS after it was retired, until their cache expires.
 */
const RETIRED_GRACE_SECONDS = CACHE_MS / 1000;

/**
 * The access-token signing keys (table `signing_keys`, not tenant-scoped).
 *
 * The newest key that is not retired signs. `rotate()` adds a key and retires the previous ones: they
 * stop signing at once but stay published (and verify) for the token lifetime + 60 s, so rotation
 * logs nobody out. Creating the first key and rotating both hold a transaction-scoped advisory lock,
 * so two processes starting together end up with one key, not two.
 */
export class KeyStore {
  readonly accessTokenTtlSeconds: number;
  readonly #db: Kysely<DB>;
  readonly #secretKey: Buffer;
  readonly #clock: Clock;
  #cache: { loadedAt: number; keys: StoredKey[] } | undefined;
  #loading: Promise<StoredKey[]> | undefined;
  /** Bumped by every local change, so a load that started before it is not cached after it. */
  #generation = 0;
  #lastUnknownKidReload: number | undefined;
  readonly #publicKeys = new Map<string, Promise<CryptoKey>>();
  readonly #privateKeys = new Map<string, Promise<CryptoKey>>();

  constructor(options: KeyStoreOptions) {
    if (options.secretKey.length !== 32) throw new Error('KeyStore: the secret key must be 32 bytes');
    const ttl = options.accessTokenTtlSeconds ?? 600;
    if (!Number.isInteger(ttl) || ttl <= 0) throw new Error('KeyStore: accessTokenTtlSeconds must be a positive integer');
    this.#db = options.db;
    this.#secretKey = options.secretKey;
    this.#clock = options.clock;
    this.accessTokenTtlSeconds = ttl;
  }

  /** The key new tokens are signed with; the first one is created on demand. */
  async signingKey(): Promise<SigningKey> {
    let current = newestActive(await this.#keys());
    if (current === undefined) {
      await this.#createFirstKey();
      current = newestActive(await this.#keys());
      if (current === undefined) throw new Error('KeyStore: no signing key after creating one');
    }
    return { kid: current.kid, key: await this.#privateKey(current) };
  }

  /** Adds a signing key and retires the previous ones (they keep verifying for a while). Returns the new kid. */
  async rotate(): Promise<string> {
    const fresh = await this.#generate();
    const now = this.#clock.now();
    await inTransaction(this.#db, async (trx) => {
      await lockSigningKeys(trx);
      await trx.insertInto('signing_keys').values(fresh.row(now)).execute();
      await trx.updateTable('signing_keys').set({ retired_at: now }).where('retired_at', 'is', null).where('kid', '!=', fresh.kid).execute();
    });
    this.#invalidate();
    return fresh.kid;
  }

  /** The keys a verifier needs: active ones and those retired within the token lifetime + 60 s, newest first. */
  async publicKeys(): Promise<PublicSigningJwk[]> {
    let keys = await this.#keys();
    // Publish the signing key before the first token needs it: a verifier that fetched an empty set may
    // not fetch again for a while.
    if (newestActive(keys) === undefined) {
      await this.#createFirstKey();
      keys = await this.#keys();
    }
    const now = this.#clock.now().getTime();
    return keys.filter((k) => this.#publishable(k, now)).map(publicJwk);
  }

  /** The public key for `kid`, if it is published; an unknown kid reloads the table (rate-limited). */
  async verificationKey(kid: string): Promise<CryptoKey | undefined> {
    let stored = this.#find(await this.#keys(), kid);
    if (stored === undefined && this.#mayReloadForUnknownKid()) {
      // Perhaps another process rotated since the table was read.
      this.#cache = undefined;
      stored = this.#find(await this.#keys(), kid);
    }
    if (stored === undefined) return undefined;
    let key = this.#publicKeys.get(stored.kid);
    if (key === undefined) {
      const found = stored;
      key = importJWK(found.publicJwk, SIGNING_ALG).then(asCryptoKey);
      this.#publicKeys.set(found.kid, key);
      key.catch(() => this.#publicKeys.delete(found.kid));
    }
    return key;
  }

  /** Every key ever created (retired ones included), newest first, without key material. */
  listKeys(): Promise<SigningKeyInfo[]> {
    return listSigningKeys(this.#db);
  }

  /** Forget the cached table (the next call reloads it). */
  invalidate(): void {
    this.#invalidate();
  }

  #invalidate(): void {
    this.#cache = undefined;
    this.#loading = undefined;
    this.#generation += 1;
  }

  #mayReloadForUnknownKid(): boolean {
    const now = this.#clock.now().getTime();
    const last = this.#lastUnknownKidReload;
    // A clock that moved backwards counts as "long enough ago".
    if (last !== undefined && now >= last && now - last < UNKNOWN_KID_RELOAD_MS) return false;
    this.#lastUnknownKidReload = now;
    return true;
  }

  #find(keys: StoredKey[], kid: string): StoredKey | undefined {
    const now = this.#clock.now().getTime();
    return keys.find((k) => k.kid === kid && this.#publishable(k, now));
  }

  #publishable(key: StoredKey, now: number): boolean {
    return key.retiredAt === null || now - key.retiredAt.getTime() < (this.accessTokenTtlSeconds + RETIRED_GRACE_SECONDS) * 1000;
  }

  async #keys(): Promise<StoredKey[]> {
    const now = this.#clock.now().getTime();
    const cache = this.#cache;
    if (cache !== undefined && now >= cache.loadedAt && now - cache.loadedAt < CACHE_MS) return cache.keys;
    if (this.#loading === undefined) {
      const generation = this.#generation;
      const loading = this.#load().then(
        (keys) => {
          if (this.#generation === generation) this.#cache = { loadedAt: now, keys };
          if (this.#loading === loading) this.#loading = undefined;
          return keys;
        },
        (error: unknown) => {
          if (this.#loading === loading) this.#loading = undefined;
          throw error;
        },
      );
      this.#loading = loading;
    }
    return this.#loading;
  }

  async #load(): Promise<StoredKey[]> {
    const cutoff = new Date(this.#clock.now().getTime() - (this.accessTokenTtlSeconds + RETIRED_GRACE_SECONDS) * 1000);
    const rows = await this.#db
      .selectFrom('signing_keys')
      .select(['kid', 'public_jwk', 'private_jwk_encrypted', 'created_at', 'retired_at'])
      .where('alg', '=', SIGNING_ALG)
      .where((eb) => eb.or([eb('retired_at', 'is', null), eb('retired_at', '>', cutoff)]))
      // Newest first: active keys, then the most recently retired; ties broken the same way everywhere.
      .orderBy('retired_at', (ob) => ob.desc().nullsFirst())
      .orderBy('created_at', 'desc')
      .orderBy('kid', 'desc')
      .execute();
    return rows.map((r) => ({
      kid: r.kid,
      publicJwk: ecPublicJwk(r.kid, r.public_jwk),
      sealedPrivateJwk: r.private_jwk_encrypted,
      createdAt: new Date(r.created_at),
      retiredAt: r.retired_at === null ? null : new Date(r.retired_at),
    }));
  }

  async #createFirstKey(): Promise<void> {
    // Generated outside the transaction to keep it short; discarded if another process won.
    const fresh = await this.#generate();
    await inTransaction(this.#db, async (trx) => {
      await lockSigningKeys(trx);
      const active = await trx.selectFrom('signing_keys').select('kid').where('alg', '=', SIGNING_ALG).where('retired_at', 'is', null).limit(1).executeTakeFirst();
      if (active === undefined) await trx.insertInto('signing_keys').values(fresh.row(this.#clock.now())).execute();
    });
    this.#invalidate();
  }

  async #generate(): Promise<{ kid: string; row: (now: Date) => SigningKeyRow }> {
    const { publicKey, privateKey } = await generateKeyPair(SIGNING_ALG, { extractable: true });
    const publicJwk = await exportJWK(publicKey);
    const privateJwk = await exportJWK(privateKey);
    const kid = await calculateJwkThumbprint(publicJwk, 'sha256');
    const sealed = sealSecret(this.#secretKey, JSON.stringify(privateJwk));
    const stored = ecPublicJwk(kid, publicJwk);
    return {
      kid,
      row: (now) => ({
        kid,
        alg: SIGNING_ALG,
        public_jwk: JSON.stringify(stored),
        private_jwk_encrypted: sealed,
        created_at: now,
      }),
    };
  }

  #privateKey(stored: StoredKey): Promise<CryptoKey> {
    let key = this.#privateKeys.get(stored.kid);
    if (key === undefined) {
      key = (async () => {
        let jwk: JWK;
        try {
          jwk = JSON.parse(openSecret(this.#secretKey, stored.sealedPrivateJwk)) as JWK;
        } catch {
          throw new Error(
            `signing key ${stored.kid} cannot be decrypted: it was sealed with a different secret key ` +
              `(TENANTRY_SECRET_KEY or <data dir>/secret.key changed). Restore the old secret key, ` +
              'or run `tenantry keys rotate` to start signing with a new key.',
          );
        }
        return asCryptoKey(await importJWK(jwk, SIGNING_ALG));
      })();
      this.#privateKeys.set(stored.kid, key);
      key.catch(() => this.#privateKeys.delete(stored.kid));
    }
    return key;
  }
}

interface SigningKeyRow {
  kid: string;
  alg: string;
  public_jwk: string;
  private_jwk_encrypted: string;
  created_at: Date;
}

/** Every signing key ever created (retired ones included), newest first, without key material. */
export async function listSigningKeys(db: Kysely<DB>): Promise<SigningKeyInfo[]> {
  const rows = await db
    .selectFrom('signing_keys')
    .select(['kid', 'alg', 'created_at', 'retired_at'])
    .orderBy('retired_at', (ob) => ob.desc().nullsFirst())
    .orderBy('created_at', 'desc')
    .orderBy('kid', 'desc')
    .execute();
  return rows.map((r) => ({ kid: r.kid, alg: r.alg, createdAt: new Date(r.created_at), retiredAt: r.retired_at === null ? null : new Date(r.retired_at) }));
}

function newestActive(keys: StoredKey[]): StoredKey | undefined {
  // Already ordered newest first.
  return keys.find((k) => k.retiredAt === null);
}

function publicJwk(key: StoredKey): PublicSigningJwk {
  const { kty, crv, x, y } = key.publicJwk;
  return { kty, crv, x, y, kid: key.kid, alg: SIGNING_ALG, use: 'sig' };
}

function ecPublicJwk(kid: string, value: unknown): EcPublicJwk {
  const jwk = (typeof value === 'string' ? JSON.parse(value) : value) as Record<string, unknown> | null;
  const { kty, crv, x, y } = jwk ?? {};
  if (kty !== 'EC' || crv !== 'P-256' || typeof x !== 'string' || typeof y !== 'string') {
    throw new Error(`signing key ${kid}: public_jwk is not a P-256 key`);
  }
  return { kty, crv, x, y };
}

function asCryptoKey(key: CryptoKey | Uint8Array): CryptoKey {
  if (key instanceof Uint8Array) throw new Error('expected an asymmetric key');
  return key;
}

/** Serialises key creation and rotation across processes for the rest of the transaction. */
async function lockSigningKeys(trx: Kysely<DB>): Promise<void> {
  await sql`SELECT pg_advisory_xact_lock(hashtext('tenantry.signing_keys'))`.execute(trx);
}
