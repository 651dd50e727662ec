import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyBaseLogger } from 'fastify';
import type { DestinationStream } from 'pino';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import cookie from '@fastify/cookie';
import rateLimit from '@fastify/rate-limit';
import { denialAudit } from './audit/denials.ts';
import { Redis } from 'ioredis';
import { authentication } from './auth/authenticate.ts';
import { features } from './features.ts';
import { INVALIDATE_CHANNEL } from './permissions/access-resolver.ts';
import { createServices } from './services.ts';
import { onCommittedScope } from './platform/db/context.ts';
import { applyDuePlanChanges } from './plans/plans.service.ts';
import { purgeDueTenants } from './tenants/deletion.service.ts';
import type { AppDeps } from './platform/deps.ts';
import { AppError, HttpErrors } from './platform/http/errors.ts';
import { idempotency, withIdempotencyKeyParameter } from './platform/http/idempotency.ts';
import { inputGuard, jsonParser } from './platform/http/input-guard.ts';
import { createMetrics, httpMetrics } from './platform/http/metrics.ts';
import { problemHandlers, sendProblem } from './platform/http/problem.ts';
import { installPortal } from './portal/portal.ts';
import { validators } from './platform/http/validation.ts';
import type { FastifyTypebox } from './platform/http/types.ts';
import { createLogger } from './platform/logger.ts';

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

  const services = createServices(deps, logger);
  const { licence } = services;
  app.decorate('services', services);
  app.decorate('runtime', { draining: false, metrics: createMetrics() });
  // Every cache of database state drops what a change touched: at commit in this process, on NOTIFY from others.
  const invalidate = (scope: string) => {
    app.services.access.invalidate(scope);
    app.services.credentials.invalidate(scope);
    app.services.tenantLists.invalidate(scope);
    // After the caches: the broker is told what the keys and tenants allow now.
    app.services.mosquitto?.changed(scope);
  };
  const stopCommitInvalidation = onCommittedScope(deps.database.db, (scope) => {
    invalidate(scope);
    // A commit here names the tenant it ran in, not every tenant whose lists it changed (a membership for someone
    // elsewhere, a child under a parent); the NOTIFYs do, a moment later. Until then no list may be served stale, so
    // this process drops all of them at any commit that could touch one (sessions and keys cannot).
    if (!scope.startsWith('session:') && !scope.startsWith('key:')) app.services.tenantLists.invalidate('*');
    // A committed change may have queued webhook events: fan them out now rather than at the next poll (the fan-out
    // pokes the deliveries itself when it added any, so a commit without an endpoint costs one poll, not two).
    app.services.webhooks.events.poke();
  });
  let unlisten: (() => Promise<void>) | undefined;
  let jobTimer: NodeJS.Timeout | undefined;
  let stopWatchingLicence: (() => void) | undefined;
  app.addHook('onReady', async () => {
    unlisten = await deps.database.listen(INVALIDATE_CHANNEL, invalidate, () => invalidate('*'));
    await app.services.keys.signingKey();
    await licence.apply();
    if (options.startBackgroundJobs) {
      app.services.outbox.start();
      app.services.mosquitto?.start();
      app.services.webhooks.start();
      // Whatever has come due is done within a minute, by whichever node gets there first: pending deletions
      // whose grace has run out are purged, scheduled downgrades take effect.
      const jobs = {
        'purging due tenants': () => purgeDueTenants(services),
        'applying due plan changes': () => applyDuePlanChanges(services),
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
    await app.services.outbox.stop();
    await app.services.mosquitto?.stop();
    await app.services.webhooks.stop();
    if (deps.mailTransport === undefined) await services.mailTransport.close();
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
    errorResponseBuilder: (_request, context) => new AppError(HttpErrors.RATE_LIMITED, { detail: `retry in ${Math.ceil(context.ttl / 1000)} s` }),
  });
  // Cross-cutting pieces, each a named plugin that declares what it needs registered before it.
  await app.register(authentication);
  await app.register(denialAudit);
  await app.register(idempotency);
  await app.register(inputGuard);
  await app.register(validators);
  await app.register(problemHandlers, { pageFallback: await installPortal(app, options.portalDir) });
  await app.register(httpMetrics);
  // Only JSON is parsed (and forms, by the endpoints that declare them); anything else is a 415.
  app.removeContentTypeParser('text/plain');
  await app.register(jsonParser);

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
