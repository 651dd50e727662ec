import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { withTenant } from '../../src/platform/db/context.ts';
import { insertMembership } from '../../src/members/memberships.repository.ts';
import { startPortalWorld, type PortalWorld } from '../helpers/portal.ts';
import { signUp, uniqueEmail } from '../helpers/users.ts';

/** The Members page in Chromium: invitations, role changes, removal, and what a member without members.manage sees. */
describe('the Members page in a browser [pglite]', () => {
  let w: PortalWorld;
  let t: PortalWorld['t'];
  let base: string;
  before(async () => {
    w = await startPortalWorld();
    ({ t, base } = w);
  });
  after(() => w?.close());

  const join = (tenantId: string, userId: string, roles: string[]) =>
    withTenant(t.database.db, tenantId, (trx) => insertMembership(trx, { tenantId, userId, kind: 'direct', roles, now: t.clock.now() }));

  it("lets an owner invite, revoke, change a member's roles and remove them", async () => {
    const owner = await signUp(t, { name: 'Maya' });
    const bob = await signUp(t, { name: 'Bob' });
    await join(owner.tenantId, bob.userId, ['member']);
    const { ctx, page } = await w.context();
    await w.signIn(page, owner.email, owner.password);
    await page.getByRole('heading', { name: "Maya's workspace" }).waitFor();
    await page.getByRole('link', { name: 'Members' }).click();
    await page.getByRole('heading', { name: 'Members', level: 2 }).waitFor();
    await page.getByText(bob.email).waitFor();
    await page.getByText('No invitations are waiting for an answer.').waitFor();
    await w.look(page, 'members-owner');

    // The form checks itself before sending.
    await page.getByRole('button', { name: 'Send invitation' }).click();
    await page.getByText('Enter an email address, like name@example.com.').waitFor();
    await page.getByText('Choose at least one role.').waitFor();
    await w.look(page, 'members-invite-invalid');

    const email = uniqueEmail('newcomer');
    await page.getByRole('textbox', { name: 'Email' }).fill(email);
    await page.getByRole('combobox', { name: 'Roles' }).click();
    await page.getByRole('option', { name: 'Admin' }).click();
    await page.keyboard.press('Escape');
    await page.getByRole('button', { name: 'Send invitation' }).click();
    await page.getByText(`Invitation sent to ${email}.`).waitFor();
    const row = page.getByRole('row').filter({ hasText: email });
    await row.getByText(/Pending until/).waitFor();
    await w.look(page, 'members-invited');

    await page.getByRole('button', { name: `Revoke ${email}` }).click();
    await page.getByText('Invitation revoked').waitFor();
    await page.getByText('No invitations are waiting for an answer.').waitFor();
    assert.equal(await row.count(), 0);

    await page.getByRole('button', { name: 'Change roles of Bob' }).click();
    const dialog = page.getByRole('dialog', { name: 'Roles of Bob' });
    await dialog.waitFor();
    await dialog.getByRole('combobox', { name: 'Roles' }).click();
    await page.getByRole('option', { name: 'Admin' }).click();
    await page.keyboard.press('Escape');
    await w.look(page, 'members-change-roles');
    await dialog.getByRole('button', { name: 'Save roles' }).click();
    await dialog.waitFor({ state: 'detached' });
    const bobRow = page.getByRole('row').filter({ hasText: 'Bob' });
    await bobRow.locator('text=Admin >> visible=true').waitFor();
    await w.look(page, 'members-roles-changed');

    await page.getByRole('button', { name: 'Transfer ownership' }).click();
    const transfer = page.getByRole('dialog', { name: 'Transfer ownership' });
    await transfer.getByRole('button', { name: 'Transfer ownership' }).click();
    await transfer.getByText('Choose the member who will own it.').waitFor();
    await w.look(page, 'members-transfer');
    await transfer.getByRole('button', { name: 'Cancel' }).click();
    await transfer.waitFor({ state: 'detached' });

    await page.getByRole('button', { name: 'Remove Bob' }).click();
    const remove = page.getByRole('dialog', { name: 'Remove Bob?' });
    await w.look(page, 'members-remove');
    await remove.getByRole('button', { name: 'Remove' }).click();
    await remove.waitFor({ state: 'detached' });
    await bobRow.waitFor({ state: 'detached' });
    await w.look(page, 'members-removed');

    // The owner cannot leave as the last owner: the page says why.
    await page.getByRole('button', { name: 'Leave this tenant' }).click();
    const leave = page.getByRole('dialog', { name: 'Leave this tenant?' });
    await leave.getByRole('button', { name: 'Leave' }).click();
    await leave.getByRole('alert').filter({ hasText: 'at least one owner' }).waitFor();
    await w.look(page, 'members-last-owner');
    await ctx.close();
  });

  it('shows a member without members.manage the list only, and lets them leave', async () => {
    const owner = await signUp(t, { name: 'Noor' });
    const cara = await signUp(t, { name: 'Cara' });
    await join(owner.tenantId, cara.userId, ['member']);
    const { ctx, page } = await w.context();
    await w.signIn(page, cara.email, cara.password);
    await page.getByRole('button', { name: /Noor's workspace/ }).click();
    await page.getByRole('heading', { name: "Noor's workspace" }).waitFor();
    await page.getByRole('link', { name: 'Members' }).click();
    await page.getByText(owner.email).waitFor();
    await page.getByRole('button', { name: 'Leave this tenant' }).waitFor();
    await w.look(page, 'members-read-only');
    assert.equal(await page.getByRole('button', { name: 'Send invitation' }).count(), 0);
    assert.equal(await page.getByRole('button', { name: /^Remove / }).count(), 0);
    assert.equal(await page.getByRole('button', { name: /^Change roles/ }).count(), 0);
    assert.equal(await page.getByRole('button', { name: 'Transfer ownership' }).count(), 0);
    assert.equal(await page.getByText('Pending invitations').count(), 0);

    await page.getByRole('button', { name: 'Leave this tenant' }).click();
    await page.getByRole('dialog', { name: 'Leave this tenant?' }).getByRole('button', { name: 'Leave' }).click();
    await page.waitForURL(`${base}/choose-tenant`);
    await page.getByRole('button', { name: /Cara's workspace/ }).waitFor();
    assert.equal(await page.getByRole('button', { name: /Noor's workspace/ }).count(), 0);
    await ctx.close();
  });
});
