import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { KyselyPlugin, PluginTransformQueryArgs, PluginTransformResultArgs, QueryResult, RootOperationNode, UnknownRow } from 'kysely';
import { withTenant } from '../../src/platform/db/context.ts';
import { openDatabase } from '../../src/platform/db/database.ts';
import { insertMembership } from '../../src/members/memberships.repository.ts';
import { TaggedCache } from '../../src/platform/tagged-cache.ts';
import { createKey, machineToken } from '../helpers/api-keys.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { createTestDatabase, type TestDatabase, testEngines } from '../helpers/database.ts';
import { eventually } from '../helpers/eventually.ts';
import { assertProblem, bearer, join, signUp } from '../helpers/users.ts';

/** Counts the statements the app sends (every query passes through a plugin; BEGIN and COMMIT do not). */
class StatementCounter implements KyselyPlugin {
  count = 0;
  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    this.count++;
    return args.node;
  }
  transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    return Promise.resolve(args.result);
  }
}

const RATE = { TENANTRY_AUTH_RATE_LIMIT: '10000' };

for (const engine of testEngines()) {
  describe(`credential cache [${engine}]`, () => {
    let t: TestApp;
    const counter = new StatementCounter();
    before(async () => {
      const database = await createTestDatabase(engine);
      // Deaf to NOTIFY: what this node changes must leave its caches at commit, before any notification arrives
      // (the NOTIFY path is the cross-process test's below).
      const deaf = { ...database, db: database.db.withPlugin(counter), listen: async () => async () => {} };
      t = await createTestApp(engine, { database: deaf, env: RATE });
    });
    after(() => t.close());

    const check = (credential: string, tenantId: string) =>
      t.app.inject({ method: 'POST', url: '/api/v1/check', headers: bearer(credential), payload: { tenantId, permission: 'members.read' } });

    it("answers a repeated request from memory: no statement for a person's token, an API key or a machine token", async () => {
      const owner = await signUp(t);
      const key = await createKey(t, owner.accessToken, owner.tenantId, ['members.read']);
      const token = await machineToken(t, key);
      for (const [what, credential] of [
        ['access token', owner.accessToken],
        ['API key', key.secret],
        ['machine token', token],
      ] as const) {
        const first = await check(credential, owner.tenantId);
        assert.equal(first.json().allowed, true, `${what}: ${first.body}`);
        counter.count = 0;
        const again = await check(credential, owner.tenantId);
        assert.equal(again.json().allowed, true, `${what}: ${again.body}`);
        assert.equal(counter.count, 0, `${what}: a warm request sent ${counter.count} statements`);
      }
      for (const url of ['/api/v1/auth/me', '/api/v1/tenants']) {
        assert.equal((await t.app.inject({ url, headers: bearer(owner.accessToken) })).statusCode, 200);
        counter.count = 0;
        const again = await t.app.inject({ url, headers: bearer(owner.accessToken) });
        assert.equal(again.statusCode, 200, again.body);
        assert.equal(counter.count, 0, `${url}: a warm request sent ${counter.count} statements`);
      }
      // "Last used" is still written, once per minute of use, not per request.
      t.clock.advance(61_000);
      counter.count = 0;
      assert.equal((await check(key.secret, owner.tenantId)).json().allowed, true);
      assert.ok(counter.count > 0, 'a minute later the key records its use');
      const listed = await t.app.inject({ url: `/api/v1/tenants/${owner.tenantId}/api-keys`, headers: bearer(owner.accessToken) });
      assert.equal(listed.json().apiKeys.find((k: { id: string }) => k.id === key.id).lastUsedAt, t.clock.now().toISOString());
    });

    it('ends a cached session or key on the very next request of this node: sign-out, revocation, expiry', async () => {
      const person = await signUp(t);
      assert.equal((await check(person.accessToken, person.tenantId)).statusCode, 200, 'now cached');
      assert.equal((await t.app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: bearer(person.accessToken) })).statusCode, 204);
      assertProblem(await check(person.accessToken, person.tenantId), 401, 'session_ended');

      // A password reset ending every cached session: test/accounts/password-reset.test.ts.

      const owner = await signUp(t);
      const key = await createKey(t, owner.accessToken, owner.tenantId, ['members.read']);
      const token = await machineToken(t, key);
      for (const credential of [key.secret, token]) assert.equal((await check(credential, owner.tenantId)).statusCode, 200, 'now cached');
      assert.equal((await t.app.inject({ method: 'DELETE', url: `/api/v1/tenants/${owner.tenantId}/api-keys/${key.id}`, headers: bearer(owner.accessToken) })).statusCode, 204);
      for (const credential of [key.secret, token]) assertProblem(await check(credential, owner.tenantId), 401, 'invalid_api_key');

      const expiring = await createKey(t, owner.accessToken, owner.tenantId, ['members.read'], { expiresAt: new Date(t.clock.now().getTime() + 3_600_000).toISOString() });
      assert.equal((await check(expiring.secret, owner.tenantId)).statusCode, 200, 'now cached');
      t.clock.advance(3_600_000);
      const expired = await check(expiring.secret, owner.tenantId);
      assertProblem(expired, 401, 'invalid_api_key');
      assert.equal(expired.json().detail, 'the API key has expired');
    });

    it('refuses a cached key at once when its tenant is suspended, and takes it back when it is resumed', async () => {
      const founder = await signUp(t);
      const created = await t.app.inject({
        method: 'POST',
        url: '/api/v1/tenants',
        headers: bearer(founder.accessToken),
        payload: { name: 'Branch', slug: `branch-${process.pid}-${engine}`, parentId: founder.tenantId },
      });
      assert.equal(created.statusCode, 201, created.body);
      const branch = created.json().id as string;
      const key = await createKey(t, founder.accessToken, branch, ['members.read']);
      assert.equal((await check(key.secret, branch)).statusCode, 200, 'now cached');
      const status = (action: string) => t.app.inject({ method: 'POST', url: `/api/v1/tenants/${branch}/${action}`, headers: bearer(founder.accessToken), payload: {} });
      assert.equal((await status('suspend')).statusCode, 200);
      assertProblem(await check(key.secret, branch), 403, 'tenant_suspended');
      assert.equal((await status('resume')).statusCode, 200);
      assert.equal((await check(key.secret, branch)).statusCode, 200);
    });
  });
}

