import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { startPortalWorld, type PortalWorld } from '../helpers/portal.ts';
import { bearer, enrol, rootTenantOf, type SignedUp } from '../helpers/users.ts';

/** The Requests (approvals) and Audit log pages in Chromium, on company-tree: a held admin removal, approved from above. */
describe('the portal: approvals and the audit log [pglite]', () => {
  let w: PortalWorld;
  let t: PortalWorld['t'];
  let mainAdmin: SignedUp;
  let adminA: SignedUp;
  let adminB: SignedUp;
  let childId: string;
  let requestId: string;
  before(async () => {
    w = await startPortalWorld({ TENANTRY_PRESET: 'company-tree' });
    t = w.t;
    const root = await rootTenantOf(t);
    mainAdmin = await enrol(t, root, ['admin'], { name: 'Mara Main' });
    const child = await t.app.inject({
      method: 'POST',
      url: '/api/v1/tenants',
      headers: bearer(mainAdmin.accessToken),
      payload: { name: 'North Distributor', slug: `north-${process.pid}`, parentId: root },
    });
    assert.equal(child.statusCode, 201, child.body);
    childId = child.json().id;
    adminA = await enrol(t, childId, ['admin'], { name: 'Ann Admin' });
    adminB = await enrol(t, childId, ['admin'], { name: 'Ben Admin' });
    const removal = await t.app.inject({ method: 'DELETE', url: `/api/v1/tenants/${childId}/members/${adminB.userId}`, headers: bearer(adminA.accessToken) });
    assert.equal(removal.statusCode, 202, removal.body);
    requestId = removal.json().approvalRequest.id;
  });
  after(() => w?.close());

  it('shows the Main Company admin the held removal from the mailed link, and approves it', async () => {
    const { ctx, page } = await w.context();
    await w.signIn(page, mainAdmin.email, mainAdmin.password);
    // An admin of the Main Company also reaches the child company: they choose where to work first.
    await page.getByRole('button', { name: /Main Company/ }).click();
    await page.getByRole('heading', { name: 'Main Company' }).waitFor();
    const link = w.linkIn((await w.mailTo(mainAdmin.email)).text, '/approvals');
    assert.match(link, new RegExp(`request=${requestId}`));
    await page.goto(link);
    await page.getByRole('heading', { name: 'Requests' }).waitFor();
    await page.getByRole('link', { name: 'Requests' }).waitFor();
    const card = page.locator(`[data-request="${requestId}"]`);
    await card.waitFor();
    assert.equal(await card.getAttribute('aria-current'), 'true');
    // People by name, from the company's members, not by id.
    await card.getByText('Remove administrator Ben Admin').waitFor();
    await card.getByText(/asked by Ann Admin on/).waitFor();
    await card.getByText('North Distributor').waitFor();
    await w.look(page, 'approvals-inbox');

    await card.getByRole('button', { name: 'Approve' }).click();
    const dialog = page.getByRole('dialog', { name: 'Approve this request?' });
    await dialog.waitFor();
    await dialog.getByLabel('Note (optional)').fill('Fine by the Main Company.');
    await w.look(page, 'approvals-approve');
    await dialog.getByRole('button', { name: 'Approve' }).click();
    await page.getByText('Approved: the action has been carried out.').waitFor();
    await page.getByText('Nothing waits for your decision.').waitFor();
    await w.look(page, 'approvals-approved');
    await ctx.close();

    const members = await t.app.inject({ method: 'GET', url: `/api/v1/tenants/${childId}/members?limit=100`, headers: bearer(adminA.accessToken) });
    assert.equal(members.statusCode, 200, members.body);
    assert.ok(!members.json().members.some((m: { userId: string }) => m.userId === adminB.userId), 'admin B is removed');
  });

  it('shows the initiator their request as executed, with the note, under My requests', async () => {
    const { ctx, page } = await w.context();
    await w.signIn(page, adminA.email, adminA.password);
    await page.getByRole('link', { name: 'Requests' }).click();
    await page.getByRole('heading', { name: 'Requests' }).waitFor();
    await page.getByText('Nothing waits for your decision.').waitFor();
    await page.getByRole('tab', { name: 'My requests' }).click();
    const card = page.locator(`[data-request="${requestId}"]`);
    await card.getByText('executed').waitFor();
    await card.getByText('Note from the decider: “Fine by the Main Company.”').waitFor();
    assert.equal(await card.getByRole('button', { name: 'Cancel request' }).count(), 0);
    await w.look(page, 'approvals-mine');
    await ctx.close();
  });

  it("lists the child company's audit trail, filters it, shows an event's before and after, exports, and verifies the chain", async () => {
    const { ctx, page } = await w.context();
    await w.signIn(page, adminA.email, adminA.password);
    await page.getByRole('link', { name: 'Audit log' }).click();
    await page.getByRole('heading', { name: 'Audit log' }).waitFor();
    await page.getByText(/^Chain verified · \d+ events$/).waitFor();
    await page.getByRole('cell', { name: 'approval.executed' }).waitFor();
    await page.getByRole('cell', { name: 'member.removed' }).waitFor();
    await w.look(page, 'audit-list');

    await page.getByLabel('Action').fill('approval.*');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await page.getByRole('cell', { name: 'member.removed' }).waitFor({ state: 'detached' });
    await page.getByRole('cell', { name: 'approval.requested' }).waitFor();
    await page.getByRole('cell', { name: 'approval.executed' }).waitFor();
    await w.look(page, 'audit-filtered');

    const download = page.waitForEvent('download');
    await page.getByRole('button', { name: 'Export' }).click();
    const file = await download;
    assert.match(file.suggestedFilename(), new RegExp(`^audit-${childId}-.*\\.json$`));
    const exported = JSON.parse(await readFile(await file.path(), 'utf8')) as { events: Array<{ action: string }> };
    assert.ok(exported.events.length >= 2);
    assert.ok(exported.events.every((e) => e.action.startsWith('approval.')));

    await page.getByRole('button', { name: 'Clear' }).click();
    const removed = page.getByRole('row').filter({ has: page.getByRole('cell', { name: 'member.removed' }) });
    await removed.getByRole('button', { name: 'Details' }).click();
    const drawer = page.getByRole('dialog', { name: /member\.removed/ });
    await drawer.waitFor();
    await drawer.getByRole('heading', { name: 'Before' }).waitFor();
    await drawer.getByText(adminB.userId).first().waitFor();
    await w.look(page, 'audit-details');
    await page.keyboard.press('Escape');
    await drawer.waitFor({ state: 'detached' });
    await ctx.close();
  });
});
