import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { withSystem } from '../../src/platform/db/context.ts';
import { hashSecret } from '../../src/platform/secrets.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { testEngines } from '../helpers/database.ts';
import { startTestSmtp, type TestSmtp } from '../helpers/smtp.ts';
import { bearer, GOOD_PASSWORD, signUp, uniqueEmail } from '../helpers/users.ts';

const RATE_LIMIT = 50;
const GUESSES = 1_000;

for (const engine of testEngines()) {
  describe(`invitations: tokens stay secret [${engine}]`, () => {
    let t: TestApp;
    let smtp: TestSmtp;
    before(async () => {
      smtp = await startTestSmtp();
      t = await createTestApp(engine, { env: { TENANTRY_MAIL_URL: smtp.url, TENANTRY_AUTH_RATE_LIMIT: String(RATE_LIMIT) } });
    });
    after(async () => {
      await t.close();
      await smtp.close();
    });

    /** Every invitation token mailed so far. */
    const mailedTokens = () => smtp.messages.flatMap((m) => [...m.text.matchAll(/tnr_inv_[A-Za-z0-9_-]{43}/g)].map((match) => match[0]));

    /**
     * Counts of each status code for `count` requests, one after another: @fastify/rate-limit's in-memory
     * store hands concurrent requests one shared counter, so a batch straddling the limit is refused whole
     * (stricter, never looser) and the exact split is only observable sequentially.
     */
    async function tally(count: number, request: () => Promise<{ statusCode: number }>): Promise<Record<number, number>> {
      const counts: Record<number, number> = {};
      for (let i = 0; i < count; i++) {
        const { statusCode } = await request();
        counts[statusCode] = (counts[statusCode] ?? 0) + 1;
      }
      return counts;
    }

    it('finds nothing with 1,000 random tokens, and rate-limits the guessing per client address', async () => {
      // A real pending invitation, so there is something to find.
      const owner = await signUp(t);
      const res = await t.app.inject({
        method: 'POST',
        url: `/api/v1/tenants/${owner.tenantId}/invitations`,
        headers: bearer(owner.accessToken),
        payload: { email: uniqueEmail('guess-target'), roles: ['member'] },
      });
      assert.equal(res.statusCode, 201, res.body);
      await t.app.services.outbox.runOnce();
      const [realToken] = mailedTokens();
      assert.ok(realToken);

      const guess = () => `tnr_inv_${randomBytes(32).toString('base64url')}`;
      const previews = await tally(GUESSES, () => t.app.inject({ url: `/api/v1/invitations/${guess()}`, remoteAddress: '203.0.113.7' }));
      assert.deepEqual(previews, { 404: RATE_LIMIT, 429: GUESSES - RATE_LIMIT });

      // Accepting is limited on its own budget, signed in or not.
      const guesser = await signUp(t);
      const accepts = await tally(GUESSES, () =>
        t.app.inject({ method: 'POST', url: `/api/v1/invitations/${guess()}/accept`, headers: bearer(guesser.accessToken), remoteAddress: '203.0.113.8' }),
      );
      assert.deepEqual(accepts, { 404: RATE_LIMIT, 429: GUESSES - RATE_LIMIT });
      const limited = await t.app.inject({ url: `/api/v1/invitations/${realToken}`, remoteAddress: '203.0.113.7' });
      assert.equal(limited.json().code, 'rate_limited', 'the real token does not get past the limit either');

      // From elsewhere, the real token still works: the limit is per address, and nothing was consumed.
      const real = await t.app.inject({ url: `/api/v1/invitations/${realToken}`, remoteAddress: '198.51.100.1' });
      assert.equal(real.statusCode, 200, real.body);
    });

    it('never writes an invitation token (or its hash) to the logs or the audit trail', async () => {
      const owner = await signUp(t, { name: 'Logan' });
      const existing = await signUp(t);
      await t.database.db.updateTable('users').set({ email_verified_at: t.clock.now() }).where('id', '=', existing.userId).execute();
      const invite = (email: string) =>
        t.app.inject({ method: 'POST', url: `/api/v1/tenants/${owner.tenantId}/invitations`, headers: bearer(owner.accessToken), payload: { email, roles: ['member'] } });
      const newcomer = uniqueEmail('secret-newcomer');
      // Delivered one by one, so the newest mail to an address carries its live token.
      for (const email of [existing.email, existing.email, newcomer]) {
        assert.equal((await invite(email)).statusCode, 201);
        await t.app.services.outbox.runOnce();
      }
      const token = (email: string) => {
        const mail = smtp.messages.filter((m) => m.to.includes(email) && m.text.includes('/team-invite/')).at(-1);
        return /tnr_inv_[A-Za-z0-9_-]{43}/.exec(mail?.text ?? '')?.[0] ?? '';
      };
      const ip = { remoteAddress: '192.0.2.50' };
      // Preview, accept, the sign-up and verification carrying it: every path a token travels.
      assert.equal((await t.app.inject({ url: `/api/v1/invitations/${token(existing.email)}`, ...ip })).statusCode, 200);
      assert.equal(
        (await t.app.inject({ method: 'POST', url: `/api/v1/invitations/${token(existing.email)}/accept`, headers: bearer(existing.accessToken), ...ip })).statusCode,
        200,
      );
      assert.equal((await t.app.inject({ url: `/api/v1/invitations/${token(existing.email)}`, ...ip })).statusCode, 410);
      const signup = await t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/signup',
        payload: { email: newcomer, password: GOOD_PASSWORD, invitationToken: token(newcomer) },
        ...ip,
      });
      assert.equal(signup.statusCode, 201, signup.body);
      assert.equal(signup.json().tenant.id, owner.tenantId, 'signing up through the link joined the tenant');

      const tokens = mailedTokens();
      assert.ok(tokens.length >= 3);
      const logs = JSON.stringify(t.logs);
      assert.ok(logs.includes('/api/v1/invitations/'), 'the requests were logged');
      const audit = JSON.stringify(await withSystem(t.database.db, (trx) => trx.selectFrom('audit_events').selectAll().execute()));
      assert.ok(audit.includes('invitation.accepted'));
      for (const secret of tokens) {
        for (const needle of [secret, secret.slice('tnr_inv_'.length), hashSecret(secret)]) {
          assert.ok(!logs.includes(needle), 'an invitation token reached the logs');
          assert.ok(!audit.includes(needle), 'an invitation token reached the audit trail');
        }
      }
    });
  });
}