for (const engine of testEngines()) {
  describe(`tenant lists from memory [${engine}]`, () => {
    let t: TestApp;
    before(async () => {
      const database = await createTestDatabase(engine);
      // Deaf to NOTIFY, as above: this node must drop what its own commits change.
      t = await createTestApp(engine, { database: { ...database, listen: async () => async () => {} }, env: RATE });
    });
    after(() => t.close());

    const names = async (token: string) => {
      const res = await t.app.inject({ url: '/api/v1/tenants', headers: bearer(token) });
      assert.equal(res.statusCode, 200, res.body);
      return (res.json().tenants as Array<{ name: string }>).map((x) => x.name).sort();
    };
    const meNames = async (token: string) =>
      (await t.app.inject({ url: '/api/v1/auth/me', headers: bearer(token) })).json().authorization as Array<{ name: string }> | Record<string, { name: string }>;

    it('shows at once a tenant one creates, is added to, or that is renamed', async () => {
      const founder = await signUp(t, { name: 'Fay' });
      const other = await signUp(t, { name: 'Otto' });
      assert.deepEqual(await names(founder.accessToken), ["Fay's workspace"]);
      assert.ok(JSON.stringify(await meNames(founder.accessToken)).includes("Fay's workspace"), 'now cached for /auth/me too');

      const created = await t.app.inject({
        method: 'POST',
        url: '/api/v1/tenants',
        headers: bearer(founder.accessToken),
        payload: { name: 'Second', slug: `second-${engine}-${process.pid}` },
      });
      assert.equal(created.statusCode, 201, created.body);
      assert.deepEqual(await names(founder.accessToken), ["Fay's workspace", 'Second']);

      // Someone else's tenant adds Fay: her list (cached, tagged only with her own tenants) must show it.
      await join(t, other.tenantId, founder.userId, ['member']);
      assert.deepEqual(await names(founder.accessToken), ["Fay's workspace", "Otto's workspace", 'Second']);
      assert.ok(JSON.stringify(await meNames(founder.accessToken)).includes("Otto's workspace"));

      const renamed = await t.app.inject({ method: 'PATCH', url: `/api/v1/tenants/${other.tenantId}`, headers: bearer(other.accessToken), payload: { name: 'Otto & Co' } });
      assert.equal(renamed.statusCode, 200, renamed.body);
      assert.deepEqual(await names(founder.accessToken), ["Fay's workspace", 'Otto & Co', 'Second']);
    });
  });
}

describe('TaggedCache', () => {
  it('answers a load that overlapped an invalidation, but does not keep it', async () => {
    const cache = new TaggedCache<string>(10);
    let release!: () => void;
    const loading = cache.getOrLoad(
      's1',
      () => new Promise<string>((resolve) => (release = () => resolve('read before the change'))),
      () => ['session:s1'],
    );
    cache.invalidate('session:s1'); // the change commits while the read is in flight
    release();
    assert.equal(await loading, 'read before the change');
    assert.equal(cache.get('s1'), undefined, 'kept a row read before a change that committed meanwhile');
    assert.equal(
      await cache.getOrLoad(
        's1',
        () => Promise.resolve('fresh'),
        () => ['session:s1'],
      ),
      'fresh',
    );
    assert.equal(cache.get('s1'), 'fresh');
  });

  it('drops by any tag, keeps nothing it could not find, and evicts the oldest when full', async () => {
    const cache = new TaggedCache<string>(2);
    await cache.getOrLoad(
      'a',
      () => Promise.resolve('A'),
      () => ['user:1', 'tenant-x'],
    );
    await cache.getOrLoad(
      'b',
      () => Promise.resolve('B'),
      () => ['user:2'],
    );
    assert.equal(
      await cache.getOrLoad(
        'gone',
        () => Promise.resolve(undefined),
        () => ['user:3'],
      ),
      undefined,
    );
    assert.equal(cache.size, 2);
    cache.invalidate('tenant-x');
    assert.deepEqual([cache.get('a'), cache.get('b')], [undefined, 'B']);
    cache.set('c', 'C', []);
    cache.set('d', 'D', []);
    assert.deepEqual([cache.get('b'), cache.get('c'), cache.get('d')], [undefined, 'C', 'D']);
    cache.invalidate('*');
    assert.equal(cache.size, 0);
  });
});

