import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { testEngines } from '../helpers/database.ts';
import { startTestSmtp, type TestSmtp } from '../helpers/smtp.ts';
import { assertProblem, bearer, signUp } from '../helpers/users.ts';

for (const engine of testEngines()) {
  describe(`password reset [${engine}]`, () => {
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

    const forgot = (email: string) => t.app.inject({ method: 'POST', url: '/api/v1/auth/password/forgot', payload: { email } });
    const reset = (token: string, password: string) => t.app.inject({ method: 'POST', url: '/api/v1/auth/password/reset', payload: { token, password } });
    const tokenIn = (text: string) => decodeURIComponent(/reset-password\?token=([\w%-]+)/.exec(text)?.[1] ?? '');

    it('answers the same for unknown addresses and sends nothing', async () => {
      const before = smtp.messages.length;
      const unknown = await forgot('nobody.at.all@example.test');
      assert.equal(unknown.statusCode, 202);
      assert.deepEqual(unknown.json(), { status: 'accepted' });
      assert.equal((await forgot('not even an address')).statusCode, 202);
      assert.deepEqual((await t.app.services.outbox.runOnce()).delivered, 0);
      assert.equal(smtp.messages.length, before);
    });

    it('sets the new password, revokes every session, and spends the link', async () => {
      const user = await signUp(t);
      const otherSession = (await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: user.email, password: user.password } })).json();
      // Both sessions are now in the credential cache: the reset must end them there too.
      for (const session of [user.accessToken, otherSession.accessToken]) assert.equal((await t.app.inject({ url: '/api/v1/auth/me', headers: bearer(session) })).statusCode, 200);
      assert.equal((await forgot(user.email.toUpperCase())).statusCode, 202);
      await t.app.services.outbox.runOnce();
      const mail = await smtp.waitFor((m) => m.to.includes(user.email) && m.subject.toLowerCase().includes('reset'));
      const token = tokenIn(mail.text);
      assert.ok(token);

      assertProblem(await reset(token, 'password'), 422, 'weak_password');
      const done = await reset(token, 'a brand new passphrase');
      assert.equal(done.statusCode, 204, done.body);

      for (const session of [user.accessToken, otherSession.accessToken]) {
        assertProblem(await t.app.inject({ url: '/api/v1/auth/me', headers: bearer(session) }), 401, 'session_ended');
      }
      assertProblem(await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: user.email, password: user.password } }), 401, 'invalid_credentials');
      const fresh = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: user.email, password: 'a brand new passphrase' } });
      assert.equal(fresh.statusCode, 200);
      assert.equal(fresh.json().user.emailVerified, true, 'the link proved control of the mailbox');
      assertProblem(await reset(token, 'yet another passphrase'), 400, 'invalid_reset_token');
    });

    it('expires reset links after an hour, and only the newest link works', async () => {
      const user = await signUp(t);
      const isReset = (m: { to: string[]; subject: string }) => m.to.includes(user.email) && m.subject.toLowerCase().includes('reset');
      await forgot(user.email);
      await t.app.services.outbox.runOnce();
      const first = await smtp.waitFor(isReset);
      await forgot(user.email);
      await t.app.services.outbox.runOnce();
      const second = await smtp.waitFor((m) => isReset(m) && m !== first);
      const [older, newer] = [tokenIn(first.text), tokenIn(second.text)];
      assertProblem(await reset(older, 'a brand new passphrase'), 400, 'invalid_reset_token');
      t.clock.advance(60 * 60_000 + 1);
      assertProblem(await reset(newer, 'a brand new passphrase'), 400, 'invalid_reset_token');
    });
  });
}
