import { Type } from 'typebox';
import type { FastifyTypebox } from '../platform/http/types.ts';
import { HttpErrors } from '../platform/http/errors.ts';
import { sendProblem, ProblemSchema } from '../platform/http/problem.ts';
import { pingDatabase } from './health.repository.ts';

const Healthy = Type.Object({ status: Type.Literal('ok') });
const Ready = Type.Object({ status: Type.Literal('ready'), database: Type.String() });

/** Liveness, readiness and Prometheus metrics: outside /api/v1, as orchestrators expect. */
export async function healthRoutes(app: FastifyTypebox): Promise<void> {
  app.get('/healthz', { schema: { tags: ['operations'], summary: 'Liveness: the process is up', response: { 200: Healthy } } }, async () => ({ status: 'ok' as const }));

  app.get(
    '/readyz',
    {
      schema: {
        tags: ['operations'],
        summary: 'Readiness: the database answers and the server is not shutting down',
        response: { 200: Ready, 503: ProblemSchema },
      },
    },
    async (_request, reply) => {
      if (app.runtime.draining) return sendProblem(reply, HttpErrors.SHUTTING_DOWN);
      try {
        await pingDatabase(app.services.db);
      } catch (error) {
        reply.request.log.warn({ err: error }, 'readiness check: database unavailable');
        return sendProblem(reply, HttpErrors.NOT_READY, { detail: 'the database does not answer' });
      }
      return { status: 'ready' as const, database: app.services.database.engine };
    },
  );

  app.get('/metrics', { schema: { tags: ['operations'], summary: 'Prometheus metrics', produces: ['text/plain'], hide: false } }, async (_request, reply) => {
    reply.type(app.runtime.metrics.contentType);
    return app.runtime.metrics.metrics();
  });
}
