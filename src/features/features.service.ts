import { appendAuditEvent } from '../audit/audit.repository.ts';
import type { Access } from '../permissions/access.ts';
import type { Authorized } from '../permissions/authorize.ts';
import type { Clock } from '../platform/clock.ts';
import { type Db, readTenant, withTenant } from '../platform/db/context.ts';
import { AppError } from '../platform/http/errors.ts';
import type { Preset } from '../presets/presets.ts';
import { LicenceErrors } from '../licence/licence.errors.ts';
import { FeatureErrors } from './features.errors.ts';
import { deleteFeatureOverride, listFeatureOverrides, lockTenantFeatures, upsertFeatureOverride } from './features.repository.ts';
import type { LicenceStore } from '../licence/licence.ts';

export interface FeatureDeps {
  db: Db;
  clock: Clock;
  preset: Preset;
  /** Whether the licence covers a feature (TENANTRY_LICENCE_FILE; everything without one). */
  licence: Pick<LicenceStore, 'isLicensed'>;
}

export interface FeatureView {
  key: string;
  name: string;
  description: string | null;
  enabled: boolean;
  default: boolean;
  /** Whether the licence covers it: an unlicensed feature is off everywhere and cannot be turned on. */
  licensed: boolean;
}

/** The preset's features, in preset order, with whether each is on in the tenant. */
export async function listFeatures(deps: FeatureDeps, access: Access): Promise<FeatureView[]> {
  const overrides = await readTenant(deps.db, access.tenantId, (trx) => listFeatureOverrides(trx, access.tenantId));
  return present(deps, overrides);
}

/**
 * Turns features on and off for the tenant. An override equal to the preset's default is removed rather
 * than stored, so a later change of the default reaches the tenant. Turning a feature off only hides
 * what it guards (the permissions requiring it stop counting); no data is touched (SPEC 4).
 */
export async function setFeatures(deps: FeatureDeps, caller: Authorized, changes: Readonly<Record<string, boolean>>): Promise<FeatureView[]> {
  const { access, audit } = caller;
  const unknown = Object.keys(changes)
    .filter((key) => !deps.preset.features.has(key))
    .sort();
  if (unknown.length > 0) {
    throw new AppError(FeatureErrors.UNKNOWN_FEATURE, { detail: `not a feature of the ${deps.preset.name} preset: ${unknown.join(', ')}`, unknownFeatures: unknown });
  }
  const unlicensed = Object.keys(changes)
    .filter((key) => changes[key] === true && !deps.licence.isLicensed(key))
    .sort();
  if (unlicensed.length > 0) {
    throw new AppError(LicenceErrors.FEATURE_NOT_LICENSED, {
      detail: `the licence does not cover ${unlicensed.join(', ')}; ask the operator to extend it`,
      unlicensedFeatures: unlicensed,
    });
  }
  const now = deps.clock.now();
  return withTenant(deps.db, access.tenantId, async (trx) => {
    await lockTenantFeatures(trx, access.tenantId);
    const overrides = await listFeatureOverrides(trx, access.tenantId);
    const stored = new Map(overrides);
    const before = present(deps, overrides);
    for (const [key, enabled] of Object.entries(changes)) {
      const feature = deps.preset.features.get(key);
      if (feature === undefined) continue;
      if (enabled === feature.default) {
        if (overrides.has(key)) await deleteFeatureOverride(trx, { tenantId: access.tenantId, feature: key });
        overrides.delete(key);
      } else if (overrides.get(key) !== enabled) {
        await upsertFeatureOverride(trx, { tenantId: access.tenantId, feature: key, enabled, now });
        overrides.set(key, enabled);
      }
    }
    const after = present(deps, overrides);
    // Compared as stored, not as in force: turning off a feature the licence does not cover changes nothing
    // today, but it is the tenant's own setting once the licence covers it, so it is audited like any other.
    const changed = overrides.size !== stored.size || [...overrides].some(([key, enabled]) => stored.get(key) !== enabled);
    if (changed) {
      await appendAuditEvent(
        trx,
        audit,
        {
          tenantId: access.tenantId,
          action: 'features.updated',
          targetType: 'tenant',
          targetId: access.tenantId,
          before: { features: enabledMap(before), overrides: Object.fromEntries(stored) },
          after: { features: enabledMap(after), overrides: Object.fromEntries(overrides) },
        },
        now,
      );
    }
    return after;
  });
}

function present(deps: Pick<FeatureDeps, 'preset' | 'licence'>, overrides: ReadonlyMap<string, boolean>): FeatureView[] {
  return [...deps.preset.features.values()].map((f) => {
    const licensed = deps.licence.isLicensed(f.key);
    return { key: f.key, name: f.name, description: f.description, enabled: licensed && (overrides.get(f.key) ?? f.default), default: f.default, licensed };
  });
}

function enabledMap(features: readonly FeatureView[]): Record<string, boolean> {
  return Object.fromEntries(features.map((f) => [f.key, f.enabled]));
}
