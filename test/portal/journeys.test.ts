import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { issueSetupLink } from '../../src/accounts/operator.service.ts';
import { withTenant } from '../../src/platform/db/context.ts';
import { ensurePortalBuilt, firstLoadJsGzipBytes, PORTAL_JS_BUDGET_BYTES } from '../../src/portal/build.ts';
import { PORTAL_DIST } from '../../src/portal/portal.ts';
import { insertMembership } from '../../src/tenants/memberships.repository.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { bearer, GOOD_PASSWORD, signUp, uniqueEmail } from '../helpers/users.ts';

/**
 * The portal in a real browser (issue 12): Debian's Chromium driven by playwright-core against a real server on the
 * embedded database, mail in a file outbox. Every page visited is screenshotted at desktop and narrow widths into
 * test-results/portal/, checked with axe-core (no serious or critical violations) and for console errors.
 */
const CHROMIUM = '/usr/bin/chromium';
const SHOTS = fileURLToPath(new URL('../../test-results/portal/', import.meta.url));
const AXE = fileURLToPath(new URL('../../node_modules/axe-core/axe.min.js', import.meta.url));

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
}

describe('the portal in a browser [pglite]', () => {
  let t: TestApp;
  let browser: Browser;
  let base: string;
  let mailDir: string;
  const problems: string[] = [];

  before(async () => {
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install chromium (.ci/run does)`);
    const portal = await ensurePortalBuilt();
    assert.equal(portal.problem, undefined, portal.problem);
    await mkdir(SHOTS, { recursive: true });
    mailDir = await mkdtemp(path.join(tmpdir(), 'tenantry-portal-mail-'));
    const port = await freePort();
    base = `http://localhost:${port}`;
    t = await createTestApp('pglite', {
      env: { TENANTRY_PUBLIC_URL: base, TENANTRY_MAIL_URL: `file://${mailDir}`, TENANTRY_AUTH_RATE_LIMIT: '1000' },
      portalDir: PORTAL_DIST,
      clockStart: new Date(),
    });
    await t.app.listen({ port, host: '127.0.0.1' });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
  });
  after(async () => {
    await browser?.close();
    await t?.close();
    await rm(mailDir, { recursive: true, force: true });
  });

  /** A fresh browser profile whose console errors and page errors fail the test that made it. */
  async function context(): Promise<{ ctx: BrowserContext; page: Page }> {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await ctx.newPage();
    page.on('console', (msg) => {
      // The browser logs the API's expected 4xx answers as failed resources; those are answers, not errors.
      if (msg.type() === 'error' && !/Failed to load resource: the server responded with a status of 4\d\d/.test(msg.text())) problems.push(`console: ${msg.text()}`);
    });
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    return { ctx, page };
  }

  /** Looks at the page as a person would: desktop and narrow screenshots, then axe-core's serious/critical findings. */
  async function look(page: Page, name: string): Promise<void> {
    await page.waitForLoadState('networkidle');
    await page.screenshot({ path: path.join(SHOTS, `${name}-desktop.png`), fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.screenshot({ path: path.join(SHOTS, `${name}-narrow.png`), fullPage: true });
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.addScriptTag({ path: AXE });
    const violations = await page.evaluate(async () => {
      type Violation = { id: string; impact: string | null; nodes: Array<{ target: unknown }> };
      const page = globalThis as unknown as { document: unknown; axe: { run: (context: unknown) => Promise<{ violations: Violation[] }> } };
      const result = await page.axe.run(page.document);
      return result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id} (${v.impact}): ${JSON.stringify(v.nodes.map((n) => n.target))}`);
    });
    assert.deepEqual(violations, [], `axe on ${name}`);
    assert.deepEqual(problems.splice(0), [], `console on ${name}`);
  }

  /** The newest mail to `to` in the file outbox, delivered now. */
  async function mailTo(to: string): Promise<{ subject: string; text: string }> {
    await t.app.outbox.runOnce();
    for (const file of (await readdir(mailDir)).sort().reverse()) {
      const mail = JSON.parse(await readFile(path.join(mailDir, file), 'utf8')) as { to: string | string[]; subject: string; text: string };
      if (String(mail.to).includes(to)) return mail;
    }
    throw new Error(`no mail to ${to}`);
  }
  const linkIn = (text: string, page: string) => new RegExp(`(${base.replace(/[.:/]/g, '\\$&')}${page}\\S+)`).exec(text)?.[1] ?? assert.fail(`no ${page} link in: ${text}`);

  it('builds a first-load bundle within 250 KB of gzipped JavaScript', async () => {
    const bytes = await firstLoadJsGzipBytes();
    assert.ok(bytes <= PORTAL_JS_BUDGET_BYTES, `${(bytes / 1024).toFixed(1)} KB gzipped`);
  });

  it('serves the portal for page routes and keeps the API answering problem documents', async () => {
    const page = await fetch(`${base}/team-invite/anything`, { headers: { accept: 'text/html' } });
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<div id="root">/);
    const api = await fetch(`${base}/api/v1/nothing-here`, { headers: { accept: 'text/html' } });
    assert.equal(api.status, 404);
    assert.match(api.headers.get('content-type') ?? '', /problem\+json/);
  });

  it('takes the operator from the printed setup link into the portal, on the admin tenancy', async () => {
    const link = await issueSetupLink({ db: t.database.db, clock: t.clock, ownerRole: 'owner' }, base);
    assert.ok(link);
    const { ctx, page } = await context();
    await page.goto(link);
    await page.getByRole('heading', { name: 'Set up Tenantry' }).waitFor();
    await look(page, 'setup');
    await page.getByLabel('Email').fill(uniqueEmail('operator'));
    await page.getByLabel('Your name').fill('Olga Operator');
    await page.locator('input[type="password"]').fill(GOOD_PASSWORD);
    await page.getByRole('button', { name: 'Create the operator' }).click();
    await page.getByRole('heading', { name: 'Platform administration' }).waitFor();
    await page.getByText('Admin tenancy').first().waitFor();
    await look(page, 'dashboard-operator');
    await ctx.close();
  });

  it('signs a person up, verifies the mailed link, and lands them on their own tenant', async () => {
    const { ctx, page } = await context();
    const email = uniqueEmail('ada');
    await page.goto(`${base}/sign-up`);
    await page.getByRole('heading', { name: 'Create your account' }).waitFor();
    await look(page, 'sign-up');
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Your name').fill('Ada');
    await page.locator('input[type="password"]').fill(GOOD_PASSWORD);
    await page.getByLabel('Tenant name').fill('Ada Labs');
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByRole('heading', { name: 'Ada Labs' }).waitFor();
    await look(page, 'dashboard');

    const mail = await mailTo(email);
    await page.goto(linkIn(mail.text, '/verify-email'));
    await page.getByText('Email verified').waitFor();
    await look(page, 'verify-email');
    await page.getByRole('link', { name: 'Continue' }).click();
    await page.getByRole('heading', { name: 'Ada Labs' }).waitFor();
    await ctx.close();
  });

  it('brings an invitee from the mailed link, signed up with the address filled in, into the inviting tenant', async () => {
    const owner = await signUp(t, { name: 'Hana' });
    const email = uniqueEmail('invitee');
    const invited = await t.app.inject({ method: 'POST', url: `/api/v1/tenants/${owner.tenantId}/invitations`, headers: bearer(owner.accessToken), payload: { email, roles: ['admin'] } });
    assert.equal(invited.statusCode, 201, invited.body);
    const { ctx, page } = await context();
    await page.goto(linkIn((await mailTo(email)).text, '/team-invite'));
    await page.getByText("Hana's workspace").first().waitFor();
    await look(page, 'team-invite');
    await page.getByRole('link', { name: 'Sign up' }).click();
    await page.getByRole('heading', { name: "Join Hana's workspace" }).waitFor();
    assert.equal(await page.getByLabel('Email').inputValue(), email);
    await look(page, 'sign-up-invited');
    await page.locator('input[type="password"]').fill(GOOD_PASSWORD);
    await page.getByRole('button', { name: 'Create account and join' }).click();
    await page.getByRole('heading', { name: "Hana's workspace" }).waitFor();
    await ctx.close();
  });

  it('shows a person with two tenants "Choose a tenant", then switches from the header', async () => {
    const person = await signUp(t, { name: 'Pia' });
    const other = await signUp(t, { name: 'Otto' });
    await withTenant(t.database.db, other.tenantId, (trx) => insertMembership(trx, { tenantId: other.tenantId, userId: person.userId, kind: 'direct', roles: ['member'], now: t.clock.now() }));
    const { ctx, page } = await context();
    await page.goto(`${base}/`);
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await look(page, 'sign-in');
    await page.getByLabel('Email').fill(person.email);
    await page.locator('input[type="password"]').fill(GOOD_PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Choose a tenant' }).waitFor();
    await look(page, 'choose-tenant');
    await page.getByRole('button', { name: /Pia's workspace/ }).click();
    await page.getByRole('heading', { name: "Pia's workspace" }).waitFor();
    await page.getByRole('button', { name: /^Switch tenant/ }).click();
    await page.getByRole('menuitem', { name: /Otto's workspace/ }).click();
    await page.getByRole('heading', { name: "Otto's workspace" }).waitFor();
    await look(page, 'dashboard-switched');
    await ctx.close();
  });

  it("tells a suspended tenant's owner plainly that it is suspended", async () => {
    const parent = await signUp(t, { name: 'Holding' });
    const child = await t.app.inject({ method: 'POST', url: '/api/v1/tenants', headers: bearer(parent.accessToken), payload: { name: 'Subsidiary', slug: `sub-${process.pid}`, parentId: parent.tenantId } });
    assert.equal(child.statusCode, 201, child.body);
    const owner = await signUp(t, { name: 'Sol' });
    await withTenant(t.database.db, child.json().id, (trx) => insertMembership(trx, { tenantId: child.json().id, userId: owner.userId, kind: 'direct', roles: ['owner'], now: t.clock.now() }));
    assert.equal((await t.app.inject({ method: 'POST', url: `/api/v1/tenants/${child.json().id}/suspend`, headers: bearer(parent.accessToken), payload: {} })).statusCode, 200);
    const { ctx, page } = await context();
    await page.goto(`${base}/sign-in`);
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await page.getByLabel('Email').fill(owner.email);
    await page.locator('input[type="password"]').fill(GOOD_PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('button', { name: /Subsidiary/ }).click();
    await page.getByRole('alert').filter({ hasText: 'suspended' }).waitFor();
    await look(page, 'dashboard-suspended');
    await ctx.close();
  });
});
