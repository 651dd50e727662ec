import { sql } from 'kysely';
import type { Database } from '../platform/db/database.ts';
import type { Preset } from './presets.ts';

/**
 * Writes what the database's own invariants need from the preset: which role is the owner role (the
 * last-owner trigger) and how deep the tree may grow (the tree trigger). Runs as the schema owner at
 * start-up, after migrations.
 */
export async function applyPresetSettings(database: Database, preset: Preset, maxTreeDepth = preset.maxDepth): Promise<void> {
  await database.withOwner(async (owner) => {
    for (const [key, value] of [
      ['owner_role', preset.ownerRole],
      ['max_tree_depth', String(maxTreeDepth)],
    ] as const) {
      await sql`
        INSERT INTO platform_settings (key, value) VALUES (${key}, ${value})
        ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value
      `.execute(owner);
    }
  });
}
