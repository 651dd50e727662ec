import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createOperator } from '../../src/accounts/operator.service.ts';
import { startPortalWorld, type PortalWorld } from '../helpers/portal.ts';
import { enrol, GOOD_PASSWORD, uniqueEmail } from '../helpers/users.ts';

/** Seed 001's operator pages in Chromium (msp preset, a licence file): Admin → Tenants, Users and Licence. */
describe('the admin pages in a browser [pglite]', () => {
  let w: PortalWorld;
  let dir: string;
  let operatorEmail: string;
  let adminTenancy: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'tenantry-admin-portal-'));
    const licence = path.join(dir, 'licence.json');
    await writeFile(licence, JSON.stringify({ licensee: 'Acme MSP Ltd', features: ['helpdesk', 'crm', 'multi_tenant'], tenantLimit: 50 }));
    w = await startPortalWorld({ TENANTRY_PRESET: 'msp', TENANTRY_LICENCE_FILE: licence });
    operatorEmail = uniqueEmail('operator');
    const created = await createOperator(
      { db: w.t.database.db, clock: w.t.clock, ownerRole: 'super_admin' },
      { email: operatorEmail, password: GOOD_PASSWORD, name: 'Olga Operator' },
    );
    adminTenancy = created.adminTenantId ?? '';
    assert.ok(adminTenancy);
  });
  after(async () => {
    await w?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('lists every tenant with its markers, adds tenants inline and deletes one by its slug', async () => {
    const { ctx, page } = await w.context();
    await w.signIn(page, operatorEmail, GOOD_PASSWORD);
    await page.getByRole('link', { name: 'Admin · Organisations' }).click();
    await page.getByRole('heading', { name: 'Admin · Organisations' }).waitFor();
    await page.getByText('Tenants in use: 1 / 50').waitFor();
    const home = page.getByRole('row').filter({ hasText: 'YOU ARE HERE' });
    await home.getByText('ADMIN TENANCY').waitFor();
    // Neither the tenant you are in nor the admin tenancy offers Delete… (seed 001).
    assert.equal(await home.getByRole('button', { name: 'Delete…' }).count(), 0);
    await w.look(page, 'admin-tenants');

    // The inline add row: the slug follows the name until edited.
    await page.getByRole('textbox', { name: 'Tenant name' }).fill('Acme Ltd');
    assert.equal(await page.getByRole('textbox', { name: 'Slug' }).inputValue(), 'acme-ltd');
    await page.getByRole('textbox', { name: 'Slug' }).fill('acme');
    await page.getByRole('button', { name: 'Add tenant' }).click();
    await page.getByText('Acme Ltd was added.').waitFor();
    await page.getByText('Tenants in use: 2 / 50').waitFor();
    await page.getByRole('textbox', { name: 'Tenant name' }).fill('Beta Co');
    await page.getByRole('textbox', { name: 'Slug' }).fill('beta');
    await page.getByRole('button', { name: 'Add tenant' }).click();
    await page.getByText('Tenants in use: 3 / 50').waitFor();
    // A taken slug is refused in words, next to the field.
    await page.getByRole('textbox', { name: 'Tenant name' }).fill('Beta again');
    await page.getByRole('textbox', { name: 'Slug' }).fill('beta');
    await page.getByRole('button', { name: 'Add tenant' }).click();
    await page.getByText('Another tenant already has that slug. Choose a different one.').waitFor();
    await w.look(page, 'admin-tenants-added');

    // Make admin tenancy asks first (cancelled here: it would change who gets shadow access).
    const acme = page.getByRole('row').filter({ hasText: 'Acme Ltd' });
    await acme.getByRole('button', { name: 'Make admin tenancy' }).click();
    const confirm = page.getByRole('dialog', { name: 'Make Acme Ltd the admin tenancy?' });
    await confirm.waitFor();
    await w.look(page, 'admin-tenants-make-admin');
    await confirm.getByRole('button', { name: 'Cancel' }).click();
    await confirm.waitFor({ state: 'hidden' });

    // Delete…: typing the slug enables the delete; the report says what was wiped (msp: no grace period).
    await page.getByRole('row').filter({ hasText: 'Beta Co' }).getByRole('button', { name: 'Delete…' }).click();
    const dialog = page.getByRole('dialog', { name: 'Delete Beta Co?' });
    await dialog.waitFor();
    const go = dialog.getByRole('button', { name: 'Delete tenant' });
    assert.equal(await go.isDisabled(), true);
    await dialog.getByRole('textbox', { name: 'Type the slug, beta, to confirm' }).fill('beta');
    await w.look(page, 'admin-tenants-delete');
    await go.click();
    const report = page.getByRole('dialog', { name: 'Beta Co: deletion report' });
    await report.getByText('Deleted. Here is what was removed:').waitFor();
    await report
      .getByText(/rows? wiped/)
      .first()
      .waitFor();
    await report.getByText(/re-pointed to another tenant/).waitFor();
    await report.getByText(/deleted \(they belonged to nothing else\)/).waitFor();
    await w.look(page, 'admin-tenants-deleted');
    await report.getByRole('button', { name: 'Close' }).first().click();
    await page.getByText('Tenants in use: 2 / 50').waitFor();
    assert.equal(await page.getByRole('row').filter({ hasText: 'Beta Co' }).count(), 0);
    await ctx.close();
  });

  it('shows the licence in force', async () => {
    const { ctx, page } = await w.context();
    await w.signIn(page, operatorEmail, GOOD_PASSWORD);
    await page.getByRole('link', { name: 'Admin · Licence' }).click();
    await page.getByRole('heading', { name: 'Admin · Licence' }).waitFor();
    await page.getByText('Acme MSP Ltd').waitFor();
    await page.getByText('2 / 50').waitFor();
    await page.getByRole('row').filter({ hasText: 'Helpdesk' }).getByText('Yes').waitFor();
    await page.getByRole('row').filter({ hasText: 'RMM' }).getByText('No').waitFor();
    await w.look(page, 'admin-licence');
    await ctx.close();
  });

  it('invites an email into a chosen tenant from Admin → Users', async () => {
    const { ctx, page } = await w.context();
    await w.signIn(page, operatorEmail, GOOD_PASSWORD);
    await page.getByRole('link', { name: 'Admin · Users' }).click();
    await page.getByRole('heading', { name: 'Admin · Users' }).waitFor();
    await page.getByText('No list of people here').waitFor();
    await w.look(page, 'admin-users');

    await page.getByRole('button', { name: 'Send invitation' }).click();
    await page.getByText('Choose a tenant.').first().waitFor();
    await page.getByText('Enter an email address, like name@example.com.').waitFor();

    const email = uniqueEmail('customer-admin');
    await page.getByRole('combobox', { name: 'Tenant', exact: true }).click();
    await page.getByRole('option', { name: 'Acme Ltd (acme)' }).click();
    await page.getByRole('textbox', { name: 'Email' }).fill(email);
    await page.getByRole('combobox', { name: 'Roles' }).click();
    await page.getByRole('option', { name: 'Admin', exact: true }).click();
    await page.keyboard.press('Escape');
    await page.getByRole('button', { name: 'Send invitation' }).click();
    await page.getByText(`Invitation sent to ${email} for Acme Ltd (acme).`).waitFor();
    await w.look(page, 'admin-users-invited');
    const mail = await w.mailTo(email);
    assert.ok(w.linkIn(mail.text, '/team-invite'));
    assert.match(mail.text + mail.subject, /Acme Ltd/);
    await ctx.close();
  });

  it('shows no Admin links to someone who is not an operator, and says so on the page', async () => {
    const customer = await enrol(w.t, adminTenancy, ['customer'], { name: 'Carl' });
    const { ctx, page } = await w.context();
    await w.signIn(page, customer.email, customer.password);
    await page.getByRole('link', { name: 'Dashboard' }).waitFor();
    assert.equal(await page.getByRole('link', { name: /^Admin · / }).count(), 0);
    await page.goto(`${w.base}/admin/tenants`);
    await page.getByRole('alert').getByText('Operators only', { exact: true }).waitFor();
    await page.getByText(/These pages are for platform operators only/).waitFor();
    await w.look(page, 'admin-not-operator');
    await ctx.close();
  });
});
