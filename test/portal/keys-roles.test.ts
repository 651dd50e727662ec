import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startPortalWorld, type PortalWorld } from '../helpers/portal.ts';
import { bearer, join, signUp } from '../helpers/users.ts';

/** The API keys and Roles pages in Chromium: see test/helpers/portal.ts for what `look` checks on every page. */
describe('the portal: API keys and roles [pglite]', () => {
  let w: PortalWorld;
  before(async () => {
    w = await startPortalWorld();
  });
  after(() => w?.close());
  const look = (page: Parameters<PortalWorld['look']>[0], name: string) => w.look(page, name);

  it('lets an owner create an API key, see its secret once, find it listed and revoke it', async () => {
    const owner = await signUp(w.t, { name: 'Kai' });
    const { ctx, page } = await w.context();
    await w.signIn(page, owner.email, owner.password);
    await page.getByRole('heading', { name: "Kai's workspace" }).waitFor();
    await page.getByRole('link', { name: 'API keys' }).click();
    await page.getByRole('heading', { name: 'API keys' }).waitFor();
    await page.getByText('No API keys yet').waitFor();
    await look(page, 'api-keys-empty');

    await page.getByRole('button', { name: 'Create API key' }).click();
    const create = page.getByRole('dialog', { name: 'Create an API key' });
    await create.getByRole('checkbox', { name: 'members.read', exact: true }).waitFor();
    await create.getByLabel('Name').fill('CI deploy');
    await create.getByRole('checkbox', { name: 'members.read', exact: true }).check();
    await create.getByRole('checkbox', { name: 'audit.read', exact: true }).check();
    await look(page, 'api-keys-create');
    await create.getByRole('button', { name: 'Create key' }).click();

    const shown = page.getByRole('dialog', { name: 'Your new API key' });
    await shown.getByText('you will not see it again').waitFor();
    const secret = (await shown.getByTestId('api-key-secret').textContent())?.trim() ?? '';
    assert.match(secret, /^tnty_/);
    await shown.getByRole('button', { name: 'Copy secret' }).waitFor();
    await look(page, 'api-keys-secret');
    await shown.getByRole('button', { name: 'I have stored it' }).click();
    await shown.waitFor({ state: 'detached' });
    assert.equal((await page.content()).includes(secret), false, 'the secret is gone from the page once the modal closes');

    const row = page.getByRole('row').filter({ hasText: 'CI deploy' });
    await row.getByText('audit.read').waitFor();
    await row.getByText('members.read').waitFor();
    await row.getByText('Active').waitFor();
    await look(page, 'api-keys-list');

    await row.getByRole('button', { name: 'Revoke CI deploy' }).click();
    const confirm = page.getByRole('dialog', { name: 'Revoke “CI deploy”?' });
    await look(page, 'api-keys-revoke');
    await confirm.getByRole('button', { name: 'Revoke key' }).click();
    await confirm.waitFor({ state: 'detached' });
    await row.getByText('Revoked').waitFor();
    assert.equal(await row.getByRole('button', { name: /^Revoke/ }).count(), 0);
    await look(page, 'api-keys-revoked');
    await ctx.close();
  });

  it('lets an owner create a custom role with two permissions, assign it to a member, and delete it once nobody holds it', async () => {
    const owner = await signUp(w.t, { name: 'Rue' });
    const bea = await signUp(w.t, { name: 'Bea' });
    await join(w.t, owner.tenantId, bea.userId, ['member']);
    const { ctx, page } = await w.context();
    await w.signIn(page, owner.email, owner.password);
    await page.getByRole('heading', { name: "Rue's workspace" }).waitFor();
    await page.getByRole('link', { name: 'Roles' }).click();
    await page.getByRole('heading', { name: 'Roles' }).waitFor();
    await page.getByRole('row').filter({ hasText: 'Built-in' }).first().waitFor();
    await look(page, 'roles-list');

    await page.getByRole('button', { name: 'New role' }).click();
    const editor = page.getByRole('dialog', { name: 'New custom role' });
    await editor.getByRole('checkbox', { name: 'audit.read', exact: true }).waitFor();
    await editor.getByRole('textbox', { name: 'Key' }).fill('auditor');
    await editor.getByRole('textbox', { name: 'Name' }).fill('Auditor');
    await editor.getByLabel('Description').fill('Reads the audit trail and the member list');
    await editor.getByText('Here and below').click();
    assert.equal(await editor.getByRole('radio', { name: 'Here and below' }).isChecked(), true);
    await editor.getByRole('checkbox', { name: 'audit.read', exact: true }).check();
    await editor.getByRole('checkbox', { name: 'members.read', exact: true }).check();
    await look(page, 'roles-editor');
    await editor.getByRole('button', { name: 'Create role' }).click();
    await editor.waitFor({ state: 'detached' });

    const row = page.getByRole('row').filter({ hasText: 'Auditor' });
    await row.locator('text=Custom >> visible=true').waitFor();
    await row.getByText('audit.read, members.read').waitFor();
    await look(page, 'roles-created');

    // Assigned from the Members page, the role is in use: deleting it is refused in words until nobody holds it.
    await page.getByRole('link', { name: 'Members' }).click();
    await page.getByRole('button', { name: 'Change roles of Bea' }).click();
    const roles = page.getByRole('dialog', { name: 'Roles of Bea' });
    await roles.getByRole('combobox', { name: 'Roles' }).click();
    await page.getByRole('option', { name: 'Auditor' }).click();
    await page.keyboard.press('Escape');
    await roles.getByRole('button', { name: 'Save roles' }).click();
    await roles.waitFor({ state: 'detached' });
    await page.getByRole('row').filter({ hasText: 'Bea' }).locator('text=Auditor >> visible=true').waitFor();
    const held = await w.t.app.inject({ method: 'GET', url: `/api/v1/tenants/${owner.tenantId}/members`, headers: bearer(owner.accessToken) });
    assert.deepEqual(
      held
        .json()
        .members.find((m: { userId: string }) => m.userId === bea.userId)
        .roles.sort(),
      ['auditor', 'member'],
    );
    await page.getByRole('link', { name: 'Roles' }).click();
    await row.getByRole('button', { name: 'Delete Auditor' }).click();
    const refused = page.getByRole('dialog', { name: 'Delete “Auditor”?' });
    await refused.getByRole('button', { name: 'Delete role' }).click();
    await refused
      .getByRole('alert')
      .getByText(/Someone still holds this role/)
      .waitFor();
    await look(page, 'roles-delete-in-use');
    await refused.getByRole('button', { name: 'Cancel' }).click();
    await refused.waitFor({ state: 'detached' });
    const dropped = await w.t.app.inject({
      method: 'PATCH',
      url: `/api/v1/tenants/${owner.tenantId}/members/${bea.userId}`,
      headers: bearer(owner.accessToken),
      payload: { roles: ['member'] },
    });
    assert.equal(dropped.statusCode, 200, dropped.body);

    await row.getByRole('button', { name: 'Edit Auditor' }).click();
    const edit = page.getByRole('dialog', { name: 'Edit “Auditor”' });
    assert.equal(await edit.getByRole('textbox', { name: 'Key' }).isDisabled(), true);
    assert.equal(await edit.getByRole('checkbox', { name: 'audit.read', exact: true }).isChecked(), true);
    await edit.getByRole('button', { name: 'Cancel' }).click();
    await edit.waitFor({ state: 'detached' });

    await row.getByRole('button', { name: 'Delete Auditor' }).click();
    const confirm = page.getByRole('dialog', { name: 'Delete “Auditor”?' });
    await look(page, 'roles-delete');
    await confirm.getByRole('button', { name: 'Delete role' }).click();
    await confirm.waitFor({ state: 'detached' });
    await row.waitFor({ state: 'detached' });
    await look(page, 'roles-deleted');
    await ctx.close();
  });
});