if (testEngines().includes('postgres')) {
  describe('credential cache across server processes [postgres]', () => {
    let first: TestDatabase;
    let nodeA: TestApp;
    let nodeB: TestApp;
    before(async () => {
      first = await createTestDatabase('postgres');
      nodeA = await createTestApp('postgres', { database: first, env: RATE });
      // Node B: its own connection pool on the same database, as a second process would have.
      nodeB = await createTestApp('postgres', { database: await openDatabase({ engine: 'postgres', url: first.url!, poolSize: 4 }), env: RATE, clockStart: nodeA.clock.now() });
    });
    after(async () => {
      await nodeB?.close();
      await nodeA?.close();
    });

    /** Asks node B until it answers `expected`, for at most one second (NOTIFY's delivery); returns its last status. */
    const nodeBWithinOneSecond = (ask: () => Promise<number>, expected: number) => eventually(ask, (status) => status === expected);
    const me = (credential: string) => async () => (await nodeB.app.inject({ url: '/api/v1/auth/me', headers: bearer(credential) })).statusCode;

    it('a sign-out on one node ends the session on the other within one second', async () => {
      const person = await signUp(nodeA);
      assert.equal(await me(person.accessToken)(), 200, 'node B has cached the session');
      assert.equal((await nodeA.app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: bearer(person.accessToken) })).statusCode, 204);
      assert.equal(await nodeBWithinOneSecond(me(person.accessToken), 401), 401, 'node B still honoured a session ended a second ago');
    });

    it("a person's tenant list on the other node follows a membership and a rename within one second", async () => {
      const person = await signUp(nodeA, { name: 'Nia' });
      const other = await signUp(nodeA, { name: 'Ola' });
      const list = async () =>
        ((await nodeB.app.inject({ url: '/api/v1/tenants', headers: bearer(person.accessToken) })).json().tenants as Array<{ name: string }>)
          .map((x) => x.name)
          .sort()
          .join(', ');
      assert.equal(await list(), "Nia's workspace", 'node B has cached the list');
      const until = (expected: string) => eventually(list, (seen) => seen === expected);
      // Through node A's own connection: node B hears of it only through NOTIFY.
      await withTenant(first.db, other.tenantId, (trx) =>
        insertMembership(trx, { tenantId: other.tenantId, userId: person.userId, kind: 'direct', roles: ['member'], now: nodeA.clock.now() }),
      );
      assert.equal(await until("Nia's workspace, Ola's workspace"), "Nia's workspace, Ola's workspace");
      assert.equal(
        (await nodeA.app.inject({ method: 'PATCH', url: `/api/v1/tenants/${other.tenantId}`, headers: bearer(other.accessToken), payload: { name: 'Ola Ltd' } })).statusCode,
        200,
      );
      assert.equal(await until("Nia's workspace, Ola Ltd"), "Nia's workspace, Ola Ltd");
    });

    it('a session refreshed on one node is honoured on the other past the expiry that node cached', async () => {
      // Moving an expiry notifies nobody (migration 0019): node B must read the session again, not refuse it.
      const person = await signUp(nodeA);
      assert.equal(await me(person.accessToken)(), 200, 'node B has cached the session and its expiry');
      const advance = (ms: number) => {
        nodeA.clock.advance(ms);
        nodeB.clock.advance(ms);
      };
      const refresh = async (refreshToken: string) => {
        const res = await nodeA.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refreshToken } });
        assert.equal(res.statusCode, 200, res.body);
        return res.json() as { accessToken: string; refreshToken: string };
      };
      const day = 24 * 60 * 60_000;
      advance(29 * day);
      const renewed = await refresh(person.refreshToken);
      advance(2 * day); // past the expiry node B cached, within the new one
      const again = await refresh(renewed.refreshToken);
      assert.equal(await me(again.accessToken)(), 200, 'node B refused a live session on the expiry it had cached');
      advance(31 * day); // past every expiry: refused
      assert.equal(await me(again.accessToken)(), 401);
    });

    it('a key revoked on one node stops working on the other within one second', async () => {
      const owner = await signUp(nodeA);
      const key = await createKey(nodeA, owner.accessToken, owner.tenantId, ['members.read']);
      const members = () => async () => (await nodeB.app.inject({ url: `/api/v1/tenants/${owner.tenantId}/members`, headers: bearer(key.secret) })).statusCode;
      assert.equal(await members()(), 200, 'node B has cached the key');
      assert.equal((await nodeA.app.inject({ method: 'DELETE', url: `/api/v1/tenants/${owner.tenantId}/api-keys/${key.id}`, headers: bearer(owner.accessToken) })).statusCode, 204);
      assert.equal(await nodeBWithinOneSecond(members(), 401), 401, 'node B still honoured a key revoked a second ago');
    });
  });
}
