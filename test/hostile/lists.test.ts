import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { testEngines } from '../helpers/database.ts';
import { assertProblem } from '../helpers/users.ts';
import { listOracleProblems } from './oracle.ts';
import { hostileWorld, type World } from './world.ts';

/**
 * Issue 14, lists (OWASP API1 and API3:2023, ASVS 5.0 V8.2): a list shows exactly what its caller may read one object
 * at a time. Foreign filters, cursors from another tenant's list, forged cursors and huge pages change what is shown
 * only within the caller's own tenant — or are refused.
 */
for (const engine of testEngines()) {
  describe(`hostile: lists, filters and cursors [${engine}]`, () => {
    let w: World;
    hostileWorld(engine, (built) => {
      w = built;
    });

    it('shows every caller of the world only tenants they can read one by one, and reads none they are not shown', async () => {
      assert.deepEqual(await listOracleProblems(w), []);
    });

    it('hides the tenants below from a member whose roles stop at their own tenant, in /tree and /children (finding: it listed the whole subtree)', async () => {
      for (const who of [w.a.member.accessToken, w.a.auditor.accessToken, w.a.readKey.secret]) {
        for (const below of ['tree', 'children']) {
          const res = await w.call('GET', `/api/v1/tenants/${w.a.id}/${below}`, who);
          assert.equal(res.statusCode, 200, res.body);
          const ids = res.json().tenants.map((n: { id: string }) => n.id);
          assert.deepEqual(ids, below === 'tree' ? [w.a.id] : [], `${below}: ${res.body}`);
        }
      }
      // The owner's roles reach down: the whole chain, in order.
      const tree = (await w.call('GET', `/api/v1/tenants/${w.a.id}/tree`, w.a.owner.accessToken)).json().tenants.map((n: { id: string }) => n.id);
      assert.deepEqual(tree, [w.a.id, ...w.a.chain]);
    });

    it("filters A's audit trail by B's actors and targets to nothing of B's", async () => {
      for (const filter of [`actorId=${w.b.owner.userId}`, `targetId=${w.b.id}`, `targetId=${w.b.member.userId}`, `actorId=${w.b.writeKey.id}`]) {
        const res = await w.call('GET', `/api/v1/tenants/${w.a.id}/audit-events?${filter}`, w.a.owner.accessToken);
        assert.equal(res.statusCode, 200, res.body);
        assert.deepEqual(res.json().events, [], filter);
      }
      const all = await w.call('GET', `/api/v1/tenants/${w.a.id}/audit-events?limit=200`, w.a.owner.accessToken);
      for (const id of [w.b.id, w.b.owner.userId, w.b.writeKey.id, ...w.b.chain]) assert.ok(!all.body.includes(id), `${id} appears in A's trail`);
    });

    it("pages A's lists with B's cursors to A's rows only, and refuses forged cursors with 400 invalid_cursor", async () => {
      for (const list of ['members', 'invitations', 'audit-events']) {
        const bPage = await w.call('GET', `/api/v1/tenants/${w.b.id}/${list}?limit=1`, w.b.owner.accessToken);
        assert.equal(bPage.statusCode, 200, bPage.body);
        const cursor = bPage.json().nextCursor as string | null;
        if (cursor !== null) {
          const res = await w.call('GET', `/api/v1/tenants/${w.a.id}/${list}?cursor=${encodeURIComponent(cursor)}`, w.a.owner.accessToken);
          assert.ok([200, 400].includes(res.statusCode), res.body);
          for (const id of [w.b.owner.userId, w.b.admin.userId, w.b.id]) assert.ok(!res.body.includes(id), `${list} with B's cursor shows ${id}`);
        }
        for (const forged of ['eyJ1c2VySWQiOiIqIn0', "' OR 1=1 --", 'AAAAAAAAAAAAAAAAAAAAAA', '-1']) {
          assertProblem(await w.call('GET', `/api/v1/tenants/${w.a.id}/${list}?cursor=${encodeURIComponent(forged)}`, w.a.owner.accessToken), 400, 'invalid_cursor');
        }
      }
    });

    it('refuses page sizes beyond the maximum and unknown query parameters (a tenant id in the query) with 400', async () => {
      for (const list of ['members', 'invitations', 'audit-events']) {
        for (const query of ['limit=1000000', 'limit=0', 'limit=-5', `tenantId=${w.b.id}`]) {
          const res = await w.call('GET', `/api/v1/tenants/${w.a.id}/${list}?${query}`, w.a.owner.accessToken);
          assertProblem(res, 400, 'validation_failed');
        }
      }
    });
  });
}
