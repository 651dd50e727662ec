import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyBaseLogger } from 'fastify';
import type { DestinationStream } from 'pino';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import cookie from '@fastify/cookie';
import rateLimit from '@fastify/rate-limit';
import { installDenialAudit } from './audit/denials.ts';
import { Redis } from 'ioredis';
import { installAuthentication } from './auth/authenticate.ts';
import { features } from './features.ts';
import { LicenceStore } from './licence/licence.ts';
import { createMailTransport } from './mail/transports.ts';
import { OutboxWorker } from './mail/outbox.ts';
import { CredentialCache } from './auth/credential-cache.ts';
import { TaggedCache } from './platform/tagged-cache.ts';
import { OncePer } from './platform/once-per.ts';
import { TENANT_ACTIVITY_GRANULARITY_MS } from './tenants/tenants.repository.ts';
import { AccessResolver, INVALIDATE_CHANNEL } from './permissions/access-resolver.ts';
import { onCommittedScope } from './platform/db/context.ts';
import { applyDuePlanChanges } from './plans/plans.service.ts';
import { purgeDueTenants } from './tenants/deletion.service.ts';
import { KeyStore } from './tokens/key-store.ts';
import type { AppDeps } from './platform/deps.ts';
import { AppError, HttpErrors } from './platform/http/errors.ts';
import { installIdempotency, withIdempotencyKeyParameter } from './platform/http/idempotency.ts';
import { installInputGuard, installJsonParser } from './platform/http/input-guard.ts';
import { createMetrics, instrumentHttp } from './platform/http/metrics.ts';
import { installProblemHandlers, sendProblem } from './platform/http/problem.ts';
import { installPortal } from './portal/portal.ts';
import { installValidators } from './platform/http/validation.ts';
import { writePlatformSettings } from './presets/apply.ts';
import type { FastifyTypebox } from './platform/http/types.ts';
import { createLogger } from './platform/logger.ts';
import type { UserTenant } from './members/memberships.repository.ts';

