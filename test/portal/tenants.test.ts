import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { enter, startPortalWorld, type PortalWorld } from '../helpers/portal.ts';
import { bearer, join, type SignedUp, signUp } from '../helpers/users.ts';

const pid = process.pid;

/** Creates a tenant through the API as `who`, under `parentId`. */
async function createTenant(t: PortalWorld['t'], who: SignedUp, body: { name: string; slug: string; parentId: string }): Promise<string> {
  const res = await t.app.inject({ method: 'POST', url: '/api/v1/tenants', headers: bearer(who.accessToken), payload: body });
  assert.equal(res.statusCode, 201, res.body);
  return res.json().id;
}

/** The tree item whose own label carries `slug` (a tree item's text includes everything below it). */
const node = (page: Page, slug: string) => page.locator(`li[role="treeitem"]:has(> div[data-slug="${slug}"])`);

/** The Tenants page in Chromium (issue 12): my tenants, the tree, creating, moving, switching, in the preset's words. */
describe('the Tenants page in a browser [pglite]', () => {
  let w: PortalWorld;
  let t: PortalWorld['t'];
  let base: string;
  before(async () => {
    w = await startPortalWorld();
    ({ t, base } = w);
  });
  after(() => w?.close());

  it('lets an owner see their tenants, create children, and move a grandchild; a taken slug is refused in words', async () => {
    const owner = await signUp(t, { name: 'Maya' });
    const { ctx, page } = await w.context();
    await w.signIn(page, owner.email, owner.password);
    await page.getByRole('heading', { name: "Maya's workspace" }).waitFor();
    await page.getByRole('link', { name: 'Tenants' }).click();
    await page.getByRole('heading', { name: 'Tenants', level: 2 }).waitFor();
    const own = page.getByRole('row').filter({ hasText: "Maya's workspace" });
    await own.getByText('You are here').waitFor();
    await own.locator('text=Owner >> visible=true').waitFor();
    await page.getByRole('tree').waitFor();
    await page.getByText("No tenants below Maya's workspace yet.").waitFor();
    await w.look(page, 'tenants-owner');

    // The form checks itself before sending.
    await page.getByRole('button', { name: 'New tenant' }).click();
    const dialog = page.getByRole('dialog', { name: 'New tenant' });
    assert.equal(await dialog.getByRole('radio').count(), 0, 'a root has no siblings to make');
    await dialog.getByRole('textbox', { name: 'Name' }).fill('North');
    assert.equal(await dialog.getByRole('textbox', { name: 'Slug' }).inputValue(), 'north', 'the slug is suggested from the name');
    await dialog.getByRole('textbox', { name: 'Slug' }).fill('North Office!');
    await dialog.getByRole('button', { name: 'Create' }).click();
    await dialog.getByText('Use lowercase letters, digits and dashes only').waitFor();
    await w.look(page, 'tenants-create-invalid');

    for (const [name, slug] of [
      ['North', `north-${pid}`],
      ['South', `south-${pid}`],
    ] as const) {
      if (!(await dialog.isVisible())) await page.getByRole('button', { name: 'New tenant' }).click();
      await dialog.getByRole('textbox', { name: 'Name' }).fill(name);
      await dialog.getByRole('textbox', { name: 'Slug' }).fill(slug);
      await dialog.getByRole('button', { name: 'Create' }).click();
      await dialog.waitFor({ state: 'detached' });
      await page.getByText(`${name} now sits below Maya's workspace. You own it.`).waitFor();
      await node(page, slug).waitFor();
    }
    await page
      .getByRole('row')
      .filter({ hasText: `south-${pid}` })
      .getByRole('button', { name: 'Switch to South' })
      .waitFor();

    // The API's refusal, next to the field it concerns.
    await page.getByRole('button', { name: 'New tenant' }).click();
    await dialog.getByRole('textbox', { name: 'Name' }).fill('North again');
    await dialog.getByRole('textbox', { name: 'Slug' }).fill(`north-${pid}`);
    await dialog.getByRole('button', { name: 'Create' }).click();
    await dialog.getByText('Another tenant already has that slug').waitFor();
    await w.look(page, 'tenants-create-refused');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'detached' });

    // A grandchild made elsewhere (through the API) shows under its parent, then moves to the other child.
    const mine = (await t.app.inject({ method: 'GET', url: '/api/v1/tenants', headers: bearer(owner.accessToken) })).json().tenants as Array<{ id: string; slug: string }>;
    const northId = mine.find((x) => x.slug === `north-${pid}`)?.id ?? assert.fail('North is listed');
    await createTenant(t, owner, { name: 'Depot', slug: `depot-${pid}`, parentId: northId });
    await page.reload();
    await node(page, `north-${pid}`).locator(`div[data-slug="depot-${pid}"]`).waitFor();
    await w.look(page, 'tenants-tree');

    await page.getByRole('button', { name: 'Move a tenant' }).click();
    const move = page.getByRole('dialog', { name: 'Move a tenant' });
    await move.getByRole('combobox', { name: 'Tenant to move' }).click();
    await page.getByRole('option', { name: `Depot (depot-${pid})` }).click();
    await move.getByRole('combobox', { name: 'New parent' }).click();
    assert.equal(await page.getByRole('option', { name: 'North' }).count(), 0, 'not where it already is');
    await page.getByRole('option', { name: 'South' }).click();
    await w.look(page, 'tenants-move');
    await move.getByRole('button', { name: 'Move' }).click();
    await move.waitFor({ state: 'detached' });
    await page.getByText('Depot now sits under South, with everything below it.').waitFor();
    await node(page, `south-${pid}`).locator(`div[data-slug="depot-${pid}"]`).waitFor();
    assert.equal(await node(page, `north-${pid}`).locator(`div[data-slug="depot-${pid}"]`).count(), 0);

    // The tree works from the keyboard: arrows move between tenants, Left closes a branch.
    await page.getByRole('treeitem').first().focus();
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('ArrowLeft');
    assert.equal(await node(page, `south-${pid}`).getAttribute('aria-expanded'), 'false');
    assert.equal(await node(page, `south-${pid}`).locator(`div[data-slug="depot-${pid}"]`).count(), 0);
    await page.evaluate(() => (globalThis as unknown as { scrollTo(x: number, y: number): void }).scrollTo(0, 0));
    await w.look(page, 'tenants-moved');
    await ctx.close();
  });

  it('lets a person with two tenants switch from the page, and says why a move is refused', async () => {
    const olga = await signUp(t, { name: 'Olga' });
    const harbour = await createTenant(t, olga, { name: 'Harbour', slug: `harbour-${pid}`, parentId: olga.tenantId });
    const xavier = await signUp(t, { name: 'Xavier' });
    await join(t, harbour, xavier.userId, ['owner']);
    const { ctx, page } = await w.context();
    await w.signIn(page, xavier.email, xavier.password);
    await enter(page, "Xavier's workspace");
    await page.getByRole('link', { name: 'Tenants' }).click();
    const row = page.getByRole('row').filter({ hasText: `harbour-${pid}` });
    await row.locator('text=Owner >> visible=true').waitFor();
    assert.equal(await page.getByText("Olga's workspace").count(), 0, 'the parent Xavier has no access to is not named');
    await w.look(page, 'tenants-two');

    await row.getByRole('button', { name: 'Switch to Harbour' }).click();
    await page.waitForURL(`${base}/`);
    await page.getByRole('heading', { name: 'Harbour', level: 2 }).waitFor();
    await page.getByRole('link', { name: 'Tenants' }).click();
    await page
      .getByRole('row')
      .filter({ hasText: `harbour-${pid}` })
      .getByText('You are here')
      .waitFor();
    await node(page, `harbour-${pid}`).waitFor();

    // Xavier owns Harbour but holds nothing above it: taking it from its parent is refused, and the page says why.
    await page.getByRole('button', { name: 'Move a tenant' }).click();
    const move = page.getByRole('dialog', { name: 'Move a tenant' });
    assert.equal(await move.getByRole('combobox', { name: 'Tenant to move' }).inputValue(), `Harbour (harbour-${pid})`);
    await move.getByRole('combobox', { name: 'New parent' }).click();
    await page.getByRole('option', { name: "Xavier's workspace" }).click();
    await move.getByRole('button', { name: 'Move' }).click();
    const refusal = move.getByRole('alert').filter({ hasText: 'needs tenant.delete from above it' });
    await refusal.getByText('Ask an owner of a tenant above Harbour to move it.').waitFor();
    await w.look(page, 'tenants-move-refused');
    await ctx.close();
  });
});

