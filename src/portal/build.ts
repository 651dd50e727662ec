import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { PORTAL_DIST } from './portal.ts';

const PORTAL_ROOT = fileURLToPath(new URL('../../portal/', import.meta.url));
/** Issue 12's quality bar: what a browser loads first, gzipped. */
export const PORTAL_JS_BUDGET_BYTES = 250 * 1024;

const LOCK = path.join(PORTAL_ROOT, '.build-lock');
const LOCK_STALE_MS = 5 * 60_000;

/**
 * Builds the portal with Vite (a development dependency: present after `npm install`). Several processes may ask
 * at once (test files run in parallel, each starting a server): one builds while the others wait, and the build
 * lands in a fresh directory that replaces portal/dist in one rename, so no server ever serves a half-written dist.
 */
export async function buildPortal(): Promise<void> {
  await withBuildLock(buildIntoDist);
}

async function buildIntoDist(): Promise<void> {
  const { build } = await import('vite');
  const staging = `${PORTAL_DIST.replace(/\/$/, '')}.${process.pid}`;
  await build({ configFile: path.join(PORTAL_ROOT, 'vite.config.ts'), logLevel: 'warn', build: { outDir: staging, emptyOutDir: true } });
  const old = `${staging}.old`;
  if (existsSync(PORTAL_DIST)) await rename(PORTAL_DIST, old);
  await rename(staging, PORTAL_DIST);
  await rm(old, { recursive: true, force: true });
}

/** Runs `work` holding portal/.build-lock (a directory: mkdir is atomic), waiting while another process holds it. */
async function withBuildLock(work: () => Promise<void>): Promise<void> {
  for (;;) {
    try {
      await mkdir(LOCK);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const age = Date.now() - (await stat(LOCK).catch(() => ({ mtimeMs: Date.now() }))).mtimeMs;
      if (age > LOCK_STALE_MS) await rm(LOCK, { recursive: true, force: true });
      else await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
  try {
    await work();
  } finally {
    await rm(LOCK, { recursive: true, force: true });
  }
}

/** Whether portal/dist is missing or older than anything it is built from. */
export async function isPortalStale(): Promise<boolean> {
  const index = path.join(PORTAL_DIST, 'index.html');
  if (!existsSync(index)) return true;
  const built = (await stat(index)).mtimeMs;
  const sources = [path.join(PORTAL_ROOT, 'index.html'), path.join(PORTAL_ROOT, 'vite.config.ts'), fileURLToPath(new URL('../platform/links.ts', import.meta.url))];
  for (const entry of await readdir(path.join(PORTAL_ROOT, 'src'), { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) sources.push(path.join(entry.parentPath, entry.name));
  }
  for (const file of sources) if ((await stat(file)).mtimeMs > built) return true;
  return false;
}

/**
 * `npm start` on a fresh clone serves the portal with no extra command: build it when it is missing or stale. Where
 * Vite is not installed (a production install without development dependencies and no prebuilt portal), the API
 * is served alone and the reason is returned for the log.
 */
export async function ensurePortalBuilt(): Promise<{ built: boolean; problem?: string }> {
  if (!(await isPortalStale())) return { built: false };
  try {
    // Whoever waited for another process's build finds it fresh and has nothing left to do.
    let built = false;
    await withBuildLock(async () => {
      if (!(await isPortalStale())) return;
      await buildIntoDist();
      built = true;
    });
    return { built };
  } catch (error) {
    return { built: false, problem: `the portal could not be built (${(error as Error).message}); run npm install and npm run portal:build` };
  }
}

/** The gzipped size of the JavaScript index.html loads (its module scripts and their preloads). */
export async function firstLoadJsGzipBytes(): Promise<number> {
  const html = await readFile(path.join(PORTAL_DIST, 'index.html'), 'utf8');
  const scripts = [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+\.js)"/g)].map((m) => m[1] ?? '');
  let total = 0;
  for (const src of new Set(scripts)) total += gzipSync(await readFile(path.join(PORTAL_DIST, src))).length;
  return total;
}
