import type { FastifyInstance } from 'fastify';

/** The committed OpenAPI document (docs/openapi.json), byte for byte; CI fails when it drifts. */
export function renderOpenApi(app: FastifyInstance): string {
  return `${JSON.stringify(app.swagger(), null, 2)}\n`;
}

export const OPENAPI_FILE = new URL('../../../docs/openapi.json', import.meta.url);
