import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import { Type } from 'typebox';
import { withSystem } from '../../src/platform/db/context.ts';
import { canonicalJson, hashRequest, IDEMPOTENCY_TTL_MS } from '../../src/platform/http/idempotency.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { testEngines } from '../helpers/database.ts';
import { seedTenant } from '../helpers/tenants.ts';
import { assertProblem, bearer, GOOD_PASSWORD, signUp, uniqueEmail } from '../helpers/users.ts';

const SIGNUP = '/api/v1/auth/signup';

describe('canonical request form', () => {
  it('sorts object members at every depth and keeps array order', () => {
    assert.equal(canonicalJson({ b: 1, a: { d: [2, { z: 1, y: null }], c: 'x' } }), '{"a":{"c":"x","d":[2,{"y":null,"z":1}]},"b":1}');
    assert.equal(canonicalJson(undefined), 'null');
    const key = Buffer.alloc(32, 1);
    assert.equal(hashRequest(key, '/a', { x: 1, y: 2 }), hashRequest(key, '/a', { y: 2, x: 1 }));
    assert.notEqual(hashRequest(key, '/a', { x: 1 }), hashRequest(key, '/b', { x: 1 }));
    assert.notEqual(hashRequest(key, '/a', [1, 2]), hashRequest(key, '/a', [2, 1]));
  });
});