export interface BuildOptions {
  /** Where log lines go (default stdout); tests pass a stream that captures them. */
  logStream?: DestinationStream;
  /** Start background work (mail delivery) when the app is ready. The server does; tests drive it by hand. */
  startBackgroundJobs?: boolean;
  /**
   * The built portal to serve (default `portal/dist`); API tests pass a directory without one, so unknown paths stay
   * problem documents whether or not a portal was built on this machine.
   */
  portalDir?: string;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const JOB_INTERVAL_MS = 60_000;

export const API_VERSION = '0.1.0';

/** The composition root's HTTP half: everything is injected, nothing is read from the environment here. */
export async function buildApp(deps: AppDeps, options: BuildOptions = {}): Promise<FastifyTypebox> {
  const logger: FastifyBaseLogger = createLogger(deps.config.logLevel, options.logStream);
  const app = Fastify({
    loggerInstance: logger,
    bodyLimit: deps.config.bodyLimit,
    genReqId: (req) => {
      const incoming = req.headers['x-request-id'];
      return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    },
    // We answer 503 ourselves while draining, as a problem document.
    return503OnClosing: false,
    // The router's own refusals (a path that is not valid percent-encoded UTF-8, e.g. an encoded lone
    // surrogate) are problem documents too, not Fastify's bare JSON.
    frameworkErrors: (error, request, reply) => {
      reply.header('x-request-id', request.id);
      if (error.statusCode !== undefined && error.statusCode < 500) return sendProblem(reply, HttpErrors.BAD_REQUEST, { detail: error.message });
      request.log.error({ err: error }, 'router error');
      return sendProblem(reply, HttpErrors.INTERNAL);
    },
    // X-Forwarded-For counts only from the proxies the operator named (rate limits and audit use the client IP).
    trustProxy: deps.config.trustedProxies.length === 0 ? false : deps.config.trustedProxies,
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.decorate('deps', deps);
  app.decorate('runtime', { draining: false, metrics: createMetrics() });
  app.decorate('keys', new KeyStore({ db: deps.database.db, secretKey: deps.secretKey, clock: deps.clock }));
  const mailTransport = deps.mailTransport ?? createMailTransport(deps.config.mailUrl, logger);
  app.decorate('outbox', new OutboxWorker({ db: deps.database.db, transport: mailTransport, clock: deps.clock, logger }));
  const licence = new LicenceStore({
    path: deps.config.licenceFile,
    preset: deps.preset,
    now: () => deps.clock.now(),
    // The database enforces the tenant limit; the permission resolver applies the features.
    persist: (current) => writePlatformSettings(deps.database, { tenant_limit: current.tenantLimit === null ? '' : String(current.tenantLimit) }),
    onChange: () => app.access.invalidate('*'),
  });
  app.decorate('licence', licence);
  app.decorate('access', new AccessResolver({ db: deps.database.db, preset: deps.preset, licensedFeatures: () => licence.current.features }));
  app.decorate('credentials', new CredentialCache());
  app.decorate('tenantLists', new TaggedCache<UserTenant[]>(50_000));
  app.decorate('tenantActivity', new OncePer(TENANT_ACTIVITY_GRANULARITY_MS));
  // Every cache of database state drops what a change touched: at commit in this process, on NOTIFY from others.
  const invalidate = (scope: string) => {
    app.access.invalidate(scope);
    app.credentials.invalidate(scope);
    app.tenantLists.invalidate(scope);
  };
  const stopCommitInvalidation = onCommittedScope(deps.database.db, (scope) => {
    invalidate(scope);
    // A commit here names the tenant it ran in, not every tenant whose lists it changed (a membership for someone
    // elsewhere, a child under a parent); the NOTIFYs do, a moment later. Until then no list may be served stale, so
    // this process drops all of them at any commit that could touch one (sessions and keys cannot).
    if (!scope.startsWith('session:') && !scope.startsWith('key:')) app.tenantLists.invalidate('*');
  });
  let unlisten: (() => Promise<void>) | undefined;
  let jobTimer: NodeJS.Timeout | undefined;
  let stopWatchingLicence: (() => void) | undefined;
  app.addHook('onReady', async () => {
    unlisten = await deps.database.listen(INVALIDATE_CHANNEL, invalidate, () => invalidate('*'));
    await app.keys.signingKey();
    await licence.apply();
    if (options.startBackgroundJobs) {
      app.outbox.start();
      // Whatever has come due is done within a minute, by whichever node gets there first: pending deletions
      // whose grace has run out are purged, scheduled downgrades take effect.
      const jobs = {
        'purging due tenants': () => purgeDueTenants({ db: deps.database.db, clock: deps.clock }),
        'applying due plan changes': () => applyDuePlanChanges({ db: deps.database.db, clock: deps.clock, preset: deps.preset }),
      };
      jobTimer = setInterval(() => {
        for (const [what, job] of Object.entries(jobs)) job().catch((err: unknown) => logger.error({ err }, `${what} failed`));
      }, JOB_INTERVAL_MS);
      jobTimer.unref();
      stopWatchingLicence = licence.watch(
        ({ changed, error }) => {
          if (changed) logger.info({ licensee: licence.current.licensee, tenantLimit: licence.current.tenantLimit }, 'licence file changed: new licence in force');
          if (error !== null) logger.error({ error }, 'licence file changed but cannot be used; the previous licence stays in force');
        },
        (err: unknown) => logger.error({ err }, 'applying the new licence failed'),
      );
    }
  });
  app.addHook('onClose', async () => {
    stopCommitInvalidation();
    await unlisten?.();
    clearInterval(jobTimer);
    stopWatchingLicence?.();
    await app.outbox.stop();
    if (deps.mailTransport === undefined) await mailTransport.close();
  });
  await app.register(cookie);
  // One budget across every node when Redis is configured (SPEC 7); per process otherwise.
  const redis = deps.config.redisUrl === undefined ? undefined : new Redis(deps.config.redisUrl, { maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: false });
  // Closing never fails for Redis: QUIT needs a live connection, so when Redis is down just drop the socket.
  if (redis !== undefined) {
    // ioredis reconnects by itself; without a listener its errors would bypass the logger.
    redis.on('error', (err: unknown) => logger.warn({ err }, 'redis connection error (rate-limited endpoints fail closed until it is back)'));
    app.addHook('onClose', async () => {
      await redis.quit().catch(() => redis.disconnect());
    });
  }
  await app.register(rateLimit, {
    global: false,
    ...(redis === undefined ? {} : { redis, nameSpace: 'tenantry-rl:', skipOnError: false }),
    errorResponseBuilder: (_request, context) =>
      new AppError(HttpErrors.RATE_LIMITED, { detail: `retry in ${Math.ceil(context.ttl / 1000)} s` }),
  });
  installAuthentication(app, app.keys);
  installDenialAudit(app);
  installIdempotency(app);
  installInputGuard(app);
  installValidators(app);
  installProblemHandlers(app, await installPortal(app, options.portalDir));
  instrumentHttp(app, app.runtime.metrics);

  // Only JSON is parsed (and forms, by the endpoints that declare them); anything else is a 415.
  app.removeContentTypeParser('text/plain');
  installJsonParser(app);

  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
    if (app.runtime.draining) {
      reply.header('connection', 'close');
      return sendProblem(reply, HttpErrors.SHUTTING_DOWN, { detail: 'retry against another instance' });
    }
  });
  app.addHook('preClose', async () => {
    app.runtime.draining = true;
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Tenantry API',
        version: API_VERSION,
        description: 'Multi-tenant accounts, organizations and access. Errors are RFC 9457 problem documents with a stable `code`.',
      },
    },
    transformObject: (document) => withIdempotencyKeyParameter('openapiObject' in document ? document.openapiObject : document.swaggerObject),
  });
  await app.register(swaggerUi, { routePrefix: '/api/docs' });

  for (const feature of features) {
    await app.register(feature.routes, { prefix: feature.prefix });
  }
  return app;
}
