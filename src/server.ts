import type { FastifyBaseLogger } from 'fastify';
import { createOperator, issueSetupLink, type OperatorDeps } from './accounts/operator.service.ts';
import { buildApp } from './app.ts';
import { systemClock } from './platform/clock.ts';
import type { Config } from './platform/config.ts';
import type { Database } from './platform/db/database.ts';
import { openConfiguredDatabase } from './platform/db/open.ts';
import { findIsolationProblems } from './platform/db/safety.ts';
import type { FastifyTypebox } from './platform/http/types.ts';
import { applyPresetSettings } from './presets/apply.ts';
import { ensureRootTenant } from './tenants/root-tenant.ts';
import { loadPreset } from './presets/presets.ts';
import { loadSecretKey } from './tokens/secret-key.ts';

export class UnsafeDatabaseError extends Error {
  override name = 'UnsafeDatabaseError';
}

export interface RunningServer {
  app: FastifyTypebox;
  database: Database;
  operator: OperatorBootstrap;
  url: string;
  /** Stops accepting requests, drains in-flight ones, then closes the database. Idempotent. */
  stop(): Promise<void>;
}

/**
 * The composition root: real dependencies in, a listening server out. Migrates, then refuses to serve if
 * the application's database role would not be confined by row-level security.
 */
export async function startServer(config: Config): Promise<RunningServer> {
  const database = await openConfiguredDatabase(config);
  let app: FastifyTypebox | undefined;
  let operator: OperatorBootstrap = { kind: 'exists' };
  try {
    await database.migrate();
    const preset = loadPreset(config.preset);
    await applyPresetSettings(database, preset, config.maxTreeDepth);
    await ensureRootTenant({ db: database.db, clock: systemClock, preset, config });
    const problems = await findIsolationProblems(database.db);
    if (problems.length > 0) {
      throw new UnsafeDatabaseError(`refusing to serve: tenant isolation would not hold:\n- ${problems.join('\n- ')}`);
    }
    const secretKey = loadSecretKey(config);
    app = await buildApp({ config, database, clock: systemClock, secretKey, preset }, { startBackgroundJobs: true });
    await app.ready();
    operator = await bootstrapOperator(config, { db: database.db, clock: systemClock, ownerRole: preset.ownerRole });
    await app.listen({ port: config.port, host: config.host });
  } catch (error) {
    await app?.close();
    await database.close();
    throw error;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : config.port;
  const running = app;
  let stopping: Promise<void> | undefined;
  return {
    app: running,
    database,
    operator,
    url: `http://localhost:${port}`,
    stop: () =>
      (stopping ??= (async () => {
        try {
          await drainAndClose(running);
        } finally {
          await database.close();
        }
      })()),
  };
}

export type OperatorBootstrap = { kind: 'exists' } | { kind: 'configured'; email: string; created: boolean } | { kind: 'setup-link'; link: string };

/**
 * SPEC 5.2: TENANTRY_ADMIN_EMAIL/PASSWORD make (or promote) the operator on every start; with neither set
 * and no operator yet, a one-time setup link is issued for the console.
 */
async function bootstrapOperator(config: Config, deps: OperatorDeps): Promise<OperatorBootstrap> {
  if (config.adminEmail !== undefined && config.adminPassword !== undefined) {
    const { created } = await createOperator(deps, { email: config.adminEmail, password: config.adminPassword });
    return { kind: 'configured', email: config.adminEmail, created };
  }
  const link = await issueSetupLink(deps, config.publicUrl);
  return link === undefined ? { kind: 'exists' } : { kind: 'setup-link', link };
}

/**
 * From this call on, new requests are answered 503 `shutting_down` (with `Connection: close`); the
 * returned promise settles once every in-flight request has been answered and the listener is closed.
 */
export function drainAndClose(app: FastifyTypebox): Promise<void> {
  app.runtime.draining = true;
  return app.close();
}

/** SIGTERM/SIGINT drain and exit; a second signal exits at once. */
export function stopOnSignals(server: RunningServer, log: FastifyBaseLogger): void {
  let received = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (received) {
      log.warn({ signal }, 'second signal: exiting without draining');
      process.exit(1);
    }
    received = true;
    log.info({ signal }, 'shutting down: draining in-flight requests');
    server.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        log.error({ err: error }, 'error during shutdown');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