for (const engine of testEngines()) {
  describe(`Idempotency-Key on POST [${engine}]`, () => {
    let t: TestApp;
    let flakyCalls = 0;
    let thingCalls = 0;
    before(async () => {
      t = await createTestApp(engine, {
        env: { TENANTRY_AUTH_RATE_LIMIT: '1000' },
        extend: (app) => {
          // Fails with a 500 on its first call only: a retry with the same key must run it again.
          app.post('/test/idempotency/flaky', { schema: { response: { 201: Type.Object({ call: Type.Integer() }) } } }, async (_request, reply) => {
            flakyCalls += 1;
            if (flakyCalls === 1) throw new Error('transient failure');
            reply.code(201);
            return { call: flakyCalls };
          });
          app.post(
            '/test/idempotency/tenants/:tenantId/things',
            { schema: { params: Type.Object({ tenantId: Type.String() }), response: { 201: Type.Object({ tenantId: Type.String(), call: Type.Integer() }) } } },
            async (request, reply) => {
              thingCalls += 1;
              reply.code(201);
              return { tenantId: request.params.tenantId, call: thingCalls };
            },
          );
        },
      });
    });
    after(() => t.close());

    let keyCounter = 0;
    const newKey = () => {
      keyCounter += 1;
      return `key-${engine}-${keyCounter}`;
    };

    const post = (url: string, key: string | undefined, payload: object | undefined, options: { ip?: string; headers?: Record<string, string> } = {}) =>
      t.app.inject({
        method: 'POST',
        url,
        remoteAddress: options.ip ?? '10.1.0.1',
        headers: { ...(key === undefined ? {} : { 'idempotency-key': key }), ...options.headers },
        ...(payload === undefined ? {} : { payload }),
      });

    const count = (table: 'users' | 'tenants' | 'audit_events' | 'outbox' | 'idempotency_keys') =>
      withSystem(t.database.db, async (trx) =>
        Number(
          (
            await trx
              .selectFrom(table)
              .select((eb) => eb.fn.countAll().as('n'))
              .executeTakeFirstOrThrow()
          ).n,
        ),
      );
    const counts = async () => ({
      users: await count('users'),
      tenants: await count('tenants'),
      audit: await count('audit_events'),
      outbox: await count('outbox'),
    });
    const usersWithEmail = async (email: string) =>
      Number(
        (
          await withSystem(t.database.db, (trx) =>
            trx
              .selectFrom('users')
              .select((eb) => eb.fn.countAll().as('n'))
              .where('email', '=', email)
              .executeTakeFirstOrThrow(),
          )
        ).n,
      );
    const keyRows = (key: string) => t.database.db.selectFrom('idempotency_keys').selectAll().where('key', '=', key).execute();
    const isReplay = (res: LightMyRequestResponse) => res.headers['idempotent-replayed'] === 'true';

    it('replays a sign-up: the same 201 body, the handler does not run again', async () => {
      const key = newKey();
      const email = uniqueEmail('replay');
      const first = await post(SIGNUP, key, { email, password: GOOD_PASSWORD, name: 'Rita' });
      assert.equal(first.statusCode, 201, first.body);
      assert.equal(isReplay(first), false);
      const afterFirst = await counts();

      // Members in another order are the same request.
      const second = await post(SIGNUP, key, { name: 'Rita', password: GOOD_PASSWORD, email });
      assert.equal(second.statusCode, 201, second.body);
      assert.equal(isReplay(second), true);
      assert.match(String(second.headers['content-type']), /^application\/json/);
      assert.equal(second.body, first.body);
      assert.equal(second.json().user.id, first.json().user.id);
      assert.equal(await usersWithEmail(email), 1);
      assert.deepEqual(await counts(), afterFirst, 'no user, tenant, audit event or mail was added by the replay');

      // The stored copy is sealed: the refresh token is not readable in the table.
      const [row] = await keyRows(key);
      assert.equal(row?.status_code, 201);
      assert.ok(row?.response_body && !row.response_body.includes(first.json().refreshToken));
      assert.equal(row?.scope, `anon:10.1.0.1|POST ${SIGNUP}`);
    });

    it('answers 422 for the same key with another body and creates nothing', async () => {
      const key = newKey();
      const email = uniqueEmail('reuse');
      assert.equal((await post(SIGNUP, key, { email, password: GOOD_PASSWORD })).statusCode, 201);
      const before = await counts();
      const other = uniqueEmail('reuse-other');
      assertProblem(await post(SIGNUP, key, { email: other, password: GOOD_PASSWORD }), 422, 'idempotency_key_reused');
      assertProblem(await post(SIGNUP, key, { email, password: GOOD_PASSWORD, name: 'Extra' }), 422, 'idempotency_key_reused');
      assert.equal(await usersWithEmail(other), 0);
      assert.deepEqual(await counts(), before);
    });

    it('keeps keys of different anonymous callers apart', async () => {
      const key = newKey();
      const a = await post(SIGNUP, key, { email: uniqueEmail('ip-a'), password: GOOD_PASSWORD }, { ip: '10.2.0.1' });
      const b = await post(SIGNUP, key, { email: uniqueEmail('ip-b'), password: GOOD_PASSWORD }, { ip: '10.2.0.2' });
      assert.equal(a.statusCode, 201, a.body);
      assert.equal(b.statusCode, 201, b.body);
      assert.equal(isReplay(b), false);
      assert.notEqual(a.json().user.id, b.json().user.id);
    });

    it('keeps keys of different users apart', async () => {
      const alice = await signUp(t);
      const bob = await signUp(t);
      const key = newKey();
      const mailsBefore = await count('outbox');
      const resend = (token: string) => post('/api/v1/auth/verify-email/resend', key, undefined, { headers: bearer(token) });
      const a = await resend(alice.accessToken);
      const b = await resend(bob.accessToken);
      assert.equal(a.statusCode, 202, a.body);
      assert.equal(b.statusCode, 202, b.body);
      assert.equal(isReplay(b), false, "bob must not get alice's stored answer");
      assert.equal(await count('outbox'), mailsBefore + 2, 'each user got their own mail');
      const again = await resend(alice.accessToken);
      assert.equal(again.statusCode, 202);
      assert.equal(isReplay(again), true);
      assert.equal(await count('outbox'), mailsBefore + 2);
    });

    it('does not replay a key on another endpoint', async () => {
      const key = newKey();
      const email = uniqueEmail('endpoint');
      assert.equal((await post(SIGNUP, key, { email, password: GOOD_PASSWORD })).statusCode, 201);
      const before = await count('outbox');
      const forgot = await post('/api/v1/auth/password/forgot', key, { email });
      assert.equal(forgot.statusCode, 202, forgot.body);
      assert.equal(isReplay(forgot), false);
      assert.equal(forgot.json().status, 'accepted');
      assert.equal(await count('outbox'), before + 1, 'the reset mail was queued, so the handler ran');
    });

    it('keeps keys apart per tenant in the path', async () => {
      const key = newKey();
      const [tenantA, tenantB] = ['taaaaaaaaaaaaaaa', 'tbbbbbbbbbbbbbbb'];
      const a = await post(`/test/idempotency/tenants/${tenantA}/things`, key, { n: 1 });
      const b = await post(`/test/idempotency/tenants/${tenantB}/things`, key, { n: 1 });
      assert.equal(a.statusCode, 201, a.body);
      assert.equal(b.statusCode, 201, b.body);
      assert.equal(isReplay(b), false);
      assert.notEqual(a.json().call, b.json().call);
      assert.deepEqual(b.json(), { tenantId: tenantB, call: b.json().call });
      const replayA = await post(`/test/idempotency/tenants/${tenantA}/things`, key, { n: 1 });
      assert.equal(isReplay(replayA), true);
      assert.deepEqual(replayA.json(), a.json());
      const scopes = (await keyRows(key)).map((row) => row.scope).sort();
      assert.deepEqual(scopes, [
        `anon:10.1.0.1|tenant:${tenantA}|POST /test/idempotency/tenants/:tenantId/things`,
        `anon:10.1.0.1|tenant:${tenantB}|POST /test/idempotency/tenants/:tenantId/things`,
      ]);
    });

    it('keeps keys apart per tenant on a real tenant endpoint, and a stranger gets 404 without touching the replay', async () => {
      const owner = await signUp(t);
      const stranger = await signUp(t);
      const { tenantId: second } = await seedTenant(t.database, { name: 'Second', ownerId: owner.userId });
      const key = newKey();
      const role = { key: 'auditor', name: 'Auditor', scope: 'tenant', permissions: ['tenant.read'] };
      const createRole = (token: string, tenantId: string) => post(`/api/v1/tenants/${tenantId}/roles`, key, role, { headers: bearer(token) });
      const rolesIn = (tenantId: string) =>
        withSystem(t.database.db, (trx) => trx.selectFrom('roles').select('tenant_id').where('tenant_id', '=', tenantId).where('key', '=', 'auditor').execute());

      const first = await createRole(owner.accessToken, owner.tenantId);
      assert.equal(first.statusCode, 201, first.body);
      const other = await createRole(owner.accessToken, second);
      assert.equal(other.statusCode, 201, other.body);
      assert.equal(isReplay(other), false, "the second tenant must not get the first tenant's stored answer");
      assert.equal((await rolesIn(second)).length, 1);

      const refused = await createRole(stranger.accessToken, owner.tenantId);
      assertProblem(refused, 404, 'tenant_not_found');
      assert.equal(isReplay(refused), false);
      assert.equal((await rolesIn(owner.tenantId)).length, 1);

      const replayed = await createRole(owner.accessToken, owner.tenantId);
      assert.equal(replayed.statusCode, 201);
      assert.equal(isReplay(replayed), true);
      assert.equal(replayed.body, first.body);
      assert.equal((await rolesIn(owner.tenantId)).length, 1);
    });

    it('answers 409 while the first request is in progress, and lets a retry take over an abandoned claim', async () => {
      const key = newKey();
      const email = uniqueEmail('progress');
      const body = { email, password: GOOD_PASSWORD };
      await t.database.db
        .insertInto('idempotency_keys')
        .values({
          scope: `anon:10.1.0.1|POST ${SIGNUP}`,
          key,
          request_hash: hashRequest(t.app.services.secretKey, SIGNUP, body),
          status_code: null,
          response_headers: null,
          response_body: null,
          created_at: t.clock.now(),
          completed_at: null,
        })
        .execute();
      const busy = await post(SIGNUP, key, body);
      assertProblem(busy, 409, 'idempotency_key_in_progress');
      assert.equal(busy.headers['retry-after'], '1');
      assertProblem(await post(SIGNUP, key, { email, password: `${GOOD_PASSWORD}!` }), 422, 'idempotency_key_reused');
      assert.equal(await usersWithEmail(email), 0);

      t.clock.advance(59_000);
      assertProblem(await post(SIGNUP, key, body), 409, 'idempotency_key_in_progress');
      t.clock.advance(2_000);
      const taken = await post(SIGNUP, key, body);
      assert.equal(taken.statusCode, 201, taken.body);
      assert.equal(isReplay(taken), false);
      assert.equal(await usersWithEmail(email), 1);
      const replayed = await post(SIGNUP, key, body);
      assert.equal(isReplay(replayed), true);
      assert.equal(replayed.json().user.id, taken.json().user.id);
    });

    it('runs a request again once its key is older than 24 hours', async () => {
      const key = newKey();
      const body = { email: uniqueEmail('expiry'), password: GOOD_PASSWORD };
      assert.equal((await post(SIGNUP, key, body)).statusCode, 201);
      t.clock.advance(IDEMPOTENCY_TTL_MS - 1_000);
      assert.equal(isReplay(await post(SIGNUP, key, body)), true);
      t.clock.advance(2_000);
      // The handler runs again and meets the account the first run created.
      const again = await post(SIGNUP, key, body);
      assertProblem(again, 409, 'email_taken');
      assert.equal(isReplay(again), false);
      const replayed = await post(SIGNUP, key, body);
      assertProblem(replayed, 409, 'email_taken');
      assert.equal(isReplay(replayed), true);
      assert.equal(replayed.json().requestId, again.json().requestId);
    });

    it('deletes expired keys in passing', async () => {
      const old = newKey();
      const now = t.clock.now();
      await t.database.db
        .insertInto('idempotency_keys')
        .values({
          scope: 'anon:10.9.9.9|POST /elsewhere',
          key: old,
          request_hash: 'h',
          status_code: 201,
          response_headers: '{}',
          response_body: '',
          created_at: new Date(now.getTime() - IDEMPOTENCY_TTL_MS - 1),
          completed_at: now,
        })
        .execute();
      assert.equal((await keyRows(old)).length, 1);
      t.clock.advance(61_000); // sweeps happen at most once a minute
      assert.equal((await post(SIGNUP, newKey(), { email: uniqueEmail('sweep'), password: GOOD_PASSWORD })).statusCode, 201);
      assert.equal((await keyRows(old)).length, 0);
    });

    it('replays a 4xx answer too', async () => {
      const key = newKey();
      const body = { email: uniqueEmail('weak'), password: 'password' };
      const first = await post(SIGNUP, key, body);
      assert.ok(first.statusCode >= 400 && first.statusCode < 500, first.body);
      assert.equal(isReplay(first), false);
      const second = await post(SIGNUP, key, body);
      assert.equal(second.statusCode, first.statusCode);
      assert.equal(isReplay(second), true);
      assert.match(String(second.headers['content-type']), /^application\/problem\+json/);
      assert.equal(second.body, first.body, 'the stored document, with the first request id');
      assert.equal(await usersWithEmail(body.email), 0);
    });

    it('does not remember a request refused by validation, so the fixed request may use the same key', async () => {
      const key = newKey();
      const email = uniqueEmail('fixed');
      assertProblem(await post(SIGNUP, key, { email }), 400, 'validation_failed');
      assert.equal((await keyRows(key)).length, 0);
      const fixed = await post(SIGNUP, key, { email, password: GOOD_PASSWORD });
      assert.equal(fixed.statusCode, 201, fixed.body);
      assert.equal(isReplay(fixed), false);
    });

    it('never replays cookies', async () => {
      const key = newKey();
      const body = { email: uniqueEmail('cookie'), password: GOOD_PASSWORD, useCookies: true };
      const first = await post(SIGNUP, key, body);
      assert.equal(first.statusCode, 201, first.body);
      assert.ok(first.headers['set-cookie']);
      const second = await post(SIGNUP, key, body);
      assert.equal(isReplay(second), true);
      assert.equal(second.headers['set-cookie'], undefined);
      assert.equal(second.body, first.body);
    });

    it('refuses a malformed key with 400 and does nothing', async () => {
      const before = await counts();
      for (const bad of ['', 'x'.repeat(256), 'tab\there', 'caf\u00e9']) {
        const email = uniqueEmail('badkey');
        const res = await t.app.inject({
          method: 'POST',
          url: SIGNUP,
          remoteAddress: '10.1.0.1',
          headers: { 'idempotency-key': bad },
          payload: { email, password: GOOD_PASSWORD },
        });
        assertProblem(res, 400, 'invalid_idempotency_key');
      }
      assert.deepEqual(await counts(), before);
      assert.equal((await post(SIGNUP, 'x'.repeat(255), { email: uniqueEmail('longkey'), password: GOOD_PASSWORD })).statusCode, 201);
      assert.equal((await post(SIGNUP, ' !~ printable', { email: uniqueEmail('oddkey'), password: GOOD_PASSWORD })).statusCode, 201);
    });

    it('does not store a 5xx: the retry runs the handler again', async () => {
      const key = newKey();
      const failed = await post('/test/idempotency/flaky', key, { a: 1 });
      assertProblem(failed, 500, 'internal_error');
      assert.equal((await keyRows(key)).length, 0, 'the claim was released');
      const retried = await post('/test/idempotency/flaky', key, { a: 1 });
      assert.equal(retried.statusCode, 201, retried.body);
      assert.equal(isReplay(retried), false);
      assert.deepEqual(retried.json(), { call: 2 });
      const replayed = await post('/test/idempotency/flaky', key, { a: 1 });
      assert.equal(isReplay(replayed), true);
      assert.deepEqual(replayed.json(), { call: 2 });
      assert.equal(flakyCalls, 2);
    });

    it('leaves requests without the header alone', async () => {
      const before = await count('idempotency_keys');
      const res = await post(SIGNUP, undefined, { email: uniqueEmail('nokey'), password: GOOD_PASSWORD });
      assert.equal(res.statusCode, 201);
      assert.equal(res.headers['idempotent-replayed'], undefined);
      assert.equal(await count('idempotency_keys'), before);
    });

    it('runs racing requests with one key once', async () => {
      const key = newKey();
      const email = uniqueEmail('race');
      const body = { email, password: GOOD_PASSWORD };
      const results = await Promise.all([post(SIGNUP, key, body), post(SIGNUP, key, body), post(SIGNUP, key, body)]);
      assert.equal(await usersWithEmail(email), 1);
      const fresh = results.filter((res) => res.statusCode === 201 && !isReplay(res));
      assert.equal(fresh.length, 1, results.map((res) => res.body).join('\n'));
      for (const res of results) {
        if (res === fresh[0]) continue;
        if (res.statusCode === 201) assert.equal(res.body, fresh[0]?.body);
        else assertProblem(res, 409, 'idempotency_key_in_progress');
      }
    });
  });
}
