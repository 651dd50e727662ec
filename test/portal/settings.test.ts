import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { enter, startPortalWorld, type PortalWorld } from '../helpers/portal.ts';
import { bearer, signUp, type SignedUp } from '../helpers/users.ts';

const pid = process.pid;

const get = async (t: PortalWorld['t'], who: SignedUp, url: string) => {
  const res = await t.app.inject({ method: 'GET', url: `/api/v1${url}`, headers: bearer(who.accessToken) });
  assert.equal(res.statusCode, 200, res.body);
  return res.json();
};

/** The Settings page in Chromium (issue 12): name, data, plan, features, and a tenant's lifecycle from above. */
describe('the Settings page in a browser [pglite]', () => {
  let w: PortalWorld;
  let t: PortalWorld['t'];
  before(async () => {
    w = await startPortalWorld();
    ({ t } = w);
  });
  after(() => w?.close());

  it('lets an owner rename the tenant, edit its data (a deleted key is removed), and schedule and call off a smaller plan', async () => {
    const owner = await signUp(t, { name: 'Nora' });
    const { ctx, page } = await w.context();
    await w.signIn(page, owner.email, owner.password);
    await page.getByRole('heading', { name: "Nora's workspace" }).waitFor();
    await page.getByRole('link', { name: 'Settings' }).click();
    await page.getByRole('heading', { name: "Settings · Nora's workspace", level: 2 }).waitFor();
    await page.getByText('You are working in this tenant, so it cannot be deleted from here.').waitFor();
    await page.getByText('A tenant is suspended from above it').waitFor();
    assert.equal(await page.getByRole('button', { name: /^Delete/ }).count(), 0, 'the active tenant offers no deletion');
    await page.getByText('This installation has no optional features.').waitFor();
    await w.look(page, 'settings-owner');

    // Rename: the header's switcher follows.
    await page.getByRole('textbox', { name: 'Name' }).fill('Nora & Co');
    await page.getByRole('button', { name: 'Rename' }).click();
    await page.getByRole('heading', { name: 'Settings · Nora & Co', level: 2 }).waitFor();
    await page.getByRole('status').getByText('Renamed.').waitFor();
    await page.getByRole('banner').getByText('Nora & Co').first().waitFor();
    assert.equal((await get(t, owner, `/tenants/${owner.tenantId}`)).name, 'Nora & Co');

    // Data: what the editor holds is what is stored, deleted keys included.
    const editor = page.getByRole('textbox', { name: 'data' });
    await editor.fill('{ "region": "eu", "tier": "gold" }');
    await page.getByRole('button', { name: 'Save data' }).click();
    await page.getByRole('button', { name: 'Save data' }).and(page.locator('[disabled]')).waitFor();
    assert.deepEqual((await get(t, owner, `/tenants/${owner.tenantId}`)).data, { region: 'eu', tier: 'gold' });
    await editor.fill('{ "region": "us" }');
    await page.getByRole('button', { name: 'Save data' }).click();
    await page.getByRole('status').getByText('Saved.').waitFor();
    assert.deepEqual((await get(t, owner, `/tenants/${owner.tenantId}`)).data, { region: 'us' }, 'the key deleted in the editor is gone');
    await editor.fill('[1, 2]');
    await page.getByRole('button', { name: 'Save data' }).click();
    await page.getByText('This must be a JSON object').waitFor();

    // Plan: a downgrade waits for the period's end and can be called off (the upgrade is in the mqtt-portal test).
    const plan = page.getByRole('radiogroup', { name: 'Plans' });
    await page.getByText(/On Enterprise: unlimited members · unlimited tenants below this one · unlimited API keys/).waitFor();
    await plan.getByRole('radio', { name: /Team/ }).check();
    await page.getByText('A smaller plan applies when the billing period ends; nothing is removed.').waitFor();
    await page.getByRole('button', { name: /^Move to Team on / }).click();
    await page.getByText(/Moves to Team on /).waitFor();
    await w.look(page, 'settings-plan-scheduled');
    assert.equal((await get(t, owner, `/tenants/${owner.tenantId}/plan`)).scheduledChange.plan.key, 'team');
    await page.getByRole('button', { name: 'Stay on Enterprise' }).click();
    await page.getByText(/Moves to Team on /).waitFor({ state: 'detached' });
    assert.equal((await get(t, owner, `/tenants/${owner.tenantId}/plan`)).scheduledChange, null);
    await ctx.close();
  });

  it('opens the settings of a tenant below from Tenants: suspend with a reason, resume, delete by typing the slug, restore', async () => {
    const owner = await signUp(t, { name: 'Omar' });
    const created = await t.app.inject({
      method: 'POST',
      url: '/api/v1/tenants',
      headers: bearer(owner.accessToken),
      payload: { name: 'North', slug: `north-${pid}`, parentId: owner.tenantId },
    });
    assert.equal(created.statusCode, 201, created.body);
    const north = created.json().id as string;
    const { ctx, page } = await w.context();
    await w.signIn(page, owner.email, owner.password);
    await enter(page, "Omar's workspace");
    await page.getByRole('link', { name: 'Tenants' }).click();
    await page.getByRole('button', { name: 'Settings of…' }).click();
    await page.getByRole('menuitem', { name: 'North' }).click();
    await page.getByRole('heading', { name: 'Settings · North', level: 2 }).waitFor();
    assert.equal(new URL(page.url()).pathname, `/tenants/${north}/settings`);
    await page.getByText('A tenant below the one you are working in.').waitFor();

    await page.getByRole('button', { name: 'Suspend…' }).click();
    const suspend = page.getByRole('dialog', { name: 'Suspend North?' });
    await suspend.getByRole('textbox', { name: 'Reason' }).fill('Invoice 42 unpaid');
    await w.look(page, 'settings-suspend');
    await suspend.getByRole('button', { name: 'Suspend' }).click();
    // The dialog's own textarea says it too until the dialog has faded out: wait for that, then for the banner.
    await suspend.waitFor({ state: 'hidden' });
    await page.getByText(/Invoice 42 unpaid/).waitFor();
    const suspended = await get(t, owner, `/tenants/${north}`);
    assert.deepEqual([suspended.status, suspended.suspensionReason], ['suspended', 'Invoice 42 unpaid']);
    await w.look(page, 'settings-suspended');
    await page.getByRole('button', { name: 'Delete North…' }).waitFor();
    await page.getByRole('button', { name: 'Resume' }).click();
    await page.getByRole('dialog', { name: 'Resume North?' }).getByRole('button', { name: 'Resume' }).click();
    await page.getByText('Active', { exact: true }).waitFor();
    assert.equal((await get(t, owner, `/tenants/${north}`)).status, 'active');

    await page.getByRole('button', { name: 'Delete North…' }).click();
    const remove = page.getByRole('dialog', { name: 'Delete North?' });
    await remove.getByText('Restorable for 30 days').waitFor();
    await remove.getByRole('textbox', { name: /Type the slug/ }).fill('north');
    await remove.getByText('That is not the slug.').waitFor();
    assert.equal(await remove.getByRole('button', { name: 'Delete tenant' }).isDisabled(), true);
    await remove.getByRole('textbox', { name: /Type the slug/ }).fill(`north-${pid}`);
    await remove.getByRole('button', { name: 'Delete tenant' }).click();
    const report = page.getByRole('dialog', { name: 'North: deletion report' });
    await report.getByText('The tenant is pending deletion').waitFor();
    await w.look(page, 'settings-deleted');
    await report.getByRole('button', { name: 'Close', exact: true }).last().click();
    await page.getByRole('alert').or(page.getByRole('status')).getByText('Pending deletion').waitFor();
    assert.equal((await get(t, owner, `/tenants/${north}`)).status, 'pending_deletion');
    await w.look(page, 'settings-pending-deletion');
    await page.getByRole('button', { name: 'Restore North' }).click();
    await page.getByRole('dialog', { name: 'Restore North?' }).getByRole('button', { name: 'Restore' }).click();
    await page.getByText('Active', { exact: true }).waitFor();
    assert.equal((await get(t, owner, `/tenants/${north}`)).status, 'active');
    await ctx.close();
  });
});

