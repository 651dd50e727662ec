import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';

/** Where `npm run portal:build` writes the portal (never committed). */
export const PORTAL_DIST = fileURLToPath(new URL('../../portal/dist/', import.meta.url));

/** Paths that belong to the server, never to the portal's pages: an unknown one stays a problem document. */
const SERVER_PATHS = /^\/(api|\.well-known|healthz|readyz|metrics)(\/|$|\?)/;

/**
 * The web portal (issue 12): its built files under `/`, and `index.html` for every other GET of a page route, so a
 * mailed link (`/verify-email?token=…`, `/team-invite/<token>`, `/setup?token=…`) opens the page in a browser. Not
 * built (`portal/dist` missing): nothing is served and unknown paths stay 404 problem documents.
 * Returns the not-found handler's page fallback.
 */
export async function installPortal(app: FastifyInstance, dist = PORTAL_DIST): Promise<(path: string, method: string, accept: string | undefined) => Promise<string | null>> {
  const index = `${dist}index.html`;
  if (!existsSync(index)) return async () => null;
  // Hashed assets: cached for a year; index.html: revalidated, so a new build is picked up at once.
  await app.register(fastifyStatic, {
    root: dist,
    prefix: '/',
    wildcard: false,
    index: false,
    setHeaders: (res, filePath) => {
      res.header('cache-control', filePath.includes('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache');
    },
  });
  const html = await readFile(index, 'utf8');
  return async (path, method, accept) => {
    if ((method !== 'GET' && method !== 'HEAD') || SERVER_PATHS.test(path)) return null;
    // A browser navigating asks for HTML; API clients and scripts get the problem document they expect.
    if (accept === undefined || !accept.includes('text/html')) return null;
    return html;
  };
}
