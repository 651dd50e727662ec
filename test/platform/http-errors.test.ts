import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Type } from 'typebox';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { testEngines } from '../helpers/database.ts';

/** Bad requests of every kind get a 4xx problem document, never a stack trace, and the server stays up. */
for (const engine of testEngines()) {
  describe(`problem documents for bad requests [${engine}]`, () => {
    let t: TestApp;
    let base: string;

    before(async () => {
      t = await createTestApp(engine, {
        extend: (app) => {
          app.post(
            '/api/v1/_echo',
            { schema: { body: Type.Object({ name: Type.String({ minLength: 1 }), count: Type.Integer() }, { additionalProperties: false }) } },
            async (request) => request.body,
          );
          app.get('/api/v1/_boom', async () => {
            throw new Error('secret internals at /srv/app.ts:42');
          });
        },
      });
      base = await t.app.listen({ port: 0, host: '127.0.0.1' });
    });
    after(() => t.close());

    async function send(path: string, init: RequestInit = {}) {
      const res = await fetch(`${base}${path}`, init);
      const text = await res.text();
      return { res, text, body: text ? (JSON.parse(text) as Record<string, unknown>) : undefined };
    }

    function assertProblem(r: Awaited<ReturnType<typeof send>>, status: number, code: string) {
      assert.equal(r.res.status, status, r.text);
      assert.equal(r.res.headers.get('content-type'), 'application/problem+json; charset=utf-8');
      assert.equal(r.body?.code, code);
      assert.equal(r.body?.status, status);
      assert.equal(typeof r.body?.title, 'string');
      assert.equal(r.body?.requestId, r.res.headers.get('x-request-id'));
      assert.doesNotMatch(r.text, /at .*\.ts:\d+/, 'no stack trace');
    }

    const json = { 'content-type': 'application/json' };

    it('answers broken JSON with 400 malformed_body', async () => {
      assertProblem(await send('/api/v1/_echo', { method: 'POST', headers: json, body: '{"name": "x",' }), 400, 'malformed_body');
    });

    it('answers a 2 MB body with 413 payload_too_large', async () => {
      const big = JSON.stringify({ name: 'x'.repeat(2 * 1024 * 1024), count: 1 });
      assertProblem(await send('/api/v1/_echo', { method: 'POST', headers: json, body: big }), 413, 'payload_too_large');
    });

    it('answers an unsupported content type with 415', async () => {
      assertProblem(await send('/api/v1/_echo', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'name=x' }), 415, 'unsupported_media_type');
      assertProblem(await send('/api/v1/_echo', { method: 'POST', headers: { 'content-type': 'application/xml' }, body: '<a/>' }), 415, 'unsupported_media_type');
    });

    it('answers schema violations with 400 validation_failed naming the field, without coercing types', async () => {
      const wrongType = await send('/api/v1/_echo', { method: 'POST', headers: json, body: JSON.stringify({ name: 123, count: 1 }) });
      assertProblem(wrongType, 400, 'validation_failed');
      assert.deepEqual((wrongType.body?.errors as Array<{ path: string }> | undefined)?.[0]?.path, '/name');
      assertProblem(await send('/api/v1/_echo', { method: 'POST', headers: json, body: JSON.stringify({ name: 'x' }) }), 400, 'validation_failed');
      assertProblem(await send('/api/v1/_echo', { method: 'POST', headers: json, body: JSON.stringify({ name: 'x', count: 1, admin: true }) }), 400, 'validation_failed');
      assertProblem(await send('/api/v1/_echo', { method: 'POST', headers: json, body: '[]' }), 400, 'validation_failed');
      const ok = await send('/api/v1/_echo', { method: 'POST', headers: json, body: JSON.stringify({ name: 'x', count: 2 }) });
      assert.equal(ok.res.status, 200);
      assert.deepEqual(ok.body, { name: 'x', count: 2 });
    });

    it('answers unknown routes with 404 route_not_found', async () => {
      assertProblem(await send('/api/v1/no-such-thing'), 404, 'route_not_found');
      assertProblem(await send('/healthz', { method: 'DELETE' }), 404, 'route_not_found');
    });

    it('answers unexpected failures with a bare 500 and logs the cause', async () => {
      const r = await send('/api/v1/_boom');
      assertProblem(r, 500, 'internal_error');
      assert.doesNotMatch(r.text, /secret internals/);
      assert.ok(t.logs.some((l) => l.level === 'error' && JSON.stringify(l).includes('secret internals')));
    });

    it('keeps a valid incoming request id and invents one otherwise', async () => {
      const kept = await send('/healthz', { headers: { 'x-request-id': 'trace-abc.123' } });
      assert.equal(kept.res.headers.get('x-request-id'), 'trace-abc.123');
      const replaced = await send('/healthz', { headers: { 'x-request-id': 'bad id with spaces' } });
      assert.match(replaced.res.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
    });

    it('is still up after all of that', async () => {
      const r = await send('/healthz');
      assert.equal(r.res.status, 200);
      assert.deepEqual(r.body, { status: 'ok' });
    });
  });
}
