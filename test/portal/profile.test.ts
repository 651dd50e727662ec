import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startPortalWorld, type PortalWorld } from '../helpers/portal.ts';
import { signUp } from '../helpers/users.ts';

/** The profile (the user menu's first entry), and the portal used with the keyboard alone. */
describe('the portal: profile and keyboard [pglite]', () => {
  let w: PortalWorld;
  before(async () => {
    w = await startPortalWorld();
  });
  after(() => w?.close());

  it('lets a person rename themselves, edit their data object (bad JSON refused before sending), and mail themselves links', async () => {
    const ada = await signUp(w.t, { name: 'Ada' });
    const { ctx, page } = await w.context();
    await w.signIn(page, ada.email, ada.password);
    await page.getByRole('button', { name: /^Your account: Ada/ }).click();
    await page.getByRole('menuitem', { name: 'Your profile' }).click();
    await page.getByRole('heading', { name: 'Your profile' }).waitFor();
    await page.getByText('Not verified').waitFor();
    await w.look(page, 'profile');

    await page.getByLabel('Name').fill('Ada Lovelace');
    await page.getByRole('button', { name: 'Save name' }).click();
    await page.getByRole('button', { name: /^Your account: Ada Lovelace/ }).waitFor(); // the header follows

    const writes: string[] = [];
    page.on('request', (request) => {
      if (request.method() === 'PATCH') writes.push(request.url());
    });
    const data = page.getByRole('textbox', { name: 'data' });
    await data.fill('{"phone": "+44 20 7946 0000",');
    await page.getByRole('button', { name: 'Save data' }).click();
    await page.getByText(/Not valid JSON/).waitFor();
    await data.fill('["not", "an object"]');
    await page.getByRole('button', { name: 'Save data' }).click();
    await page.getByText('This must be a JSON object: { … }').waitFor();
    assert.deepEqual(writes, [], 'nothing is sent until the text is a JSON object');
    await w.look(page, 'profile-data-invalid');
    await data.fill('{"phone": "+44 20 7946 0000", "theme": "dark"}');
    await page.getByRole('button', { name: 'Save data' }).click();
    await page.getByRole('form', { name: 'Your data' }).getByRole('status').getByText('Saved.').waitFor();
    const me = await w.t.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: { authorization: `Bearer ${ada.accessToken}` } });
    assert.equal(me.json().user.name, 'Ada Lovelace');
    assert.deepEqual(me.json().user.data, { phone: '+44 20 7946 0000', theme: 'dark' });
    // The API merges a patch; the editor sends the difference, so a key deleted here is deleted there.
    await data.fill('{"theme": "light"}');
    await page.getByRole('button', { name: 'Save data' }).click();
    await page.getByRole('form', { name: 'Your data' }).getByRole('status').getByText('Saved.').waitFor();
    const after = await w.t.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: { authorization: `Bearer ${ada.accessToken}` } });
    assert.deepEqual(after.json().user.data, { theme: 'light' });

    await page.getByRole('button', { name: 'Send the verification link again' }).click();
    await page.getByText(`Sent: open the link in the mail to ${ada.email}.`).waitFor();
    assert.match(w.linkIn((await w.mailTo(ada.email)).text, '/verify-email'), /token=/);
    await page.getByRole('button', { name: 'Mail me a password link' }).click();
    await page.getByText('Link sent').waitFor();
    assert.match(w.linkIn((await w.mailTo(ada.email)).text, '/reset-password'), /token=/);
    await w.look(page, 'profile-links-sent');
    await ctx.close();
  });

  it('works with the keyboard alone: sign in, reach a page from the navigation, open the user menu, sign out', async () => {
    const kay = await signUp(w.t, { name: 'Kay' });
    const { ctx, page } = await w.context();
    await page.goto(`${w.base}/sign-in`);
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    /** Tabs (backwards with `Shift+Tab`) until `name` has the focus (at most 30 stops), as a keyboard user would. */
    const tabTo = async (name: RegExp, key = 'Tab') => {
      for (let i = 0; i < 30; i += 1) {
        await page.keyboard.press(key);
        const focused = await page.evaluate(() => {
          const el = (
            globalThis as unknown as {
              document: {
                activeElement: { getAttribute(n: string): string | null; textContent: string | null; id: string } | null;
                querySelector(s: string): { textContent: string | null } | null;
              };
            }
          ).document;
          const active = el.activeElement;
          if (active === null) return '';
          const label = active.id === '' ? null : el.querySelector(`label[for="${active.id}"]`);
          return `${active.getAttribute('aria-label') ?? ''} ${label?.textContent ?? ''} ${active.textContent ?? ''}`;
        });
        if (name.test(focused)) return;
      }
      assert.fail(`the keyboard never reached ${name}`);
    };
    await tabTo(/Email/);
    await page.keyboard.type(kay.email);
    await tabTo(/Password/);
    await page.keyboard.type(kay.password);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: "Kay's workspace" }).waitFor();

    await tabTo(/^\s*Members\s*$|Members$/);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Members', level: 2 }).waitFor();

    await tabTo(/^\s*Your account/, 'Shift+Tab'); // from the navigation back up to the header
    await page.keyboard.press('Enter');
    await page.getByRole('menuitem', { name: 'Sign out' }).waitFor();
    // Mantine menus move with the arrows; the last item is three steps down, or more if a keypress lands before the
    // menu has taken the focus (a loaded CI machine), so step until it is reached, at most a few times round.
    const focusedItem = () =>
      page.evaluate(() => (globalThis as unknown as { document: { activeElement: { textContent: string | null } | null } }).document.activeElement?.textContent ?? '');
    for (let i = 0; i < 8 && (await focusedItem()) !== 'Sign out'; i += 1) await page.keyboard.press('ArrowDown');
    assert.equal(await focusedItem(), 'Sign out');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await ctx.close();
  });
});
