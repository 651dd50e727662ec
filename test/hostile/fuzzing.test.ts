import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { sql } from 'kysely';
import { testEngines } from '../helpers/database.ts';
import { fingerprintRows } from '../helpers/snapshot.ts';
import { assertProblem, bearer, enrol, GOOD_PASSWORD, type SignedUp, signUp, uniqueEmail } from '../helpers/users.ts';
import { bodyFor, type JsonSchema } from './arbitrary.ts';
import { hostileWorld, type Method, type World } from './world.ts';

/**
 * Issue 14, fuzzing (ASVS 5.0 V1/V2 input handling, OWASP API8:2023): property-based bodies for every route of the
 * committed OpenAPI document that takes one, generated from its schema, against a tenant of its own (F) in the world.
 * Whatever arrives, the answer is never a 500, and a 4xx changes no row anywhere — but for the records of the refusal
 * itself: usage stamps, the failed-sign-in counter and the audit trail's `access.denied` and `user.sign_in_failed`
 * events (test/hostile/audit.test.ts counts those exactly).
 */

interface BodyRoute {
  method: Method;
  path: string;
  schema: JsonSchema;
}

const doc = JSON.parse(readFileSync(new URL('../../docs/openapi.json', import.meta.url), 'utf8')) as {
  paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: JsonSchema }> } }>>;
};
const bodyRoutes: BodyRoute[] = Object.entries(doc.paths).flatMap(([path, ops]) =>
  Object.entries(ops).flatMap(([method, op]) => {
    const schema = op.requestBody?.content['application/json']?.schema;
    return schema === undefined ? [] : [{ method: method.toUpperCase() as Method, path, schema }];
  }),
);

const RUNS = 20;
/** Moved by requests that are refused on purpose: not changes of state. */
const IGNORED_COLUMNS = ['last_used_at', 'last_active_at'];

