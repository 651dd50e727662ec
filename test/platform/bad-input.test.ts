import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import type { LightMyRequestResponse } from 'fastify';
import { withSystem } from '../../src/platform/db/context.ts';
import { MAX_JSON_DEPTH } from '../../src/platform/http/input-guard.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { testEngines } from '../helpers/database.ts';
import { assertProblem, bearer, GOOD_PASSWORD, type SignedUp, signUp, uniqueEmail } from '../helpers/users.ts';

/**
 * Issue 10, item 7: text PostgreSQL cannot store (NUL, unpaired surrogates) and absurdly deep JSON are refused
 * with a 422 problem before any handler runs, so nothing is written; and a database error is logged without
 * the statement or its bound values.
 */
const NUL = 'a\u0000b';
const SURROGATE = 'a\ud800b';
const BAD_TEXT = [
  ['a NUL character', NUL],
  ['a lone surrogate', SURROGATE],
] as const;

/** A JSON body `depth` containers deep: `{"data": {"a": … {} …}}` (the body itself is level 1). */
function deepData(depth: number): string {
  return `{"data":${'{"a":'.repeat(depth - 2)}{}${'}'.repeat(depth - 2)}}`;
}

const SECRET = 'tnty-very-secret-value-do-not-log';

function assertInvalidText(res: LightMyRequestResponse, where: string, path: string): void {
  assertProblem(res, 422, 'invalid_text');
  const body = res.json();
  assert.deepEqual(
    body.errors.map((e: { in: string; path: string }) => [e.in, e.path]),
    [[where, path]],
    res.body,
  );
  assert.ok(body.detail.startsWith(`${where} ${path}: `), body.detail);
}

