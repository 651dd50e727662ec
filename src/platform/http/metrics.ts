import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import { Counter, collectDefaultMetrics, Histogram, Registry } from 'prom-client';

/**
 * One registry per app instance (not prom-client's global), so several apps in one process — as in the
 * tests — never collide. Features add their own metrics to `app.metrics`.
 */
export function createMetrics(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'tenantry_' });
  return registry;
}

export const httpMetrics = fp(
  async (app: FastifyInstance) => {
    const registry = app.runtime.metrics;
    const requests = new Counter({
      name: 'tenantry_http_requests_total',
      help: 'HTTP requests answered, by method, route template and status',
      labelNames: ['method', 'route', 'status'] as const,
      registers: [registry],
    });
    const duration = new Histogram({
      name: 'tenantry_http_request_duration_seconds',
      help: 'Time to answer HTTP requests, by method and route template',
      labelNames: ['method', 'route'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    });
    app.addHook('onResponse', async (request, reply) => {
      // The route template, never the raw URL: raw URLs would carry ids (and invitation tokens) into labels.
      const route = request.routeOptions.url ?? 'unmatched';
      requests.inc({ method: request.method, route, status: String(reply.statusCode) });
      duration.observe({ method: request.method, route }, reply.elapsedTime / 1000);
    });
  },
  { name: 'tenantry-http-metrics' },
);