/** mqtt-portal (seed 000) with a licence that covers the Mgmt REST API but not InfluxDB. */
describe('the Settings page with a licence, in mqtt-portal words [pglite]', () => {
  let w: PortalWorld;
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'tenantry-settings-'));
    const licence = path.join(dir, 'licence.json');
    await writeFile(licence, JSON.stringify({ licensee: 'Acme IoT', features: ['mgmt_api'], tenantLimit: 50 }));
    w = await startPortalWorld({ TENANTRY_PRESET: 'mqtt-portal', TENANTRY_LICENCE_FILE: licence });
  });
  after(async () => {
    await w?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('turns a licensed feature on or off, greys an unlicensed one out with the reason, and upgrades the plan at once', async () => {
    const owner = await signUp(w.t, { name: 'Ines' });
    const { ctx, page } = await w.context();
    await w.signIn(page, owner.email, owner.password);
    await enter(page, 'Default tenant');
    await page.getByRole('link', { name: 'Settings' }).click();
    await page.getByRole('heading', { name: 'Settings · Default tenant', level: 2 }).waitFor();
    const listed = (await get(w.t, owner, '/tenants')).tenants as Array<{ id: string; name: string }>;
    const tenantId = listed.find((x) => x.name === 'Default tenant')?.id ?? '';
    const influx = page.getByRole('switch', { name: /InfluxDB/i });
    await page.getByText('Not covered by the licence').waitFor();
    assert.equal(await influx.isDisabled(), true);
    const mgmt = page.getByRole('switch', { name: /Mgmt|Management/i });
    const wasOn = await mgmt.isChecked();
    await mgmt.click({ force: true });
    await (wasOn ? mgmt.and(page.locator(':not(:checked)')) : mgmt.and(page.locator(':checked'))).waitFor();
    const features = (await get(w.t, owner, `/tenants/${tenantId}/features`)).features as Array<{ key: string; enabled: boolean }>;
    assert.equal(features.find((f) => f.key === 'mgmt_api')?.enabled, !wasOn);
    await w.look(page, 'settings-mqtt-features');

    // A larger plan applies at once.
    await page.getByText(/^On Basic/).waitFor();
    await page
      .getByRole('radiogroup', { name: 'Plans' })
      .getByRole('radio', { name: /Professional/ })
      .check();
    await page.getByRole('button', { name: 'Upgrade to Professional now' }).click();
    await page.getByText(/^On Professional/).waitFor();
    assert.equal((await get(w.t, owner, `/tenants/${tenantId}/plan`)).plan.key, 'professional');
    await ctx.close();
  });
});
