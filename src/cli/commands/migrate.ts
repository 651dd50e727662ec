import { openConfiguredDatabase } from '../../platform/db/open.ts';
import type { Command } from '../command.ts';

export const migrate: Command = {
  name: 'migrate',
  summary: 'Apply pending database migrations and exit',
  async run(_args, config, io) {
    const database = await openConfiguredDatabase(config);
    try {
      const applied = await database.migrate();
      io.out(applied.length === 0 ? 'Database is up to date.' : `Applied ${applied.length} migration(s):`);
      for (const name of applied) io.out(`  ${name}`);
      return 0;
    } finally {
      await database.close();
    }
  },
};
