import { existsSync } from 'node:fs';
import { loadConfig } from '../../src/platform/config.ts';
import { type FaultPoint, injectFaults } from '../../src/platform/db/faults.ts';
import { startServer, stopOnSignals } from '../../src/server.ts';

/**
 * The server as `tenantry serve` runs it, in a process of its own, for the crash tests (test/hostile/crashes.test.ts),
 * with one fault point armed: while the file CRASH_FILE exists, a transaction reaching CRASH_AT stops there, says
 * "PAUSED <point>" on stdout and waits for the file to go (or for the process to be killed).
 */
const point = process.env.CRASH_AT as FaultPoint;
const trigger = process.env.CRASH_FILE ?? '';
const server = await startServer(loadConfig(process.env));
injectFaults(server.database.db, async (at) => {
  if (at !== point || !existsSync(trigger)) return;
  process.stdout.write(`PAUSED ${at}\n`);
  while (existsSync(trigger)) await new Promise((resolve) => setTimeout(resolve, 20));
});
process.once('SIGTERM', () => process.stdout.write('SHUTTING DOWN\n'));
stopOnSignals(server, server.app.log);
process.stdout.write(`LISTENING ${server.url}\n`);
