import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { OPENAPI_FILE, renderOpenApi } from '../../src/platform/http/openapi.ts';
import { drainAndClose } from '../../src/server.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { testEngines } from '../helpers/database.ts';

for (const engine of testEngines()) {
  describe(`health, readiness, metrics and the API reference [${engine}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await createTestApp(engine);
    });
    after(() => t.close());

    it('answers liveness and readiness with the engine', async () => {
      assert.deepEqual((await t.app.inject({ url: '/healthz' })).json(), { status: 'ok' });
      const ready = await t.app.inject({ url: '/readyz' });
      assert.equal(ready.statusCode, 200);
      assert.deepEqual(ready.json(), { status: 'ready', database: engine });
    });

    it('reports not ready when the database is gone', async () => {
      const broken = await createTestApp(engine);
      await broken.database.close();
      const res = await broken.app.inject({ url: '/readyz' });
      assert.equal(res.statusCode, 503);
      assert.equal(res.json().code, 'not_ready');
      await broken.app.close();
    });

    it('exposes Prometheus metrics labelled by route template', async () => {
      await t.app.inject({ url: '/healthz' });
      const res = await t.app.inject({ url: '/metrics' });
      assert.equal(res.statusCode, 200);
      assert.match(res.headers['content-type'] as string, /^text\/plain/);
      assert.match(res.body, /tenantry_http_requests_total\{method="GET",route="\/healthz",status="200"\} \d+/);
      assert.match(res.body, /tenantry_process_cpu_user_seconds_total/);
    });

    it('serves an OpenAPI 3.1 document and a browsable reference', async () => {
      const doc = (await t.app.inject({ url: '/api/docs/json' })).json();
      assert.equal(doc.openapi, '3.1.0');
      assert.ok(doc.paths['/healthz']);
      const page = await t.app.inject({ url: '/api/docs/' });
      assert.equal(page.statusCode, 200);
      assert.match(page.body, /swagger-ui/i);
    });

    it('matches the committed docs/openapi.json (run `npm run openapi` after changing a route)', async () => {
      assert.equal(renderOpenApi(t.app), await readFile(OPENAPI_FILE, 'utf8'));
    });

    it('gives the portal and the SDK clients typed from that document (portal/src/api/schema.d.ts, sdk/src/api-schema.ts; `npm run openapi`)', async () => {
      const { default: openapiTS, astToString } = await import('openapi-typescript');
      const generated = astToString(await openapiTS(new URL(OPENAPI_FILE)));
      for (const file of ['portal/src/api/schema.d.ts', 'sdk/src/api-schema.ts']) {
        const committed = await readFile(new URL(`../../${file}`, import.meta.url), 'utf8');
        // The CLI adds a header comment; the types below it must be what the document gives now.
        assert.ok(committed.endsWith(generated), `${file} is stale: run npm run openapi`);
      }
    });
  });
}

describe('graceful shutdown', () => {
  it('answers new requests 503 while in-flight ones finish', async () => {
    let releaseSlow!: () => void;
    let slowStarted!: () => void;
    const started = new Promise<void>((resolve) => (slowStarted = resolve));
    const t = await createTestApp('pglite', {
      extend: (app) => {
        app.get('/api/v1/_slow', async () => {
          slowStarted();
          await new Promise<void>((resolve) => (releaseSlow = resolve));
          return { done: true };
        });
      },
    });
    try {
      const base = await t.app.listen({ port: 0, host: '127.0.0.1' });
      const slow = fetch(`${base}/api/v1/_slow`).then(async (r) => ({ status: r.status, body: await r.json() }));
      await started;
      const closing = drainAndClose(t.app);
      const during = await t.app.inject({ url: '/healthz' });
      assert.equal(during.statusCode, 503);
      assert.equal(during.json().code, 'shutting_down');
      releaseSlow();
      assert.deepEqual(await slow, { status: 200, body: { done: true } });
      await closing;
    } finally {
      releaseSlow?.();
      await t.close();
    }
  });
});
