import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { testEngines } from '../helpers/database.ts';
import { startTestSmtp, type TestSmtp } from '../helpers/smtp.ts';
import { GOOD_PASSWORD, uniqueEmail } from '../helpers/users.ts';

/**
 * SPEC: mail goes through the outbox, so an SMTP outage delays mail but never fails the request that
 * caused it nor loses the mail. End to end: sign-up over HTTP while the SMTP server is down, then the
 * worker (driven by hand on the manual clock) retries after its backoff once the server is back.
 */
for (const engine of testEngines()) {
  describe(`sign-up during an SMTP outage [${engine}]`, () => {
    let smtp: TestSmtp;
    let t: TestApp;
    before(async () => {
      smtp = await startTestSmtp();
      t = await createTestApp(engine, { env: { TENANTRY_MAIL_URL: smtp.url, TENANTRY_AUTH_RATE_LIMIT: '1000' } });
    });
    after(async () => {
      await t?.close();
      await smtp?.close();
    });

    /** The outbox's mail rows addressed to `to`. */
    const mailRows = async (to: string) =>
      (await t.database.db.selectFrom('outbox').selectAll().where('topic', '=', 'mail').orderBy('created_at').execute()).filter(
        (row) => (row.payload as { to?: unknown }).to === to,
      );

    it('answers 201 while SMTP is down, retries after the backoff, and delivers the verification mail exactly once', async () => {
      await smtp.stop();
      const email = uniqueEmail('outage');

      const res = await t.app.inject({ method: 'POST', url: '/api/v1/auth/signup', payload: { email, password: GOOD_PASSWORD, name: 'Otto' } });
      assert.equal(res.statusCode, 201, res.body);
      const body = res.json();
      assert.equal(body.user.email, email);
      assert.equal(body.user.emailVerified, false);
      assert.ok(body.accessToken);

      const [queued, ...others] = await mailRows(email);
      assert.ok(queued, 'the verification mail is in the outbox');
      assert.deepEqual(others, [], 'one mail queued for the new address');
      assert.equal(queued.delivered_at, null);
      assert.equal(queued.attempts, 0);

      // The worker tries while the server is down: the attempt and its error are recorded, nothing is lost.
      assert.deepEqual(await t.app.services.outbox.runOnce(), { delivered: 0, failed: 1 });
      const failed = (await mailRows(email))[0];
      assert.ok(failed);
      assert.equal(failed.id, queued.id);
      assert.equal(failed.delivered_at, null);
      assert.equal(failed.attempts, 1);
      assert.ok(failed.last_error !== null && failed.last_error.length > 0, 'the SMTP error is recorded');
      assert.ok(failed.available_at.getTime() > t.clock.now().getTime(), 'the retry waits out a backoff');
      const warning = t.logs.find((l) => l.msg === 'mail not sent; will retry' && l.outboxId === queued.id);
      assert.ok(warning, 'the failure is logged');
      assert.equal(warning.to, email);
      assert.equal(smtp.messages.filter((m) => m.to.includes(email)).length, 0);

      // Back up, but still inside the backoff: the worker leaves the message alone.
      await smtp.restart();
      assert.deepEqual(await t.app.services.outbox.runOnce(), { delivered: 0, failed: 0 });
      assert.equal((await mailRows(email))[0]?.attempts, 1);

      t.clock.advance(failed.available_at.getTime() - t.clock.now().getTime() + 1);
      assert.deepEqual(await t.app.services.outbox.runOnce(), { delivered: 1, failed: 0 });
      const mail = await smtp.waitFor((m) => m.to.includes(email));
      assert.deepEqual(mail.to, [email]);
      assert.equal(mail.subject, 'Confirm your email address for Tenantry');
      const link = /(http:\/\/tenantry\.test\/verify-email\?token=[\w%-]+)/.exec(mail.text)?.[1];
      assert.ok(link, `the text part carries the verify link: ${mail.text}`);
      assert.ok(mail.html.includes(`href="${link}"`), `the html part carries the same link: ${mail.html}`);

      const delivered = (await mailRows(email))[0];
      assert.ok(delivered);
      assert.deepEqual(delivered.delivered_at, t.clock.now());
      assert.equal(delivered.attempts, 2);
      assert.equal(delivered.last_error, null);

      // Nothing is sent again, however long the worker keeps running (well past the longest backoff).
      t.clock.advance(2 * 60 * 60_000);
      assert.deepEqual(await t.app.services.outbox.runOnce(), { delivered: 0, failed: 0 });
      assert.equal(smtp.messages.filter((m) => m.to.includes(email)).length, 1);

      // The link in the mail that survived the outage is the one that verifies the address.
      const token = decodeURIComponent(new URL(link).searchParams.get('token') ?? '');
      const verified = await t.app.inject({ method: 'POST', url: '/api/v1/auth/verify-email', payload: { token } });
      assert.equal(verified.statusCode, 200, verified.body);
      assert.equal(verified.json().user.emailVerified, true);
    });
  });
}