for (const engine of testEngines()) {
  describe(`bad input is refused before any handler runs [${engine}]`, () => {
    let t: TestApp;
    let owner: SignedUp;

    before(async () => {
      t = await createTestApp(engine, {
        env: { TENANTRY_AUTH_RATE_LIMIT: '1000' },
        extend: (app) => {
          // A parameterised statement that fails in the database: PGlite attaches the SQL and the bound values to its error.
          app.post('/api/v1/_failing-statement', async () => {
            await sql`select ${SECRET}::text as secret, ${'x\u0000y'}::text as broken`.execute(app.services.db);
            return { ok: true };
          });
          // A database error whose text and detail carry values (as "Failing row contains (…)" does).
          app.post('/api/v1/_failing-literal', async () => {
            await sql.raw(`DO $$ BEGIN RAISE EXCEPTION 'refused' USING DETAIL = 'Failing row contains (${SECRET})'; END $$`).execute(app.services.db);
            return { ok: true };
          });
          // What node-postgres-style wrappers attach: `parameters`, a wrapped original with `query` and `values`.
          app.post('/api/v1/_failing-wrapped', async () => {
            throw Object.assign(new Error('duplicate key value violates unique constraint "users_email"'), {
              code: '23505',
              severity: 'ERROR',
              detail: `Key (email)=(${SECRET}) already exists.`,
              where: `unnamed portal parameter $2 = '${SECRET}'`,
              parameters: [SECRET],
              original: { query: `insert into users (email) values ('${SECRET}')`, values: [SECRET] },
            });
          });
        },
      });
      owner = await signUp(t, { name: 'Owner' });
    });
    after(() => t.close());

    const userCount = () =>
      withSystem(t.database.db, async (trx) =>
        Number(
          (
            await trx
              .selectFrom('users')
              .select((eb) => eb.fn.countAll().as('n'))
              .executeTakeFirstOrThrow()
          ).n,
        ),
      );
    const me = async () => (await t.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: bearer(owner.accessToken) })).json();
    const tenant = async () => (await t.app.inject({ method: 'GET', url: `/api/v1/tenants/${owner.tenantId}`, headers: bearer(owner.accessToken) })).json();
    const roles = async () => (await t.app.inject({ method: 'GET', url: `/api/v1/tenants/${owner.tenantId}/roles`, headers: bearer(owner.accessToken) })).json();
    const apiKeys = async () => (await t.app.inject({ method: 'GET', url: `/api/v1/tenants/${owner.tenantId}/api-keys`, headers: bearer(owner.accessToken) })).json();

    for (const [what, bad] of BAD_TEXT) {
      it(`POST /auth/signup with ${what} in a field is 422 invalid_text and creates nobody`, async () => {
        const before = await userCount();
        const email = uniqueEmail('badtext');
        assertInvalidText(await t.app.inject({ method: 'POST', url: '/api/v1/auth/signup', payload: { email, password: GOOD_PASSWORD, name: bad } }), 'body', '/name');
        assertInvalidText(await t.app.inject({ method: 'POST', url: '/api/v1/auth/signup', payload: { email, password: `${GOOD_PASSWORD}${bad}` } }), 'body', '/password');
        assertInvalidText(await t.app.inject({ method: 'POST', url: '/api/v1/auth/signup', payload: { email: `${bad}${email}`, password: GOOD_PASSWORD } }), 'body', '/email');
        // An unknown member is refused as such by the schema, but a bad name is refused first, whatever the schema says.
        assertInvalidText(
          await t.app.inject({ method: 'POST', url: '/api/v1/auth/signup', payload: { email, password: GOOD_PASSWORD, [bad]: 1 } }),
          'body',
          bad === NUL ? '/a\\u0000b' : '/a\\ud800b',
        );
        assert.equal(await userCount(), before);
        // Nothing half-written: the same address signs up fine afterwards.
        const res = await t.app.inject({ method: 'POST', url: '/api/v1/auth/signup', payload: { email, password: GOOD_PASSWORD, name: 'Fine' } });
        assert.equal(res.statusCode, 201, res.body);
      });

      it(`PATCH /auth/me with ${what} in the name, a data value or a data key is 422 and changes nothing`, async () => {
        const before = await me();
        const patch = (payload: object) => t.app.inject({ method: 'PATCH', url: '/api/v1/auth/me', headers: bearer(owner.accessToken), payload });
        assertInvalidText(await patch({ name: bad }), 'body', '/name');
        assertInvalidText(await patch({ name: 'New name', data: { nested: { list: ['fine', bad] } } }), 'body', '/data/nested/list/1');
        assertInvalidText(await patch({ name: 'New name', data: { outer: { [bad]: 'value' } } }), 'body', bad === NUL ? '/data/outer/a\\u0000b' : '/data/outer/a\\ud800b');
        assert.deepEqual(await me(), before);
      });

      it(`PATCH /tenants/:id with ${what} in the name, a data value or a data key is 422 and changes nothing`, async () => {
        const before = await tenant();
        const patch = (payload: object) => t.app.inject({ method: 'PATCH', url: `/api/v1/tenants/${owner.tenantId}`, headers: bearer(owner.accessToken), payload });
        assertInvalidText(await patch({ name: bad }), 'body', '/name');
        assertInvalidText(await patch({ name: 'Renamed', data: { plan: bad } }), 'body', '/data/plan');
        assertInvalidText(await patch({ name: 'Renamed', data: { [`k${bad}`]: 1 } }), 'body', bad === NUL ? '/data/ka\\u0000b' : '/data/ka\\ud800b');
        assert.deepEqual(await tenant(), before);
      });

      it(`POST and PATCH /tenants/:id/roles with ${what} are 422 and change nothing`, async () => {
        const url = `/api/v1/tenants/${owner.tenantId}/roles`;
        const created = await t.app.inject({
          method: 'POST',
          url,
          headers: bearer(owner.accessToken),
          payload: { key: `reader_${what === 'a NUL character' ? 'n' : 's'}`, name: 'Reader', scope: 'tenant', permissions: ['tenant.read'] },
        });
        assert.equal(created.statusCode, 201, created.body);
        const before = await roles();
        const post = (payload: object) =>
          t.app.inject({
            method: 'POST',
            url,
            headers: bearer(owner.accessToken),
            payload: { key: 'auditor', name: 'Auditor', scope: 'tenant', permissions: ['tenant.read'], ...payload },
          });
        assertInvalidText(await post({ name: bad }), 'body', '/name');
        assertInvalidText(await post({ description: bad }), 'body', '/description');
        assertInvalidText(await post({ permissions: ['tenant.read', bad] }), 'body', '/permissions/1');
        const patch = (payload: object) => t.app.inject({ method: 'PATCH', url: `${url}/${created.json().key}`, headers: bearer(owner.accessToken), payload });
        assertInvalidText(await patch({ name: bad }), 'body', '/name');
        assertInvalidText(await patch({ description: bad }), 'body', '/description');
        // The role key in the path reaches a query too.
        const encoded = bad === NUL ? 'a%00b' : 'a%ED%A0%80b';
        const pathRes = await t.app.inject({ method: 'PATCH', url: `${url}/${encoded}`, headers: bearer(owner.accessToken), payload: { name: 'x' } });
        if (bad === NUL) assertInvalidText(pathRes, 'params', '/roleKey');
        else assertProblem(pathRes, 400, 'bad_request'); // an encoded lone surrogate is not UTF-8: the router refuses it
        assert.deepEqual(await roles(), before);
      });

      it(`POST /tenants/:id/api-keys with ${what} in the name or a permission is 422 and creates no key`, async () => {
        const before = await apiKeys();
        const post = (payload: object) =>
          t.app.inject({
            method: 'POST',
            url: `/api/v1/tenants/${owner.tenantId}/api-keys`,
            headers: bearer(owner.accessToken),
            payload: { name: 'integration', permissions: ['tenant.read'], ...payload },
          });
        assertInvalidText(await post({ name: bad }), 'body', '/name');
        assertInvalidText(await post({ permissions: [bad] }), 'body', '/permissions/0');
        assert.deepEqual(await apiKeys(), before);
      });
    }

    it('refuses bad text in query parameters, form bodies and headers too', async () => {
      const audit = await t.app.inject({ method: 'GET', url: `/api/v1/tenants/${owner.tenantId}/audit-events?action=member%00added`, headers: bearer(owner.accessToken) });
      assertInvalidText(audit, 'querystring', '/action');
      const form = await t.app.inject({
        method: 'POST',
        url: '/api/v1/oauth/token',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: 'grant_type=client_credentials&client_id=key_x&client_secret=tnty_%00',
      });
      assert.equal(form.statusCode, 422, form.body);
      assert.equal(form.json().code, 'invalid_text');
      assertInvalidText(await t.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: { ...bearer(owner.accessToken), 'x-note': 'a\u0000b' } }), 'headers', '/x-note');
      // The router's own refusals are problem documents as well.
      const badUrl = await t.app.inject({ method: 'GET', url: `/api/v1/tenants/${owner.tenantId}/members/x%ED%A0%80` });
      assertProblem(badUrl, 400, 'bad_request');
      assert.equal(badUrl.json().requestId, badUrl.headers['x-request-id']);
    });

    it(`refuses a body nested 10,000 levels deep with 422 nesting_too_deep, and keeps serving`, async () => {
      const before = await me();
      const res = await t.app.inject({
        method: 'PATCH',
        url: '/api/v1/auth/me',
        headers: { ...bearer(owner.accessToken), 'content-type': 'application/json' },
        payload: deepData(10_000),
      });
      assertProblem(res, 422, 'nesting_too_deep');
      // The pointer names the first container too deep: level 1 is the body, level 2 `/data`, level 33 the 31st `a`.
      assert.equal(res.json().errors[0].path, `/data${'/a'.repeat(MAX_JSON_DEPTH - 1)}`);
      const arrays = await t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/signup',
        headers: { 'content-type': 'application/json' },
        payload: `${'['.repeat(10_000)}${']'.repeat(10_000)}`,
      });
      assertProblem(arrays, 422, 'nesting_too_deep');
      assert.deepEqual(await me(), before);
      assert.equal((await t.app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
    });

    it('refuses a body as deep as the body limit allows without overflowing the stack', async () => {
      const depth = 500_000; // 1,000,000 bytes, just under the default 1 MiB limit
      const res = await t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/signup',
        headers: { 'content-type': 'application/json' },
        payload: `${'['.repeat(depth)}${']'.repeat(depth)}`,
      });
      assertProblem(res, 422, 'nesting_too_deep');
      assert.equal((await t.app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
    });

    it(`accepts exactly ${MAX_JSON_DEPTH} levels and refuses ${MAX_JSON_DEPTH + 1}`, async () => {
      const patch = (depth: number) =>
        t.app.inject({ method: 'PATCH', url: '/api/v1/auth/me', headers: { ...bearer(owner.accessToken), 'content-type': 'application/json' }, payload: deepData(depth) });
      const before = await me();
      assertProblem(await patch(MAX_JSON_DEPTH + 1), 422, 'nesting_too_deep');
      assert.deepEqual(await me(), before);
      const ok = await patch(MAX_JSON_DEPTH);
      assert.equal(ok.statusCode, 200, ok.body);
      let level: unknown = ok.json().user.data;
      let depth = 2; // the body, then `data`
      while (level !== null && typeof level === 'object' && 'a' in level) {
        level = (level as { a: unknown }).a;
        depth += 1;
      }
      assert.equal(depth, MAX_JSON_DEPTH);
    });

    it('logs a failed parameterised statement without its SQL or bound values', async () => {
      const res = await t.app.inject({ method: 'POST', url: '/api/v1/_failing-statement' });
      assertProblem(res, 500, 'internal_error');
      const line = t.logs.find((l) => l.reqId === res.json().requestId && l.level === 'error');
      assert.ok(line, 'the failure is logged');
      const err = line.err as Record<string, unknown>;
      assert.equal(err.code, '22021', JSON.stringify(err)); // invalid byte sequence: the code and message stay
      assert.match(String(err.message), /invalid byte sequence/);
      const text = JSON.stringify(line);
      assert.doesNotMatch(text, new RegExp(SECRET));
      assert.doesNotMatch(text, /::text|select /i, 'no SQL text');
      assert.equal(err.params, undefined);
      assert.equal(err.query, undefined);
    });

    it('logs a database error without a statement carrying literal values or the detail that echoes them', async () => {
      const res = await t.app.inject({ method: 'POST', url: '/api/v1/_failing-literal' });
      assertProblem(res, 500, 'internal_error');
      const line = t.logs.find((l) => l.reqId === res.json().requestId && l.level === 'error');
      assert.ok(line, 'the failure is logged');
      assert.equal((line.err as Record<string, unknown>).message, 'refused');
      assert.doesNotMatch(JSON.stringify(line), new RegExp(SECRET));
    });

    it('logs wrapped driver errors without parameters, values, queries or row values', async () => {
      const res = await t.app.inject({ method: 'POST', url: '/api/v1/_failing-wrapped' });
      assertProblem(res, 500, 'internal_error');
      const line = t.logs.find((l) => l.reqId === res.json().requestId && l.level === 'error');
      assert.ok(line, 'the failure is logged');
      const err = line.err as Record<string, unknown>;
      assert.equal(err.code, '23505');
      assert.equal(err.where, 'unnamed portal parameter $2 = [redacted]');
      assert.equal(err.detail, '[redacted]');
      assert.doesNotMatch(JSON.stringify(line), new RegExp(SECRET));
    });

    it('is still up after all of that', async () => {
      assert.equal((await t.app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
      assert.equal((await t.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: bearer(owner.accessToken) })).statusCode, 200);
    });
  });
}
