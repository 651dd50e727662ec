import { sql } from 'kysely';
import type { Database } from '../platform/db/database.ts';
import type { Preset } from './presets.ts';

/**
 * Writes what the database's own invariants need from the preset: which role is the owner role (the
 * last-owner trigger), how deep the tree may grow (the tree trigger), which plan a new tenant starts on
 * (empty: the preset has no plans) and which roles of the admin tenancy make operator staff (shadow access;
 * a change re-syncs every shadow membership at once, migration 0013). Runs as the schema owner at start-up,
 * after migrations.
 */
export async function applyPresetSettings(database: Database, preset: Preset, maxTreeDepth = preset.maxDepth): Promise<void> {
  await writePlatformSettings(database, {
    owner_role: preset.ownerRole,
    max_tree_depth: String(maxTreeDepth),
    default_plan: preset.defaultPlan ?? '',
    staff_roles: preset.staffRoles.join(','),
  });
}

/** Upserts values the database's triggers read from `platform_settings` (as the schema owner). */
export async function writePlatformSettings(database: Database, settings: Readonly<Record<string, string>>): Promise<void> {
  await database.withOwner(async (owner) => {
    for (const [key, value] of Object.entries(settings)) {
      await sql`
        INSERT INTO platform_settings (key, value) VALUES (${key}, ${value})
        ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value
      `.execute(owner);
    }
  });
}
