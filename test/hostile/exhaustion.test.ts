import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { ConfigError, loadConfig } from '../../src/platform/config.ts';
import { signAccessToken } from '../../src/tokens/access-tokens.ts';
import { readSystem } from '../../src/platform/db/context.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { testEngines } from '../helpers/database.ts';
import { assertProblem, bearer, enrol, GOOD_PASSWORD, signUp, uniqueEmail } from '../helpers/users.ts';
import { hostileWorld, type World } from './world.ts';

/**
 * Issue 14, exhaustion (OWASP API4:2023, ASVS 5.0 V6.3): guessing a password is slow from any number of addresses,
 * yet the lockout that makes it slow cannot lock the owner out for good; the client address is the connection's
 * unless a trusted proxy is configured; password hashing cannot starve other requests; oversized and deeply nested
 * bodies are refused before anything reads them.
 */
for (const engine of testEngines()) {
  describe(`hostile: exhaustion [${engine}]`, () => {
    let w: World;
    hostileWorld(engine, (built) => {
      w = built;
    });

    const loginFrom = (address: string, email: string, password: string) =>
      w.t.app.inject({ method: 'POST', url: '/api/v1/auth/login', remoteAddress: address, payload: { email, password } });

    it('locks an account after five wrong passwords from five different addresses, and the right password does not get through the lock', async () => {
      const victim = await enrol(w.t, w.a.id, ['member']);
      for (let i = 1; i <= 5; i += 1) assertProblem(await loginFrom(`203.0.113.${i}`, victim.email, `guess number ${i}`), 401, 'invalid_credentials');
      const locked = await loginFrom('198.51.100.7', victim.email, GOOD_PASSWORD);
      assertProblem(locked, 429, 'account_locked');
      assert.ok(Number(locked.headers['retry-after']) > 0);
      // An address with no account is locked alike: the lock says nothing about who exists.
      const nobody = uniqueEmail('nobody');
      for (let i = 1; i <= 5; i += 1) await loginFrom(`203.0.113.${i}`, nobody, `guess number ${i}`);
      assertProblem(await loginFrom('198.51.100.7', nobody, GOOD_PASSWORD), 429, 'account_locked');
    });

    it('cannot keep an owner out for good: tries during the lock do not extend it, it ends on time, and a password reset ends it at once', async () => {
      const victim = await enrol(w.t, w.a.id, ['member']);
      for (let i = 1; i <= 5; i += 1) await loginFrom(`203.0.113.${i}`, victim.email, 'wrong password!');
      // The attacker keeps trying through the lock: every try is refused without counting.
      for (let minute = 0; minute < 14; minute += 1) {
        w.t.clock.advance(60_000);
        assertProblem(await loginFrom('203.0.113.99', victim.email, 'wrong again!'), 429, 'account_locked');
      }
      w.t.clock.advance(61_000);
      try {
        const back = await loginFrom('198.51.100.7', victim.email, GOOD_PASSWORD);
        assert.equal(back.statusCode, 200, back.body);
        // Locked again by the attacker: the owner's reset link ends the lock at once.
        for (let i = 1; i <= 5; i += 1) await loginFrom(`203.0.113.${i}`, victim.email, 'wrong password!');
        assertProblem(await loginFrom('198.51.100.7', victim.email, GOOD_PASSWORD), 429, 'account_locked');
        assert.equal((await w.call('POST', '/api/v1/auth/password/forgot', undefined, { email: victim.email })).statusCode, 202);
        const link = await resetTokenFor(victim.email);
        assert.equal((await w.call('POST', '/api/v1/auth/password/reset', undefined, { token: link, password: 'a brand new passphrase' })).statusCode, 204);
        assert.equal((await loginFrom('198.51.100.7', victim.email, 'a brand new passphrase')).statusCode, 200);
      } finally {
        w.t.clock.advance(-(14 * 60_000 + 61_000));
      }
    });

    /** The reset token mailed to `email` (the newest). */
    const resetTokenFor = async (email: string): Promise<string> => {
      const rows = await readSystem(w.t.database.db, (trx) => trx.selectFrom('outbox').select('payload').execute());
      const texts = rows.map((r) => (typeof r.payload === 'string' ? JSON.parse(r.payload) : r.payload) as { to?: string; text?: string }).filter((p) => p.to === email);
      const token = /reset-password\?token=([A-Za-z0-9_%-]+)/.exec(texts.at(-1)?.text ?? '')?.[1];
      assert.ok(token, `no reset link mailed to ${email}`);
      return decodeURIComponent(token);
    };

    it('refuses a body over the limit with 413 and a deeply nested one with 422 nesting_too_deep, before authentication reads it', async () => {
      const big = await w.t.app.inject({
        method: 'PATCH',
        url: '/api/v1/auth/me',
        headers: { ...bearer(w.a.member.accessToken), 'content-type': 'application/json' },
        payload: JSON.stringify({ name: 'x'.repeat(2 * 1024 * 1024) }),
      });
      assertProblem(big, 413, 'payload_too_large');
      const deep = `${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}`;
      assertProblem(
        await w.t.app.inject({
          method: 'PATCH',
          url: '/api/v1/auth/me',
          headers: { ...bearer(w.a.member.accessToken), 'content-type': 'application/json' },
          payload: `{"data":${deep}}`,
        }),
        422,
        'nesting_too_deep',
      );
      const wide = `[${'[],'.repeat(100_000)}[]]`;
      const res = await w.t.app.inject({
        method: 'POST',
        url: `/api/v1/tenants/${w.a.id}/invitations`,
        headers: { ...bearer(w.a.owner.accessToken), 'content-type': 'application/json' },
        payload: `{"email":"${uniqueEmail('wide')}","roles":${wide}}`,
      });
      assert.equal(res.statusCode, 400, res.body.slice(0, 200));
    });

    it('clamps nothing silently: page sizes beyond the maximum are refused with 400 on every paged list', async () => {
      for (const list of ['members', 'invitations', 'audit-events', 'approval-requests']) {
        assertProblem(await w.call('GET', `/api/v1/tenants/${w.a.id}/${list}?limit=1000000000`, w.a.owner.accessToken), 400, 'validation_failed');
      }
      assertProblem(await w.call('GET', '/api/v1/admin/tenants?limit=1000000000', w.operator.accessToken), 400, 'validation_failed');
    });

    if (engine === testEngines()[0]) {
      // Hashing is the same on either engine: once is enough.
      it('answers other requests while 200 sign-ins hash passwords at once (argon2 runs in a bounded pool)', async () => {
        const finished: string[] = [];
        const logins = Array.from({ length: 200 }, (_, i) =>
          loginFrom(`192.0.2.${i % 250}`, uniqueEmail('storm'), `storm password ${i}`).then((r) => {
            finished.push('login');
            return r;
          }),
        );
        // Never-seen tokens, so each read verifies an ES256 signature (WebCrypto shares libuv's pool with hashing).
        const tokens = await Promise.all(
          Array.from({ length: 20 }, () =>
            signAccessToken(
              w.t.app.services.keys,
              { sub: w.a.owner.userId, tid: w.a.id, sid: decodeJwt(w.a.owner.accessToken).sid as string },
              { issuer: w.t.config.publicUrl, clock: w.t.clock },
            ),
          ),
        );
        const reads = tokens.map(({ token }) =>
          w.call('GET', `/api/v1/tenants/${w.a.id}`, token).then((r) => {
            finished.push('read');
            return r;
          }),
        );
        for (const read of await Promise.all(reads)) assert.equal(read.statusCode, 200, read.body);
        const loginsBeforeLastRead = finished.lastIndexOf('read') - 19;
        for (const login of await Promise.all(logins)) assert.equal(login.statusCode, 401);
        assert.ok(loginsBeforeLastRead < 100, `${loginsBeforeLastRead} of 200 sign-ins finished before the 20 reads did`);
      });
    }

    it('ignores X-Forwarded-For without a trusted proxy: rotating it does not escape the per-address limit', async () => {
      const t = await createTestApp(engine, { env: { TENANTRY_AUTH_RATE_LIMIT: '3' } });
      try {
        const answers = [];
        for (let i = 0; i < 5; i += 1) {
          answers.push(
            (
              await t.app.inject({
                method: 'POST',
                url: '/api/v1/auth/login',
                headers: { 'x-forwarded-for': `198.51.100.${i}` },
                payload: { email: uniqueEmail('xff'), password: 'whatever it is' },
              })
            ).statusCode,
          );
        }
        assert.deepEqual(answers, [401, 401, 401, 429, 429]);
      } finally {
        await t.close();
      }
    });

    it('believes X-Forwarded-For from a configured proxy only: the client behind it is limited and audited, not the proxy', async () => {
      const t = await createTestApp(engine, { env: { TENANTRY_AUTH_RATE_LIMIT: '3', TENANTRY_TRUSTED_PROXIES: '127.0.0.1, 10.0.0.0/8' } });
      try {
        const through = (client: string, proxy = '127.0.0.1') =>
          t.app.inject({
            method: 'POST',
            url: '/api/v1/auth/login',
            remoteAddress: proxy,
            headers: { 'x-forwarded-for': client },
            payload: { email: uniqueEmail('proxied'), password: 'whatever it is' },
          });
        const clients = [];
        for (let i = 0; i < 5; i += 1) clients.push((await through(`198.51.100.${i}`)).statusCode);
        assert.deepEqual(clients, [401, 401, 401, 401, 401], 'five clients behind one proxy are five addresses');
        const one = [];
        for (let i = 0; i < 4; i += 1) one.push((await through('198.51.100.200', '10.1.2.3')).statusCode);
        assert.deepEqual(one, [401, 401, 401, 429], 'one client through another trusted proxy is one address');
        // An untrusted peer's header is ignored: it is limited as itself.
        const untrusted = [];
        for (let i = 0; i < 4; i += 1) untrusted.push((await through(`198.51.100.${50 + i}`, '192.0.2.77')).statusCode);
        assert.deepEqual(untrusted, [401, 401, 401, 429]);
        const person = await signUp(t);
        const me = await t.app.inject({
          method: 'POST',
          url: '/api/v1/auth/login',
          remoteAddress: '127.0.0.1',
          headers: { 'x-forwarded-for': '203.0.113.250' },
          payload: { email: person.email, password: GOOD_PASSWORD },
        });
        assert.equal(me.statusCode, 200, me.body);
        assert.ok((await sessionIps(t, person.userId)).includes('203.0.113.250'), 'the session records the client behind the proxy');
      } finally {
        await t.close();
      }
      for (const wrong of ['everyone', '10.0.0.0/33', '10.0.0.1/8/2', 'true']) assert.throws(() => loadConfig({ TENANTRY_TRUSTED_PROXIES: wrong }), ConfigError);
    });
  });
}

async function sessionIps(t: TestApp, userId: string): Promise<string[]> {
  return (await readSystem(t.database.db, (trx) => trx.selectFrom('sessions').select('ip').where('user_id', '=', userId).execute())).map((r) => r.ip ?? '');
}
