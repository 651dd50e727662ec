import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createKey } from '../helpers/api-keys.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { testEngines } from '../helpers/database.ts';
import { snapshotRows, tenantScopedTables } from '../helpers/snapshot.ts';
import { bearer, enrol, signUp, type SignedUp, uniqueEmail } from '../helpers/users.ts';
import { type Method, tenantRoutes, WRITES, writeBody } from './routes.ts';
import { closeChecked } from './oracle.ts';

/**
 * Issue 14, cross-tenant (OWASP API1:2023, ASVS 5.0 V8): every tenant-scoped route of the committed OpenAPI document,
 * called by tenant A's owner and by A's all-permission API key with tenant B's ids — in the path, and B's objects under
 * A's own path — answers 404 and leaves every row of B byte-identical (compared through the schema owner's connection,
 * which row-level security does not filter). A route the document adds without a request here fails the inventory test.
 */

interface World {
  a: SignedUp;
  aKey: string;
  b: SignedUp;
  bSlug: string;
  bChild: string;
  bMember: SignedUp;
  bInvitation: string;
  bKey: string;
  bRole: string;
  bWebhook: string;
  bDelivery: string;
}

/** A well-formed tenant id that no tenant has. */
const NO_SUCH_TENANT = 'tzzzzzzzzzzzzzzz';

