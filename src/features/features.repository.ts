import type { Tx } from '../platform/db/context.ts';

/** The tenant's feature overrides (absent = the preset's default). Caller is in the tenant's context. */
export async function listFeatureOverrides(trx: Tx, tenantId: string): Promise<Map<string, boolean>> {
  const rows = await trx.selectFrom('tenant_features').select(['feature', 'enabled']).where('tenant_id', '=', tenantId).execute();
  return new Map(rows.map((row) => [row.feature, row.enabled]));
}

/**
 * Locks the tenant row against concurrent feature changes (NO KEY UPDATE: inserts that reference the
 * tenant are not held up), so the before/after this transaction records is the truth.
 */
export async function lockTenantFeatures(trx: Tx, tenantId: string): Promise<void> {
  await trx.selectFrom('tenants').select('id').where('id', '=', tenantId).forNoKeyUpdate().executeTakeFirstOrThrow();
}

export async function upsertFeatureOverride(trx: Tx, override: { tenantId: string; feature: string; enabled: boolean; now: Date }): Promise<void> {
  await trx
    .insertInto('tenant_features')
    .values({ tenant_id: override.tenantId, feature: override.feature, enabled: override.enabled, updated_at: override.now })
    .onConflict((oc) => oc.columns(['tenant_id', 'feature']).doUpdateSet({ enabled: override.enabled, updated_at: override.now }))
    .execute();
}

export async function deleteFeatureOverride(trx: Tx, override: { tenantId: string; feature: string }): Promise<void> {
  await trx.deleteFrom('tenant_features').where('tenant_id', '=', override.tenantId).where('feature', '=', override.feature).execute();
}
