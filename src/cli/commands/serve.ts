import { startServer, stopOnSignals } from '../../server.ts';
import type { Command } from '../command.ts';

export const serve: Command = {
  name: 'serve',
  summary: 'Migrate the database and serve the API and portal',
  async run(_args, config, io) {
    const server = await startServer(config);
    stopOnSignals(server, server.app.log);
    const engine = server.database.engine === 'pglite' ? `embedded PGlite in ${config.dataDir}` : 'PostgreSQL';
    io.out(`Tenantry is running at ${config.publicUrl} (listening on ${server.url}, database: ${engine})`);
    io.out(`API reference: ${config.publicUrl}/api/docs`);
    const operator = server.operator;
    if (operator.kind === 'setup-link') {
      io.out('');
      io.out('No platform operator exists yet. Create one within 24 hours with this one-time link:');
      io.out(`  ${operator.link}`);
      io.out('(or set TENANTRY_ADMIN_EMAIL and TENANTRY_ADMIN_PASSWORD, or run `tenantry admin create`)');
    } else if (operator.kind === 'configured') {
      io.out(`Operator: sign in as ${operator.email}${operator.created ? ' (account created now)' : ''}`);
    }
    // Keep running until a signal stops the server.
    await new Promise<never>(() => {});
    return 0;
  },
};
