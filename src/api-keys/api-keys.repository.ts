import type { Selectable } from 'kysely';
import { invalidateAfterCommit, type Tx } from '../platform/db/context.ts';
import type { ActorType, ApiKeysTable, TenantStatus } from '../platform/db/schema.ts';

export type ApiKeyRow = Selectable<ApiKeysTable>;

export interface NewApiKey {
  tenantId: string;
  id: string;
  name: string;
  permissions: readonly string[];
  secretHash: string;
  createdBy: { type: ActorType; id: string | null };
  expiresAt: Date | null;
  now: Date;
}

export async function insertApiKey(trx: Tx, key: NewApiKey): Promise<ApiKeyRow> {
  return trx
    .insertInto('api_keys')
    .values({
      tenant_id: key.tenantId,
      id: key.id,
      name: key.name,
      permissions: [...key.permissions],
      secret_hash: key.secretHash,
      created_by_type: key.createdBy.type,
      created_by_id: key.createdBy.id,
      created_at: key.now,
      expires_at: key.expiresAt,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** Newest first. The caller's transaction is in the tenant's context. */
export async function listApiKeys(trx: Tx, tenantId: string): Promise<ApiKeyRow[]> {
  return trx.selectFrom('api_keys').selectAll().where('tenant_id', '=', tenantId).orderBy('created_at', 'desc').orderBy('id', 'desc').execute();
}

export async function findApiKey(trx: Tx, tenantId: string, keyId: string, options: { forUpdate?: boolean } = {}): Promise<ApiKeyRow | undefined> {
  const query = trx.selectFrom('api_keys').selectAll().where('tenant_id', '=', tenantId).where('id', '=', keyId);
  return (options.forUpdate ? query.forUpdate() : query).executeTakeFirst();
}

/** The tenant of key `keyId`, whatever its state (a broker names a key by its id alone); the caller is in the system context. */
export async function findApiKeyTenant(trx: Tx, keyId: string): Promise<string | undefined> {
  return (await trx.selectFrom('api_keys').select('tenant_id').where('id', '=', keyId).executeTakeFirst())?.tenant_id;
}

/** Revokes the live keys among `keyIds`; returns the ids it revoked. */
export async function markRevoked(trx: Tx, tenantId: string, keyIds: readonly string[], now: Date): Promise<string[]> {
  if (keyIds.length === 0) return [];
  const rows = await trx
    .updateTable('api_keys')
    .set({ revoked_at: now })
    .where('tenant_id', '=', tenantId)
    .where('id', 'in', [...keyIds])
    .where('revoked_at', 'is', null)
    .returning('id')
    .execute();
  for (const { id } of rows) invalidateAfterCommit(trx, `key:${id}`);
  return rows.map((r) => r.id).sort();
}

/** The live keys minted by any of `keyIds`. */
export async function findLiveKeysMintedBy(trx: Tx, tenantId: string, keyIds: readonly string[]): Promise<string[]> {
  if (keyIds.length === 0) return [];
  const rows = await trx
    .selectFrom('api_keys')
    .select('id')
    .where('tenant_id', '=', tenantId)
    .where('created_by_type', '=', 'api_key')
    .where('created_by_id', 'in', [...keyIds])
    .where('revoked_at', 'is', null)
    .forUpdate()
    .execute();
  return rows.map((r) => r.id);
}

/**
 * Records use at most once per `granularityMs` per key, so a busy key does not turn every request into
 * a write (the same trade-off GitHub and Stripe make for "last used").
 */
export async function touchLastUsed(trx: Tx, tenantId: string, keyId: string, now: Date, granularityMs: number): Promise<void> {
  await trx
    .updateTable('api_keys')
    .set({ last_used_at: now })
    .where('tenant_id', '=', tenantId)
    .where('id', '=', keyId)
    .where((eb) => eb.or([eb('last_used_at', 'is', null), eb('last_used_at', '<', new Date(now.getTime() - granularityMs))]))
    .execute();
}

/** Tenant facts a key's usability depends on: its status and, when the preset gates keys, that feature. */
export interface KeyTenantState {
  status: TenantStatus;
  /** While pending deletion: what a restore brings back (a tenant suspended before it was deleted comes back suspended). */
  statusBeforeDeletion: 'active' | 'suspended' | null;
  featureOverride: boolean | null;
}

export async function findKeyTenantState(trx: Tx, tenantId: string, feature: string | null): Promise<KeyTenantState | undefined> {
  const tenant = await trx.selectFrom('tenants').select(['status', 'status_before_deletion']).where('id', '=', tenantId).executeTakeFirst();
  if (tenant === undefined) return undefined;
  const state = { status: tenant.status, statusBeforeDeletion: tenant.status_before_deletion };
  if (feature === null) return { ...state, featureOverride: null };
  const override = await trx.selectFrom('tenant_features').select('enabled').where('tenant_id', '=', tenantId).where('feature', '=', feature).executeTakeFirst();
  return { ...state, featureOverride: override?.enabled ?? null };
}
