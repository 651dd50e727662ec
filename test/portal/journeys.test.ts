import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { issueSetupLink } from '../../src/accounts/operator.service.ts';
import { firstLoadJsGzipBytes, PORTAL_JS_BUDGET_BYTES } from '../../src/portal/build.ts';
import { startPortalWorld, type PortalWorld } from '../helpers/portal.ts';
import { bearer, GOOD_PASSWORD, join, signUp, uniqueEmail } from '../helpers/users.ts';

/** The first journeys of issue 12, in Chromium: see test/helpers/portal.ts for what `look` checks on every page. */
describe('the portal in a browser [pglite]', () => {
  let w: PortalWorld;
  let t: PortalWorld['t'];
  let base: string;
  before(async () => {
    w = await startPortalWorld();
    ({ t, base } = w);
  });
  after(() => w?.close());
  const context = () => w.context();
  const look = (page: Parameters<PortalWorld['look']>[0], name: string) => w.look(page, name);
  const mailTo = (to: string) => w.mailTo(to);
  const linkIn = (text: string, page: string) => w.linkIn(text, page);

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

  it('takes the operator from the printed setup link into Admin → Tenants, on the admin tenancy', async () => {
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
    await page.waitForURL(`${base}/admin/tenants`);
    await page.getByText(/Tenants in use: 1 \/ /).waitFor();
    await page.getByText('Admin tenancy').first().waitFor();
    await page.getByText('You are here').first().waitFor();
    await look(page, 'setup-landed-admin-tenants');
    await page.getByRole('link', { name: 'Dashboard' }).click();
    await page.getByRole('heading', { name: 'Platform administration' }).waitFor();
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
    const invited = await t.app.inject({
      method: 'POST',
      url: `/api/v1/tenants/${owner.tenantId}/invitations`,
      headers: bearer(owner.accessToken),
      payload: { email, roles: ['admin'] },
    });
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
    await join(t, other.tenantId, person.userId, ['member']);
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
    const child = await t.app.inject({
      method: 'POST',
      url: '/api/v1/tenants',
      headers: bearer(parent.accessToken),
      payload: { name: 'Subsidiary', slug: `sub-${process.pid}`, parentId: parent.tenantId },
    });
    assert.equal(child.statusCode, 201, child.body);
    const owner = await signUp(t, { name: 'Sol' });
    await join(t, child.json().id, owner.userId, ['owner']);
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

  it('refreshes an expired access token silently, and sends a person whose session ended to sign-in and back to their page', async () => {
    const person = await signUp(t, { name: 'Rhea' });
    const { ctx, page } = await context();
    await w.signIn(page, person.email, person.password);
    await page.getByRole('heading', { name: "Rhea's workspace" }).waitFor();
    const refreshes: number[] = [];
    page.on('response', (res) => {
      if (res.url().endsWith('/api/v1/auth/refresh')) refreshes.push(res.status());
    });

    t.clock.advance(60 * 60_000); // the access token (minutes) has expired; the session (days) has not
    await page.getByRole('link', { name: 'Members' }).click();
    await page.getByRole('heading', { name: 'Members', level: 2 }).waitFor();
    await page.getByText(person.email).waitFor();
    assert.deepEqual(refreshes, [200], 'one silent refresh, then the page as if nothing happened');

    // Let the Members page's later queries finish first: one still in flight when the session ends would
    // (rightly) send the person to sign-in with next=/members before the click below.
    await page.waitForLoadState('networkidle');
    t.clock.advance(31 * 24 * 60 * 60_000); // past the session's idle limit: nothing left to refresh
    await page.getByRole('link', { name: 'Roles' }).click();
    await page.waitForURL(`${base}/sign-in?next=${encodeURIComponent('/roles')}`);
    await page.getByLabel('Email').fill(person.email);
    await page.locator('input[type="password"]').fill(person.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${base}/roles`);
    await page.getByRole('heading', { name: 'Roles', level: 2 }).waitFor();
    await ctx.close();
  });
});
