import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { ensurePortalBuilt } from '../../src/portal/build.ts';
import { PORTAL_DIST } from '../../src/portal/portal.ts';
import { createTestApp, type TestApp } from './app.ts';
import { freePort } from './net.ts';

/**
 * The portal in a real browser (issue 12): Debian's Chromium driven by playwright-core against a real server on the
 * embedded database, mail in a file outbox. `look` screenshots a page at desktop and narrow widths into
 * test-results/portal/, checks it with axe-core (no serious or critical violations) and for console errors.
 */
const CHROMIUM = '/usr/bin/chromium';
const SHOTS = fileURLToPath(new URL('../../test-results/portal/', import.meta.url));
const AXE = fileURLToPath(new URL('../../node_modules/axe-core/axe.min.js', import.meta.url));

/**
 * Waits until no CSS transition or animation is running (modals fading, the navigation drawer sliding after a resize),
 * so screenshots and axe see the settled page rather than a half-faded one.
 */
async function settle(page: Page): Promise<void> {
  await page.waitForTimeout(50); // a resize or click starts its transitions on the next frame
  await page.waitForFunction(
    () => {
      const doc = (globalThis as unknown as { document: { getAnimations(): Array<{ playState: string }> } }).document;
      return doc.getAnimations().every((a) => a.playState !== 'running');
    },
    undefined,
    { timeout: 5_000 },
  );
}

export interface PortalWorld {
  t: TestApp;
  browser: Browser;
  /** http://localhost:PORT, also the server's public URL (mailed links point here). */
  base: string;
  /** A fresh browser profile whose console errors and page errors fail the next `look`. */
  context(): Promise<{ ctx: BrowserContext; page: Page }>;
  /** Looks at the page as a person would: screenshots at two widths, axe-core, console errors. */
  look(page: Page, name: string): Promise<void>;
  /** The newest mail to `to` in the file outbox, delivered now. */
  mailTo(to: string): Promise<{ subject: string; text: string }>;
  /** The first link to `page` (a path) in a mail's text. */
  linkIn(text: string, page: string): string;
  /** Signs `email` in through the sign-in page and waits for the dashboard or Choose a tenant. */
  signIn(page: Page, email: string, password: string): Promise<void>;
  close(): Promise<void>;
}

/** A server serving the built portal on a free port, with a file mail outbox, and a headless Chromium. */
export async function startPortalWorld(env: Record<string, string> = {}): Promise<PortalWorld> {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install chromium (.ci/run does)`);
  const portal = await ensurePortalBuilt();
  assert.equal(portal.problem, undefined, portal.problem);
  await mkdir(SHOTS, { recursive: true });
  const mailDir = await mkdtemp(path.join(tmpdir(), 'tenantry-portal-mail-'));
  const port = await freePort();
  const base = `http://localhost:${port}`;
  const t = await createTestApp('pglite', {
    env: { TENANTRY_PUBLIC_URL: base, TENANTRY_MAIL_URL: `file://${mailDir}`, TENANTRY_AUTH_RATE_LIMIT: '1000', ...env },
    portalDir: PORTAL_DIST,
    clockStart: new Date(),
  });
  await t.app.listen({ port, host: '127.0.0.1' });
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  const problems: string[] = [];
  const world: PortalWorld = {
    t,
    browser,
    base,
    async context() {
      const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      const page = await ctx.newPage();
      page.on('console', (msg) => {
        // The browser logs the API's expected 4xx answers as failed resources; those are answers, not errors.
        if (msg.type() === 'error' && !/Failed to load resource: the server responded with a status of 4\d\d/.test(msg.text())) problems.push(`console: ${msg.text()}`);
      });
      page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
      return { ctx, page };
    },
    async look(page, name) {
      await page.waitForLoadState('networkidle');
      await settle(page);
      await page.screenshot({ path: path.join(SHOTS, `${name}-desktop.png`), fullPage: true });
      await page.setViewportSize({ width: 390, height: 844 });
      await settle(page);
      await page.screenshot({ path: path.join(SHOTS, `${name}-narrow.png`), fullPage: true });
      await page.setViewportSize({ width: 1280, height: 800 });
      await settle(page);
      await page.addScriptTag({ path: AXE });
      const violations = await page.evaluate(async () => {
        type Violation = { id: string; impact: string | null; nodes: Array<{ target: unknown }> };
        const scope = globalThis as unknown as { document: { querySelector(s: string): unknown }; axe: { run: (context: unknown) => Promise<{ violations: Violation[] }> } };
        // Behind an open modal the page is dimmed and unreachable (it was checked when it was looked at alone): check the dialog.
        const result = await scope.axe.run(scope.document.querySelector('[role="dialog"][aria-modal="true"]') ?? scope.document);
        return result.violations
          .filter((v) => v.impact === 'serious' || v.impact === 'critical')
          .map((v) => `${v.id} (${v.impact}): ${JSON.stringify(v.nodes.map((n) => n.target))}`);
      });
      assert.deepEqual(violations, [], `axe on ${name}`);
      assert.deepEqual(problems.splice(0), [], `console on ${name}`);
    },
    async mailTo(to) {
      await t.app.services.outbox.runOnce();
      for (const file of (await readdir(mailDir)).sort().reverse()) {
        const mail = JSON.parse(await readFile(path.join(mailDir, file), 'utf8')) as { to: string | string[]; subject: string; text: string };
        if (String(mail.to).includes(to)) return mail;
      }
      throw new Error(`no mail to ${to}`);
    },
    linkIn(text, page) {
      return new RegExp(`(${base.replace(/[.:/]/g, '\\$&')}${page}\\S+)`).exec(text)?.[1] ?? assert.fail(`no ${page} link in: ${text}`);
    },
    async signIn(page, email, password) {
      await page.goto(`${base}/sign-in`);
      await page.getByRole('heading', { name: 'Sign in' }).waitFor();
      await page.getByLabel('Email').fill(email);
      await page.locator('input[type="password"]').fill(password);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.waitForURL((url) => url.pathname !== '/sign-in');
    },
    async close() {
      await browser.close();
      await t.close();
      await rm(mailDir, { recursive: true, force: true });
    },
  };
  return world;
}

/** Signed in with several tenants, the person lands on Choose a tenant (or, with a default, on the dashboard). */
export async function enter(page: Page, name: string): Promise<void> {
  const choice = page.getByRole('button', { name: new RegExp(name) });
  const heading = page.getByRole('heading', { name, level: 2 });
  await choice.or(heading).first().waitFor();
  if (await choice.isVisible()) await choice.click();
  await heading.waitFor();
}