for (const engine of testEngines()) {
  describe(`hostile: another tenant's ids on every tenant-scoped route [${engine}]`, () => {
    let t: TestApp;
    let w: World;
    /** Every row of B's tenants in every table that names a tenant, as the schema owner sees it. */
    let snapshot: () => Promise<string>;

    const call = (method: Method, url: string, credential: string, payload?: object) =>
      t.app.inject({ method, url, headers: bearer(credential), ...(payload === undefined ? {} : { payload }) });

    before(async () => {
      t = await createTestApp(engine, { env: { TENANTRY_AUTH_RATE_LIMIT: '10000' } });
      const a = await signUp(t);
      const b = await signUp(t);
      const permissions = ((await call('GET', '/api/v1/permissions', a.accessToken)).json().permissions as Array<{ key: string }>).map((p) => p.key);
      const aKey = (await createKey(t, a.accessToken, a.tenantId, permissions)).secret;
      const child = await call('POST', '/api/v1/tenants', b.accessToken, { name: 'B child', slug: `b-child-${engine}-${process.pid}`, parentId: b.tenantId });
      assert.equal(child.statusCode, 201, child.body);
      const bMember = await enrol(t, b.tenantId, ['member']);
      const invitation = await call('POST', `/api/v1/tenants/${b.tenantId}/invitations`, b.accessToken, { email: uniqueEmail('pending'), roles: ['member'] });
      assert.equal(invitation.statusCode, 201, invitation.body);
      const webhook = await call('POST', `/api/v1/tenants/${b.tenantId}/webhooks`, b.accessToken, { url: 'https://203.0.113.10/b-hooks', eventTypes: ['api_key.created'] });
      assert.equal(webhook.statusCode, 201, webhook.body);
      const bKey = await createKey(t, b.accessToken, b.tenantId, ['tenant.read']);
      // The key's event, fanned out: B's webhook has a delivery in its log (never sent: the address is TEST-NET-3).
      await t.app.services.webhooks.events.runOnce();
      const deliveries = await call('GET', `/api/v1/tenants/${b.tenantId}/webhooks/${webhook.json().id}/deliveries`, b.accessToken);
      const bDelivery = deliveries.json().deliveries[0]?.id as string;
      assert.ok(bDelivery, deliveries.body);
      const role = await call('POST', `/api/v1/tenants/${b.tenantId}/roles`, b.accessToken, {
        key: 'auditor',
        name: 'Auditor',
        scope: 'tenant',
        permissions: ['tenant.read', 'members.read'],
      });
      assert.equal(role.statusCode, 201, role.body);
      const bSlug = (await call('GET', `/api/v1/tenants/${b.tenantId}`, b.accessToken)).json().slug as string;
      w = { a, aKey, b, bSlug, bChild: child.json().id, bMember, bInvitation: invitation.json().id, bKey: bKey.id, bRole: 'auditor', bWebhook: webhook.json().id, bDelivery };

      const tables = [...(await tenantScopedTables(t.database)), 'tenants'];
      snapshot = () => snapshotRows(t.database, tables, [w.b.tenantId, w.bChild]);
    });
    after(() => closeChecked(t));

    it("sees B's rows in the snapshot it compares (tenant, child, member, invitation, key, custom role)", async () => {
      const seen = await snapshot();
      for (const id of [w.b.tenantId, w.bChild, w.bMember.userId, w.bInvitation, w.bKey, '"auditor"', w.bWebhook, w.bDelivery])
        assert.ok(seen.includes(id), `${id} is not in the snapshot`);
    });

    it('has a request for every tenant-scoped route of the API document (a new route must be added here)', () => {
      const missing = tenantRoutes()
        .filter((r) => r.hasBody && WRITES.has(r.method) && writeBody(r, { userId: '', slug: '' }) === undefined)
        .map((r) => `${r.method} ${r.path}`);
      assert.deepEqual(missing, []);
      assert.ok(tenantRoutes().length >= 30, `only ${tenantRoutes().length} tenant-scoped routes found`);
    });

    /** B's ids for every path parameter. */
    const foreignPath = (path: string, tenantId: string) =>
      path
        .replace('{tenantId}', tenantId)
        .replace('{userId}', w.bMember.userId)
        .replace('{invitationId}', w.bInvitation)
        .replace('{keyId}', w.bKey)
        .replace('{roleKey}', w.bRole)
        .replace('{webhookId}', w.bWebhook)
        .replace('{deliveryId}', w.bDelivery)
        .replace('{requestId}', 'apr_aaaaaaaaaaaaaaaaaaaa');

    for (const credential of ['owner token', 'API key'] as const) {
      it(`answers A's ${credential} on every route with B's tenant exactly as for a tenant that does not exist (404, or 403 user_required for a key on a person-only route), and changes nothing of B`, async () => {
        const token = credential === 'owner token' ? w.a.accessToken : w.aKey;
        const before = await snapshot();
        const leaks: string[] = [];
        for (const route of tenantRoutes()) {
          const body = route.hasBody ? writeBody(route, { userId: w.bMember.userId, slug: w.bSlug }) : undefined;
          // What a tenant that does not exist gets: B's tenants must get exactly that (no oracle), and it must refuse.
          const nowhere = await call(route.method, foreignPath(route.path, NO_SUCH_TENANT), token, body);
          const refusal = `${nowhere.statusCode} ${nowhere.json().code}`;
          assert.ok(['404 tenant_not_found', '403 user_required'].includes(refusal), `${route.method} ${route.path} for no tenant: ${nowhere.body}`);
          for (const target of [w.b.tenantId, w.bChild]) {
            const url = foreignPath(route.path, target);
            const res = await call(route.method, url, token, body);
            if (`${res.statusCode} ${res.json().code}` !== refusal)
              leaks.push(`${route.method} ${url}: ${res.statusCode} ${res.body.slice(0, 200)} (a tenant that does not exist: ${refusal})`);
          }
        }
        assert.deepEqual(leaks, []);
        assert.equal(await snapshot(), before, "B's rows changed");
      });

      it(`answers 404 to A's ${credential} for B's objects under A's own path, and changes nothing of B`, async () => {
        const token = credential === 'owner token' ? w.a.accessToken : w.aKey;
        const before = await snapshot();
        const objectRoutes = tenantRoutes().filter((r) => /\{(userId|invitationId|keyId|roleKey|webhookId)\}/.test(r.path));
        assert.ok(objectRoutes.length >= 6);
        for (const route of objectRoutes) {
          const url = foreignPath(route.path, w.a.tenantId);
          const res = await call(route.method, url, token, route.hasBody ? writeBody(route, { userId: w.bMember.userId, slug: 'irrelevant' }) : undefined);
          // A key may not touch people (403 user_required, whoever they are); everything else: not found here.
          const personOnly = credential === 'API key' && res.statusCode === 403 && res.json().code === 'user_required';
          assert.ok(res.statusCode === 404 || personOnly, `${route.method} ${url}: ${res.statusCode} ${res.body}`);
        }
        assert.equal(await snapshot(), before, "B's rows changed");
      });
    }

    it("answers a method a route does not have, with B's ids, as no endpoint at all (404 route_not_found), and changes nothing of B", async () => {
      const before = await snapshot();
      const methods: Method[] = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];
      const byPath = new Map<string, Set<string>>();
      for (const route of tenantRoutes()) byPath.set(route.path, (byPath.get(route.path) ?? new Set()).add(route.method));
      let swapped = 0;
      for (const [path, has] of byPath) {
        for (const method of methods.filter((m) => !has.has(m))) {
          const res = await call(method, foreignPath(path, w.b.tenantId), w.a.accessToken, WRITES.has(method) ? { name: 'swapped' } : undefined);
          assert.equal(`${res.statusCode} ${res.json().code}`, '404 route_not_found', `${method} ${path}: ${res.body}`);
          swapped += 1;
        }
      }
      assert.ok(swapped >= 60, `${swapped} swapped methods tried`);
      assert.equal(await snapshot(), before, "B's rows changed");
    });

    it("ignores or refuses B's ids smuggled into A's bodies and queries: a child under B, a move under B, a check about B", async () => {
      const before = await snapshot();
      const underB = await call('POST', '/api/v1/tenants', w.a.accessToken, { name: 'Cuckoo', slug: `cuckoo-${engine}-${process.pid}`, parentId: w.b.tenantId });
      assert.equal(underB.statusCode, 404, underB.body);
      const moved = await call('PATCH', `/api/v1/tenants/${w.a.tenantId}`, w.a.accessToken, { parentId: w.b.tenantId });
      assert.ok([403, 404].includes(moved.statusCode), moved.body);
      const check = await call('POST', '/api/v1/check', w.a.accessToken, { tenantId: w.b.tenantId, permission: 'members.read' });
      assert.equal(check.json().allowed, false, check.body);
      // Asking about B's owner in B: not allowed to ask, and nothing said about them.
      const aboutB = await call('POST', '/api/v1/check', w.a.accessToken, { subject: w.b.userId, tenantId: w.b.tenantId, permission: 'members.read' });
      assert.equal(aboutB.statusCode, 200, aboutB.body);
      assert.equal(aboutB.json().allowed, false);
      assert.match(aboutB.json().reason, /needs members.read/);
      // A tenant id in a header or the query string never replaces the path's.
      const headered = await t.app.inject({
        method: 'GET',
        url: `/api/v1/tenants/${w.a.tenantId}/members?tenantId=${w.b.tenantId}`,
        headers: { ...bearer(w.a.accessToken), 'x-tenant-id': w.b.tenantId },
      });
      assert.ok(headered.statusCode === 200 || headered.statusCode === 400, headered.body);
      if (headered.statusCode === 200) assert.ok(!headered.body.includes(w.bMember.userId), "B's member listed through a smuggled tenant id");
      assert.equal(await snapshot(), before, "B's rows changed");
    });
  });
}