for (const engine of testEngines()) {
  describe(`hostile: fuzzing every body [${engine}]`, () => {
    let w: World;
    let f: SignedUp;
    let fMember: SignedUp;
    let fingerprint: () => Promise<string>;
    let known: string[];

    hostileWorld(engine, async (built) => {
      w = built;
      f = await signUp(w.t, { name: 'Fuzz Owner' });
      fMember = await enrol(w.t, f.tenantId, ['member']);
      assert.equal(
        (await w.call('POST', `/api/v1/tenants/${f.tenantId}/roles`, f.accessToken, { key: 'fuzzer', name: 'Fuzzer', scope: 'tenant', permissions: ['tenant.read'] })).statusCode,
        201,
      );
      const tables = await w.t.database.withOwner(async (owner) =>
        (
          await sql<{ name: string }>`SELECT table_name AS name FROM information_schema.tables
            WHERE table_schema = 'public' AND table_type = 'BASE TABLE' AND table_name NOT IN ('login_failures', 'audit_events', 'audit_heads') AND table_name NOT LIKE 'kysely_%' ORDER BY 1`.execute(
            owner,
          )
        ).rows.map((r) => r.name),
      );
      fingerprint = () => fingerprintRows(w.t.database, tables, { ignore: IGNORED_COLUMNS });
      known = [f.tenantId, f.userId, fMember.userId, 'fuzzer', 'owner', 'admin', 'member', 'tenant.read', 'members.manage', w.b.id, w.b.owner.userId, f.email, 'pro', 'free'];
    });

    const urlOf = (path: string) =>
      path
        .replace('{tenantId}', f.tenantId)
        .replace('{userId}', path.startsWith('/api/v1/admin') ? fMember.userId : fMember.userId)
        .replace('{roleKey}', 'fuzzer')
        .replace('{requestId}', 'apr_aaaaaaaaaaaaaaaaaaaa');
    const credentialOf = (path: string) => (path.startsWith('/api/v1/admin') ? w.operator.accessToken : f.accessToken);

    it(`covers every route that takes a body (${bodyRoutes.length} in the API document)`, () => {
      assert.ok(bodyRoutes.length >= 30, `only ${bodyRoutes.length}`);
    });

    for (const route of bodyRoutes) {
      it(`never answers 500 and changes nothing on a 4xx: ${route.method} ${route.path}`, async () => {
        await fc.assert(
          fc.asyncProperty(bodyFor(route.schema, known), async (body) => {
            const before = await fingerprint();
            const res = await w.t.app.inject({
              method: route.method,
              url: urlOf(route.path),
              headers: { ...bearer(credentialOf(route.path)), 'content-type': 'application/json' },
              payload: JSON.stringify(body),
            });
            assert.ok(res.statusCode < 500, `${res.statusCode} ${res.body.slice(0, 300)}`);
            assert.equal(Object.keys(Object.prototype).length, 0, 'Object.prototype was polluted');
            if (res.statusCode >= 400) {
              assert.match(String(res.headers['content-type']), /^application\/(problem\+)?json/);
              assert.equal(await fingerprint(), before, `${res.statusCode} ${res.body.slice(0, 300)} changed rows`);
            }
          }),
          { numRuns: RUNS },
        );
      });
    }

    it('refuses a wrong or missing content type on every write route with a 4xx, changing nothing', async () => {
      const before = await fingerprint();
      for (const route of bodyRoutes) {
        for (const [type, payload] of [
          ['text/plain', '{"name":"x"}'],
          ['application/xml', '<name>x</name>'],
          ['multipart/form-data; boundary=x', '--x\r\nContent-Disposition: form-data; name="name"\r\n\r\nx\r\n--x--'],
          ['application/json; charset=utf-16', '{}'],
        ] as const) {
          const res = await w.t.app.inject({ method: route.method, url: urlOf(route.path), headers: { ...bearer(credentialOf(route.path)), 'content-type': type }, payload });
          // OAuth's token endpoints take forms (RFC 6749); there an unknown grant is the 4xx.
          assert.ok(res.statusCode >= 400 && res.statusCode < 500, `${route.method} ${route.path} as ${type}: ${res.statusCode} ${res.body.slice(0, 200)}`);
        }
      }
      // A declared charset other than UTF-8 is not parsed as if it were (finding: it was).
      assertProblem(
        await w.t.app.inject({ method: 'PATCH', url: '/api/v1/auth/me', headers: { ...bearer(f.accessToken), 'content-type': 'application/json; charset=utf-16' }, payload: '{}' }),
        415,
        'unsupported_media_type',
      );
      assert.equal(await fingerprint(), before);
    });

    it('refuses __proto__ and constructor keys in every body and leaves Object.prototype untouched', async () => {
      const before = await fingerprint();
      for (const route of bodyRoutes) {
        for (const payload of ['{"__proto__":{"isAdmin":true},"name":"x"}', '{"constructor":{"prototype":{"isAdmin":true}}}']) {
          const res = await w.t.app.inject({
            method: route.method,
            url: urlOf(route.path),
            headers: { ...bearer(credentialOf(route.path)), 'content-type': 'application/json' },
            payload,
          });
          assert.ok(res.statusCode >= 400 && res.statusCode < 500, `${route.method} ${route.path}: ${res.statusCode} ${res.body.slice(0, 200)}`);
        }
      }
      assert.equal(({} as Record<string, unknown>).isAdmin, undefined);
      assert.equal(await fingerprint(), before);
    });

    it('canonicalises emails: case and surrounding space name one account, a trailing dot or a look-alike letter is refused', async () => {
      const local = `Case.${process.pid}.${Date.now()}`;
      const first = await w.call('POST', '/api/v1/auth/signup', undefined, { email: `${local}@Example.TEST`, password: GOOD_PASSWORD });
      assert.equal(first.statusCode, 201, first.body);
      assert.equal(first.json().user.email, `${local.toLowerCase()}@example.test`);
      assertProblem(await w.call('POST', '/api/v1/auth/signup', undefined, { email: ` ${local.toLowerCase()}@example.test `, password: GOOD_PASSWORD }), 409, 'email_taken');
      const login = await w.call('POST', '/api/v1/auth/login', undefined, { email: `${local.toUpperCase()}@EXAMPLE.test`, password: GOOD_PASSWORD });
      assert.equal(login.statusCode, 200, login.body);
      for (const email of [`${local}@example.test.`, `${local}@exаmple.test`, `${local}\u200b@example.test`, `${local}@example.test\u0000`]) {
        const res = await w.call('POST', '/api/v1/auth/signup', undefined, { email, password: GOOD_PASSWORD });
        assert.ok(res.statusCode === 422 || res.statusCode === 400, `${JSON.stringify(email)}: ${res.statusCode} ${res.body}`);
      }
    });

    it('refuses slugs with homoglyphs, capitals, spaces or an existing slug in another case', async () => {
      for (const slug of ['аcme', 'ACME', 'ac me', 'acme.', `${w.a.slug.toUpperCase()}`, 'a', '-acme']) {
        const res = await w.call('POST', '/api/v1/tenants', f.accessToken, { name: 'Homoglyph', slug });
        assert.equal(res.statusCode, 400, `${slug}: ${res.statusCode} ${res.body}`);
      }
      assertProblem(await w.call('POST', '/api/v1/tenants', f.accessToken, { name: 'Copy', slug: w.a.slug }), 409, 'slug_taken');
    });

    it('refuses passwords of 0 characters and of 1 MB quickly, and a body that is not UTF-8, without creating an account', async () => {
      const before = await fingerprint();
      for (const password of ['', 'x', 'p'.repeat(1024 * 1024)]) {
        const email = uniqueEmail('pw');
        const res = await w.call('POST', '/api/v1/auth/signup', undefined, { email, password });
        assert.ok([400, 413, 422].includes(res.statusCode), `${password.length}: ${res.statusCode} ${res.body.slice(0, 200)}`);
        const login = await w.call('POST', '/api/v1/auth/login', undefined, { email: w.a.member.email, password });
        assert.ok([400, 401, 413].includes(login.statusCode), `${password.length}: ${login.statusCode}`);
      }
      const invalid = Buffer.concat([Buffer.from(`{"email":"${uniqueEmail('utf')}","password":"`), Buffer.from([0xc3, 0x28, 0xff, 0xfe]), Buffer.from('aaaaaaaaaaaa"}')]);
      // Decoded with U+FFFD in place of the bad bytes, two different passwords would hash alike (finding: it was).
      assertProblem(await w.t.app.inject({ method: 'POST', url: '/api/v1/auth/signup', headers: { 'content-type': 'application/json' }, payload: invalid }), 422, 'invalid_text');
      assert.equal(await fingerprint(), before);
    });

    it('stores SQL metacharacters verbatim where free text is allowed, and reads them back unchanged', async () => {
      const name = 'Robert\'); DROP TABLE tenants; -- \\ " %';
      const created = await w.call('POST', '/api/v1/tenants', f.accessToken, { name, slug: `sqlmeta-${engine}-${process.pid}`, parentId: f.tenantId });
      assert.equal(created.statusCode, 201, created.body);
      assert.equal((await w.call('GET', `/api/v1/tenants/${created.json().id}`, f.accessToken)).json().name, name);
      const search = await w.call('GET', `/api/v1/tenants/${f.tenantId}/audit-events?action=${encodeURIComponent("member.*' OR 1=1 --")}`, f.accessToken);
      assert.ok(search.statusCode === 200 || search.statusCode === 400, search.body);
      if (search.statusCode === 200) assert.deepEqual(search.json().events, []);
    });
  });
}
