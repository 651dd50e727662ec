import { appendAuditEvent, type AuditContext } from '../audit/audit.repository.ts';
import type { Access } from '../permissions/access.ts';
import { assertCanGrant } from '../permissions/authorize.ts';
import type { Preset } from '../presets/presets.ts';
import type { Clock } from '../platform/clock.ts';
import { type Db, enterTenantContext, inTransaction, readTenant, type Tx, withTenant } from '../platform/db/context.ts';
import type { TaggedCache } from '../platform/tagged-cache.ts';
import type { ActorType } from '../platform/db/schema.ts';
import { AppError } from '../platform/http/errors.ts';
import { assertRoom, lockPlan } from '../plans/plans.service.ts';
import { newId } from '../platform/ids.ts';
import { hashSecret, safeEqual } from '../platform/secrets.ts';
import { ApiKeyErrors } from './api-keys.errors.ts';
import {
  type ApiKeyRow,
  findApiKey,
  findKeyTenantState,
  findLiveKeysMintedBy,
  type KeyTenantState,
  insertApiKey,
  listApiKeys,
  markRevoked,
  touchLastUsed,
} from './api-keys.repository.ts';
import { newApiKeySecret, parseApiKeySecret } from './credentials.ts';
import { RoleErrors } from '../roles/roles.errors.ts';
import type { LicenceStore } from '../licence/licence.ts';

export interface ApiKeyDeps {
  db: Db;
  clock: Clock;
  preset: Preset;
  /** The licence in force (absent: everything licensed); the preset's key feature must be among its features. */
  licence?: Pick<LicenceStore, 'current'>;
  /** The process's cache of key states (`credentials.keys`); absent, every use reads the database. */
  credentials?: { keys: TaggedCache<KeyState> };
  /** A Mosquitto broker kept in step with keys (TENANTRY_MOSQUITTO_URL): told of each new key in its transaction. */
  mosquitto?: { queueKey(trx: Tx, key: { tenantId: string; keyId: string; secret: string }): Promise<void> };
}

/** A key and its tenant's standing, as authenticating a request needs them (cached by key id). */
export interface KeyState {
  key: ApiKeyRow;
  /** Undefined when the tenant is gone. */
  tenant: KeyTenantState | undefined;
}

export type ApiKeyStatus = 'active' | 'expired' | 'revoked';

export interface ApiKeyView {
  id: string;
  tenantId: string;
  name: string;
  permissions: string[];
  status: ApiKeyStatus;
  createdBy: { type: ActorType; id: string | null };
  createdAt: Date;
  expiresAt: Date | null;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}

/** A key that may act right now, as authentication hands it to the request. */
export interface UsableKey {
  keyId: string;
  tenantId: string;
  name: string;
  permissions: readonly string[];
  expiresAt: Date | null;
  createdAt: Date;
}

/** `lastUsedAt` is recorded at this granularity (one write per key per minute at most). */
export const LAST_USED_GRANULARITY_MS = 60_000;

/** Who makes a key: an authorized caller (whose permissions bound the key's), or the operator's CLI. */
export type KeyCreator = { access: Access; audit: AuditContext } | { access: null; audit: AuditContext };

export interface CreateApiKeyInput {
  name: string;
  permissions: readonly string[];
  expiresAt?: Date | null;
}

/** The permission list a key asks for: `["*"]` alone stands for everything the creator may grant here, listed now. */
export const ALL_MY_PERMISSIONS = '*';

function expandAll(deps: ApiKeyDeps, creator: KeyCreator, asked: readonly string[]): readonly string[] {
  if (!asked.includes(ALL_MY_PERMISSIONS)) return asked;
  if (asked.length > 1) throw new AppError(RoleErrors.UNKNOWN_PERMISSION, { detail: '"*" (every permission you hold here) stands alone', permissions: [ALL_MY_PERMISSIONS] });
  return creator.access === null ? [...deps.preset.permissions.keys()] : [...creator.access.roleGrants.keys()];
}

/**
 * SPEC 1 and 4: a key with an explicit permission list, each in the catalogue and held by the creator
 * here (a key can never mint a stronger key). The secret is returned once and only its hash is stored.
 */
