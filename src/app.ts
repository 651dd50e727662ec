import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyBaseLogger } from 'fastify';
import type { DestinationStream } from 'pino';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import cookie from '@fastify/cookie';
import rateLimit from '@fastify/rate-limit';
import { Redis } from 'ioredis';
import { installAuthentication } from './auth/authenticate.ts';
import { features } from './features.ts';
import { createMailTransport } from './mail/transports.ts';
import { OutboxWorker } from './mail/outbox.ts';
import { AccessResolver, INVALIDATE_CHANNEL } from './permissions/access-resolver.ts';
import { onCommittedScope } from './platform/db/context.ts';
import { purgeDueTenants } from './tenants/deletion.service.ts';
import { KeyStore } from './tokens/key-store.ts';
import type { AppDeps } from './platform/deps.ts';
import { AppError, HttpErrors } from './platform/http/errors.ts';
import { installIdempotency, withIdempotencyKeyParameter } from './platform/http/idempotency.ts';
import { createMetrics, instrumentHttp } from './platform/http/metrics.ts';
import { installProblemHandlers, sendProblem } from './platform/http/problem.ts';
import { installValidators } from './platform/http/validation.ts';
import type { FastifyTypebox } from './platform/http/types.ts';
import { createLogger } from './platform/logger.ts';

export interface BuildOptions {
  /** Where log lines go (default stdout); tests pass a stream that captures them. */
  logStream?: DestinationStream;
  /** Start background work (mail delivery) when the app is ready. The server does; tests drive it by hand. */
  startBackgroundJobs?: boolean;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const PURGE_INTERVAL_MS = 60_000;

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
    trustProxy: false,
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.decorate('deps', deps);
  app.decorate('runtime', { draining: false, metrics: createMetrics() });
  app.decorate('keys', new KeyStore({ db: deps.database.db, secretKey: deps.secretKey, clock: deps.clock }));
  const mailTransport = deps.mailTransport ?? createMailTransport(deps.config.mailUrl, logger);
  app.decorate('outbox', new OutboxWorker({ db: deps.database.db, transport: mailTransport, clock: deps.clock, logger }));
  app.decorate('access', new AccessResolver({ db: deps.database.db, preset: deps.preset }));
  onCommittedScope(deps.database.db, (scope) => app.access.invalidate(scope));
  let unlisten: (() => Promise<void>) | undefined;
  let purgeTimer: NodeJS.Timeout | undefined;
  app.addHook('onReady', async () => {
    unlisten = await deps.database.listen(INVALIDATE_CHANNEL, (scope) => app.access.invalidate(scope), () => app.access.invalidate('*'));
    await app.keys.signingKey();
    if (options.startBackgroundJobs) {
      app.outbox.start();
      // Pending deletions whose grace has run out are purged within a minute, by whichever node gets there.
      purgeTimer = setInterval(() => {
        purgeDueTenants({ db: deps.database.db, clock: deps.clock }).catch((err: unknown) => logger.error({ err }, 'purging due tenants failed'));
      }, PURGE_INTERVAL_MS);
      purgeTimer.unref();
    }
  });
  app.addHook('onClose', async () => {
    await unlisten?.();
    clearInterval(purgeTimer);
    await app.outbox.stop();
    if (deps.mailTransport === undefined) await mailTransport.close();
  });
  await app.register(cookie);
  // One budget across every node when Redis is configured (SPEC 7); per process otherwise.
  const redis = deps.config.redisUrl === undefined ? undefined : new Redis(deps.config.redisUrl, { maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: false });
  if (redis !== undefined) app.addHook('onClose', async () => void (await redis.quit()));
  await app.register(rateLimit, {
    global: false,
    ...(redis === undefined ? {} : { redis, nameSpace: 'tenantry-rl:', skipOnError: false }),
    errorResponseBuilder: (_request, context) =>
      new AppError(HttpErrors.RATE_LIMITED, { detail: `retry in ${Math.ceil(context.ttl / 1000)} s` }),
  });
  installAuthentication(app, app.keys);
  installIdempotency(app);
  installValidators(app);
  installProblemHandlers(app);
  instrumentHttp(app, app.runtime.metrics);

  // Only JSON is parsed (and forms, by the endpoints that declare them); anything else is a 415.
  app.removeContentTypeParser('text/plain');

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
