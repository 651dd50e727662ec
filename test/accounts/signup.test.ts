import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { withSystem } from '../../src/platform/db/context.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { testEngines } from '../helpers/database.ts';
import { startTestSmtp, type TestSmtp } from '../helpers/smtp.ts';
import { assertProblem, bearer, GOOD_PASSWORD, signUp, uniqueEmail } from '../helpers/users.ts';

for (const engine of testEngines()) {
  describe(`sign-up and email verification [${engine}]`, () => {
    let t: TestApp;
    let smtp: TestSmtp;
    before(async () => {
      smtp = await startTestSmtp();
      t = await createTestApp(engine, { env: { TENANTRY_MAIL_URL: smtp.url, TENANTRY_AUTH_RATE_LIMIT: '1000' } });
    });
    after(async () => {
      await t.close();
      await smtp.close();
    });

    const counts = () =>
      withSystem(t.database.db, async (trx) => ({
        users: Number(
          (
            await trx
              .selectFrom('users')
              .select((eb) => eb.fn.countAll().as('n'))
              .executeTakeFirstOrThrow()
          ).n,
        ),
        tenants: Number(
          (
            await trx
              .selectFrom('tenants')
              .select((eb) => eb.fn.countAll().as('n'))
              .executeTakeFirstOrThrow()
          ).n,
        ),
        outbox: Number(
          (
            await trx
              .selectFrom('outbox')
              .select((eb) => eb.fn.countAll().as('n'))
              .executeTakeFirstOrThrow()
          ).n,
        ),
      }));

    it('creates the user, an owned default tenant and a session on it, and mails a verification link', async () => {
      const email = uniqueEmail('Alice');
      const res = await t.app.inject({ method: 'POST', url: '/api/v1/auth/signup', payload: { email: email.toUpperCase(), password: GOOD_PASSWORD, name: 'Alice' } });
      assert.equal(res.statusCode, 201, res.body);
      const body = res.json();
      assert.equal(body.user.email, email.toLowerCase());
      assert.equal(body.user.emailVerified, false);
      assert.match(body.tenant.id, /^t[a-z2-7]{15}$/);
      assert.equal(body.tenant.name, "Alice's workspace");
      assert.equal(body.activeTenantId, body.tenant.id);
      assert.ok(body.accessToken && body.refreshToken);

      const me = (await t.app.inject({ url: '/api/v1/auth/me', headers: bearer(body.accessToken) })).json();
      assert.deepEqual(me.authorization, { [body.tenant.id]: { tenantId: body.tenant.id, name: "Alice's workspace", roles: ['owner'] } });

      await t.app.services.outbox.runOnce();
      const mail = await smtp.waitFor((m) => m.to.includes(email.toLowerCase()));
      const link = /(http:\/\/tenantry\.test\/verify-email\?token=[\w%-]+)/.exec(mail.text)?.[1];
      assert.ok(link, mail.text);
      assert.ok(mail.html.includes('verify-email'));
      const token = decodeURIComponent(new URL(link).searchParams.get('token') ?? '');

      const verified = await t.app.inject({ method: 'POST', url: '/api/v1/auth/verify-email', payload: { token } });
      assert.equal(verified.statusCode, 200, verified.body);
      assert.equal(verified.json().user.emailVerified, true);
      assertProblem(await t.app.inject({ method: 'POST', url: '/api/v1/auth/verify-email', payload: { token } }), 400, 'invalid_verification_token');
    });

    it('expires verification links after 24 hours and lets the user ask for a new one', async () => {
      const user = await signUp(t);
      await t.app.services.outbox.runOnce();
      const first = await smtp.waitFor((m) => m.to.includes(user.email));
      const token = (s: string) => decodeURIComponent(/token=([\w%-]+)/.exec(s)?.[1] ?? '');
      t.clock.advance(24 * 60 * 60_000 + 1);
      assertProblem(await t.app.inject({ method: 'POST', url: '/api/v1/auth/verify-email', payload: { token: token(first.text) } }), 400, 'invalid_verification_token');

      // The expired session's access token has lapsed too: sign in again, then resend.
      const login = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: user.email, password: user.password } });
      const resend = await t.app.inject({ method: 'POST', url: '/api/v1/auth/verify-email/resend', headers: bearer(login.json().accessToken) });
      assert.equal(resend.statusCode, 202, resend.body);
      await t.app.services.outbox.runOnce();
      const second = await smtp.waitFor((m) => m.to.includes(user.email) && m !== first);
      const ok = await t.app.inject({ method: 'POST', url: '/api/v1/auth/verify-email', payload: { token: token(second.text) } });
      assert.equal(ok.statusCode, 200, ok.body);
    });

    it('gives two concurrent sign-ups with one email exactly one account', async () => {
      const email = uniqueEmail('race');
      const before = await counts();
      const results = await Promise.all(
        [1, 2, 3].map((i) => t.app.inject({ method: 'POST', url: '/api/v1/auth/signup', payload: { email: i === 2 ? email.toUpperCase() : email, password: GOOD_PASSWORD } })),
      );
      assert.deepEqual(results.map((r) => r.statusCode).sort(), [201, 409, 409]);
      for (const r of results.filter((r) => r.statusCode === 409)) assert.equal(r.json().code, 'email_taken');
      const afterwards = await counts();
      assert.equal(afterwards.users, before.users + 1);
      assert.equal(afterwards.tenants, before.tenants + 1);
    });

    it('refuses bad input with a 4xx problem document and creates nothing', async () => {
      const before = await counts();
      const cases: Array<[unknown, number, string]> = [
        [{ password: GOOD_PASSWORD }, 400, 'validation_failed'],
        [{ email: uniqueEmail() }, 400, 'validation_failed'],
        [{ email: `${'a'.repeat(10_000)}@example.com`, password: GOOD_PASSWORD }, 400, 'validation_failed'],
        [{ email: uniqueEmail(), password: 12345678 }, 400, 'validation_failed'],
        [{ email: uniqueEmail(), password: ['x'] }, 400, 'validation_failed'],
        [{ email: 'аdmin@example.com', password: GOOD_PASSWORD }, 422, 'invalid_email'],
        [{ email: 'not-an-email', password: GOOD_PASSWORD }, 422, 'invalid_email'],
        [{ email: uniqueEmail(), password: 'short' }, 422, 'weak_password'],
        [{ email: uniqueEmail(), password: 'password123' }, 422, 'weak_password'],
        [{ email: uniqueEmail(), password: 'x'.repeat(300) }, 422, 'weak_password'],
        [{ email: uniqueEmail(), password: GOOD_PASSWORD, role: 'super_admin' }, 400, 'validation_failed'],
      ];
      for (const [payload, status, code] of cases) {
        assertProblem(await t.app.inject({ method: 'POST', url: '/api/v1/auth/signup', payload: payload as object }), status, code);
      }
      assert.deepEqual(await counts(), before);
    });

    it('lets the user read and merge-patch their own data object', async () => {
      const user = await signUp(t);
      const patch = (body: object) => t.app.inject({ method: 'PATCH', url: '/api/v1/auth/me', headers: bearer(user.accessToken), payload: body });
      assert.deepEqual((await patch({ data: { role_at_company: 'CTO', prefs: { theme: 'dark' } } })).json().user.data, { role_at_company: 'CTO', prefs: { theme: 'dark' } });
      assert.deepEqual((await patch({ data: { prefs: { theme: null, lang: 'de' } }, name: 'Bea' })).json().user.data, { role_at_company: 'CTO', prefs: { lang: 'de' } });
      assertProblem(await patch({ data: { blob: 'x'.repeat(70_000) } }), 422, 'data_too_large');
      assertProblem(await patch({ data: 'nope' }), 400, 'validation_failed');
      const me = (await t.app.inject({ url: '/api/v1/auth/me', headers: bearer(user.accessToken) })).json();
      assert.equal(me.user.name, 'Bea');
      assert.deepEqual(me.user.data, { role_at_company: 'CTO', prefs: { lang: 'de' } });
    });
  });
}