export async function createApiKey(deps: ApiKeyDeps, creator: KeyCreator, tenantId: string, input: CreateApiKeyInput): Promise<{ key: ApiKeyView; secret: string }> {
  const permissions = [...new Set(expandAll(deps, creator, input.permissions))].sort();
  const unknown = permissions.filter((p) => !deps.preset.permissions.has(p));
  if (unknown.length > 0) throw new AppError(RoleErrors.UNKNOWN_PERMISSION, { detail: `not in the catalogue: ${unknown.join(', ')}`, permissions: unknown });
  if (creator.access !== null) assertCanGrant(creator.access, permissions);
  const now = deps.clock.now();
  const expiresAt = input.expiresAt ?? null;
  if (expiresAt !== null && expiresAt.getTime() <= now.getTime()) throw new AppError(ApiKeyErrors.INVALID_EXPIRY, { detail: `expiresAt must be later than ${now.toISOString()}` });

  const id = newId('apiKey');
  const secret = newApiKeySecret(tenantId, id);
  const name = input.name.trim();
  const row = await withTenant(deps.db, tenantId, async (trx) => {
    assertRoom(await lockPlan(trx, deps, tenantId), 'apiKeys');
    const inserted = await insertApiKey(trx, {
      tenantId,
      id,
      name,
      permissions,
      secretHash: hashSecret(secret),
      createdBy: { type: creator.audit.actorType, id: creator.audit.actorId },
      expiresAt,
      now,
    });
    await deps.mosquitto?.queueKey(trx, { tenantId, keyId: id, secret });
    // Never the secret nor its hash: the trail is readable by auditors.
    await appendAuditEvent(
      trx,
      creator.audit,
      { tenantId, action: 'api_key.created', targetType: 'api_key', targetId: id, after: { name, permissions, expiresAt: expiresAt?.toISOString() ?? null } },
      now,
    );
    return inserted;
  });
  return { key: present(row, now), secret };
}

export async function listKeys(deps: ApiKeyDeps, tenantId: string): Promise<ApiKeyView[]> {
  const now = deps.clock.now();
  return (await readTenant(deps.db, tenantId, (trx) => listApiKeys(trx, tenantId))).map((row) => present(row, now));
}

/**
 * Revokes at once (every process checks the key on every request), together with every live key it
 * minted, and theirs: a leaked key cannot persist through keys it made. Revoking a revoked key changes nothing.
 */
export async function revokeApiKey(deps: ApiKeyDeps, audit: AuditContext, tenantId: string, keyId: string): Promise<string[]> {
  const now = deps.clock.now();
  return withTenant(deps.db, tenantId, async (trx) => {
    const key = await findApiKey(trx, tenantId, keyId, { forUpdate: true });
    if (key === undefined) throw new AppError(ApiKeyErrors.API_KEY_NOT_FOUND);
    if (key.revoked_at !== null) return [];
    const revoked = await markRevoked(trx, tenantId, [keyId], now);
    await appendAuditEvent(
      trx,
      audit,
      { tenantId, action: 'api_key.revoked', targetType: 'api_key', targetId: keyId, before: { status: status(key, now) }, after: { status: 'revoked' } },
      now,
    );
    for (let minters = [keyId]; minters.length > 0; ) {
      minters = await markRevoked(trx, tenantId, await findLiveKeysMintedBy(trx, tenantId, minters), now);
      for (const id of minters) {
        await appendAuditEvent(
          trx,
          audit,
          { tenantId, action: 'api_key.revoked', targetType: 'api_key', targetId: id, after: { status: 'revoked', mintedByRevokedKey: keyId } },
          now,
        );
      }
      revoked.push(...minters);
    }
    return revoked;
  });
}

/**
 * The person on whose authority a key acts: its creator, or for a key minted by a key, that key's, up the
 * chain; `system` for keys the operator made with the CLI; undefined when the person no longer exists.
 */
export async function keyAuthority(deps: ApiKeyDeps, tenantId: string, keyId: string): Promise<{ userId: string } | 'system' | undefined> {
  return readTenant(deps.db, tenantId, async (trx) => {
    let id: string | null = keyId;
    for (let hops = 0; id !== null && hops < 100; hops++) {
      const key = await findApiKey(trx, tenantId, id);
      if (key === undefined) return undefined;
      if (key.created_by_type === 'system') return 'system';
      if (key.created_by_type === 'user') return key.created_by_id === null ? undefined : { userId: key.created_by_id };
      id = key.created_by_id;
    }
    return undefined;
  });
}

/**
 * The key a secret stands for, if it may act now. Not a valid credential — `401 invalid_api_key`: the secret
 * does not match (constant-time, on hashes), or the key is revoked or expired, or its tenant is deleted. Valid
 * but refused — `403` (SPEC 5): its tenant is not active (`tenant_suspended`), or the preset's key feature is
 * off there (`feature_disabled`). Records use.
 */
export function authenticateSecret(deps: ApiKeyDeps, secret: string, options: UseOptions = {}): Promise<UsableKey> {
  const named = parseApiKeySecret(secret);
  if (named === undefined) return Promise.reject(invalid('the API key is malformed'));
  return loadUsableKey(deps, named, hashSecret(secret), options);
}

/** For a machine token minted from key `keyId`: the key must still be usable (revocation ends its tokens). */
export function authenticateKeyId(deps: ApiKeyDeps, tenantId: string, keyId: string, options: UseOptions = {}): Promise<UsableKey> {
  return loadUsableKey(deps, { tenantId, keyId }, null, options);
}

/** `recordUse: false` for looking at a key without using it (introspection). */
export interface UseOptions {
  recordUse?: boolean;
}