/** mqtt-portal (seed 000): MQTT tenants beside the first one, under the enterprise sign-up created. */
describe('the Tenants page in mqtt-portal words [pglite]', () => {
  let w: PortalWorld;
  before(async () => {
    w = await startPortalWorld({ TENANTRY_PRESET: 'mqtt-portal' });
  });
  after(() => w?.close());

  it('lets an owner create an MQTT tenant beside theirs, under the Enterprise', async () => {
    const owner = await signUp(w.t, { name: 'Mia' });
    const { ctx, page } = await w.context();
    await w.signIn(page, owner.email, owner.password);
    await enter(page, 'Default tenant');
    await page.getByRole('link', { name: 'MQTT tenants' }).click();
    await page.getByRole('heading', { name: 'MQTT tenants', level: 2 }).waitFor();
    await page.getByRole('heading', { name: 'Your MQTT tenants' }).waitFor();
    await page.getByText("Part of Mia's organisation").waitFor();

    await page.getByRole('button', { name: 'New MQTT tenant' }).click();
    const dialog = page.getByRole('dialog', { name: 'New MQTT tenant' });
    await dialog.getByText("Also in the enterprise Mia's organisation").waitFor();
    await dialog.getByRole('radio', { name: /Beside Default tenant/ }).check();
    await dialog.getByRole('textbox', { name: 'Name' }).fill('Line 2');
    await dialog.getByRole('textbox', { name: 'Slug' }).fill(`line-2-${pid}`);
    await w.look(page, 'tenants-mqtt-sibling');
    await dialog.getByRole('button', { name: 'Create' }).click();
    await dialog.waitFor({ state: 'detached' });
    await page.getByText('Line 2 now sits beside Default tenant. You own it.').waitFor();
    await page
      .getByRole('row')
      .filter({ hasText: `line-2-${pid}` })
      .getByRole('button', { name: 'Switch to Line 2' })
      .waitFor();
    assert.equal(await node(page, `line-2-${pid}`).count(), 0, 'a sibling is not below the active MQTT tenant');

    const listed = (await w.t.app.inject({ method: 'GET', url: '/api/v1/tenants', headers: bearer(owner.accessToken) })).json().tenants as Array<{
      slug: string;
      parentId: string | null;
    }>;
    assert.equal(listed.find((x) => x.slug === `line-2-${pid}`)?.parentId, owner.enterpriseId);
    await w.look(page, 'tenants-mqtt');
    await ctx.close();
  });
});
