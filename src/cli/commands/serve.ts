import { ensurePortalBuilt } from '../../portal/build.ts';
import { startServer, stopOnSignals } from '../../server.ts';
import type { Command } from '../command.ts';

export const serve: Command = {
  name: 'serve',
  summary: 'Migrate the database and serve the API and portal',
  async run(_args, config, io) {
    // A fresh clone serves the portal with no extra command: build it first when it is missing or stale.
    const portal = await ensurePortalBuilt();
    if (portal.built) io.out('Built the web portal (portal/dist).');
    if (portal.problem !== undefined) io.err(`Serving the API without the web portal: ${portal.problem}`);
    const server = await startServer(config);
    stopOnSignals(server, server.app.log);
    const engine = server.database.engine === 'pglite' ? `embedded PGlite in ${config.dataDir}` : 'PostgreSQL';
    io.out(`Tenantry is running: open ${config.publicUrl} (listening on ${server.url}, database: ${engine})`);
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