/** A valid key its tenant cannot use now (`403 tenant_suspended` or `403 feature_disabled`), as opposed to an invalid one (401). */
export function isKeyRefusedByTenant(error: unknown): error is AppError {
  return error instanceof AppError && (error.spec === ApiKeyErrors.TENANT_SUSPENDED || error.spec === ApiKeyErrors.FEATURE_DISABLED);
}

async function loadUsableKey(deps: ApiKeyDeps, named: { tenantId: string; keyId: string }, secretHash: string | null, options: UseOptions): Promise<UsableKey> {
  const now = deps.clock.now();
  const feature = deps.preset.apiKeysFeature;
  const read = () => readTenant(deps.db, named.tenantId, (trx) => readKeyState(trx, named, feature));
  const state =
    deps.credentials === undefined ? await read() : await deps.credentials.keys.getOrLoad(`${named.tenantId}|${named.keyId}`, read, (s) => [`key:${s.key.id}`, s.key.tenant_id]);
  const key = state?.key;
  // Validity first: only a holder of a genuine, live credential learns anything about its tenant.
  if (key === undefined || (secretHash !== null && !safeEqual(key.secret_hash, secretHash))) throw invalid('the API key is not known');
  if (key.revoked_at !== null) throw invalid('the API key has been revoked');
  if (key.expires_at !== null && key.expires_at.getTime() <= now.getTime()) throw invalid('the API key has expired');
  const tenant = state?.tenant;
  if (tenant === undefined || tenant.status === 'deleted') throw invalid('the API key is not known');
  const credential = secretHash === null ? `the machine token and its API key ${key.id} are valid` : `the API key ${key.id} is valid`;
  if (tenant.status !== 'active') {
    const until =
      tenant.status !== 'pending_deletion'
        ? 'it works again once the tenant is resumed'
        : tenant.statusBeforeDeletion === 'suspended'
          ? 'it works again if the tenant is restored and then resumed'
          : 'it works again if the tenant is restored';
    throw new AppError(ApiKeyErrors.TENANT_SUSPENDED, {
      detail: `${credential}, but its tenant ${named.tenantId} is ${tenant.status.replace('_', ' ')}; ${until}`,
      tenantId: named.tenantId,
      tenantStatus: tenant.status,
    });
  }
  const off = feature === null ? undefined : whyFeatureOff(deps, feature, tenant.featureOverride, named.tenantId);
  if (off !== undefined) throw new AppError(ApiKeyErrors.FEATURE_DISABLED, { detail: `${credential}, but ${off}`, tenantId: named.tenantId, feature });
  if (options.recordUse !== false && (key.last_used_at === null || now.getTime() - key.last_used_at.getTime() >= LAST_USED_GRANULARITY_MS)) {
    // A plain transaction in the key's tenant context: the "last used" write must not flush permission caches
    // (and fires no NOTIFY). The cached row learns the time too, so the next write is a granularity away.
    await inTransaction(deps.db, async (trx) => {
      await enterTenantContext(trx, named.tenantId);
      await touchLastUsed(trx, named.tenantId, named.keyId, now, LAST_USED_GRANULARITY_MS);
    });
    key.last_used_at = now;
  }
  return { keyId: key.id, tenantId: key.tenant_id, name: key.name, permissions: key.permissions, expiresAt: key.expires_at, createdAt: key.created_at };
}

async function readKeyState(trx: Tx, named: { tenantId: string; keyId: string }, feature: string | null): Promise<KeyState | undefined> {
  const key = await findApiKey(trx, named.tenantId, named.keyId);
  return key === undefined ? undefined : { key, tenant: await findKeyTenantState(trx, named.tenantId, feature) };
}

/** Why the preset's key feature is off for the tenant (SPEC 2's "licensed ∧ (override ?? preset default)"), or undefined when it is on. */
function whyFeatureOff(deps: ApiKeyDeps, feature: string, override: boolean | null, tenantId: string): string | undefined {
  const licensed = deps.licence?.current.features ?? null;
  if (licensed !== null && !licensed.has(feature)) return `API keys need the ${feature} feature, which the licence does not cover`;
  if (!(override ?? deps.preset.features.get(feature)?.default ?? false)) return `API keys need the ${feature} feature, which is off for tenant ${tenantId}`;
  return undefined;
}

/** Not a valid credential: 401, with RFC 6750's challenge. */
function invalid(detail: string): AppError {
  return new AppError(ApiKeyErrors.INVALID_API_KEY, { detail }, { 'www-authenticate': 'Bearer error="invalid_token"' });
}

function status(row: ApiKeyRow, now: Date): ApiKeyStatus {
  if (row.revoked_at !== null) return 'revoked';
  if (row.expires_at !== null && row.expires_at.getTime() <= now.getTime()) return 'expired';
  return 'active';
}

function present(row: ApiKeyRow, now: Date): ApiKeyView {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    name: row.name,
    permissions: row.permissions,
    status: status(row, now),
    createdBy: { type: row.created_by_type, id: row.created_by_id },
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    lastUsedAt: row.last_used_at,
    revokedAt: row.revoked_at,
  };
}
