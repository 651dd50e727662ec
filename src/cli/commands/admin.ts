import { parseArgs } from 'node:util';
import { applyPresetSettings } from '../../presets/apply.ts';
import { loadPreset } from '../../presets/presets.ts';
import { createOperator } from '../../accounts/operator.service.ts';
import { systemClock } from '../../platform/clock.ts';
import { openConfiguredDatabase } from '../../platform/db/open.ts';
import { AppError } from '../../platform/http/errors.ts';
import type { Command } from '../command.ts';

export const admin: Command = {
  name: 'admin',
  usage: 'admin create --email E [--password P] [--name N]',
  summary: 'Create the platform operator (a verified super_admin owning the admin tenancy), or promote an existing account',
  async run(args, config, io) {
    const { positionals, values } = parseArgs({
      args,
      allowPositionals: true,
      options: { email: { type: 'string' }, password: { type: 'string' }, name: { type: 'string' } },
    });
    const password = values.password ?? config.adminPassword;
    if (positionals[0] !== 'create' || values.email === undefined || password === undefined) {
      io.err('usage: tenantry admin create --email you@example.com --password ... (or TENANTRY_ADMIN_PASSWORD) [--name "Your Name"]');
      return 1;
    }
    const database = await openConfiguredDatabase(config);
    try {
      await database.migrate();
      const preset = loadPreset(config.preset);
      await applyPresetSettings(database, preset, config.maxTreeDepth);
      const { user, created } = await createOperator(
        { db: database.db, clock: systemClock, ownerRole: preset.ownerRole },
        { email: values.email, password, ...(values.name ? { name: values.name } : {}) },
      );
      io.out(created ? `Created operator ${user.email} (${user.id}).` : `Promoted ${user.email} (${user.id}) to super_admin.`);
      return 0;
    } catch (error) {
      if (error instanceof AppError) {
        io.err(`tenantry admin create: ${error.message}`);
        return 1;
      }
      throw error;
    } finally {
      await database.close();
    }
  },
};
