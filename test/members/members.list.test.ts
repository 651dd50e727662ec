import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { readTenant, withTenant } from '../../src/platform/db/context.ts';
import type { MembershipKind } from '../../src/platform/db/schema.ts';
import { insertMembership } from '../../src/members/memberships.repository.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { testEngines } from '../helpers/database.ts';
import { assertProblem, bearer, signUp, type SignedUp } from '../helpers/users.ts';

interface ListedMember {
  userId: string;
  email: string;
  name: string | null;
  roles: string[];
  kind: string;
  joinedAt: string;
}

for (const engine of testEngines()) {
  describe(`GET /tenants/:tenantId/members [${engine}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await createTestApp(engine, { env: { TENANTRY_AUTH_RATE_LIMIT: '1000' } });
    });
    after(() => t.close());

    /** A new person with a membership of `kind` holding `roles` in `tenantId`. */
    async function join(tenantId: string, roles: string[], kind: MembershipKind = 'direct', name?: string): Promise<SignedUp> {
      const user = await signUp(t, name === undefined ? {} : { name });
      await withTenant(t.database.db, tenantId, (trx) => insertMembership(trx, { tenantId, userId: user.userId, kind, roles, now: t.clock.now() }));
      return user;
    }

    const list = (token: string, tenantId: string, query = '') => t.app.inject({ url: `/api/v1/tenants/${tenantId}/members${query}`, headers: bearer(token) });

    async function rowsOf(tenantId: string) {
      return readTenant(t.database.db, tenantId, (trx) => trx.selectFrom('memberships').select(['user_id', 'kind']).where('tenant_id', '=', tenantId).orderBy('user_id').execute());
    }

    it('lists direct members with their sorted roles, oldest first, and never a shadow membership', async () => {
      const owner = await signUp(t, { name: 'Olive Owner' });
      t.clock.advance(1000);
      const admin = await join(owner.tenantId, ['admin'], 'direct', 'Adam Admin');
      t.clock.advance(1000);
      const several = await join(owner.tenantId, ['viewer', 'member']);
      t.clock.advance(1000);
      const operator = await join(owner.tenantId, ['owner'], 'shadow');

      for (const caller of [owner, several, operator]) {
        const res = await list(caller.accessToken, owner.tenantId);
        assert.equal(res.statusCode, 200, res.body);
        const body = res.json() as { members: ListedMember[]; nextCursor: string | null };
        assert.equal(body.nextCursor, null);
        assert.deepEqual(
          body.members.map((m) => [m.userId, m.email, m.name, m.roles, m.kind]),
          [
            [owner.userId, owner.email, 'Olive Owner', ['owner'], 'direct'],
            [admin.userId, admin.email, 'Adam Admin', ['admin'], 'direct'],
            [several.userId, several.email, null, ['member', 'viewer'], 'direct'],
          ],
        );
        assert.ok(!body.members.some((m) => m.userId === operator.userId));
        const joined = body.members.map((m) => Date.parse(m.joinedAt));
        assert.deepEqual(
          joined,
          [...joined].sort((a, b) => a - b),
        );
        assert.equal(body.members[1]?.joinedAt, new Date(Date.parse(body.members[0]?.joinedAt ?? '') + 1000).toISOString());
      }
      // The shadow membership is there all the same: it is only hidden from the list.
      assert.ok((await rowsOf(owner.tenantId)).some((r) => r.user_id === operator.userId && r.kind === 'shadow'));
    });

    it('pages with a cursor in a stable order, ties broken by user id', async () => {
      const owner = await signUp(t);
      t.clock.advance(1000);
      // Four members joining at the same instant: only the user id orders them.
      const same = [];
      for (let i = 0; i < 4; i++) same.push(await join(owner.tenantId, ['member']));
      const expected = [owner.userId, ...same.map((u) => u.userId).sort()];

      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const res = await list(owner.accessToken, owner.tenantId, `?limit=2${cursor === null ? '' : `&cursor=${cursor}`}`);
        assert.equal(res.statusCode, 200, res.body);
        const body = res.json() as { members: ListedMember[]; nextCursor: string | null };
        assert.ok(body.members.length <= 2);
        seen.push(...body.members.map((m) => m.userId));
        cursor = body.nextCursor;
        pages += 1;
      } while (cursor !== null && pages < 10);
      assert.equal(pages, 3);
      assert.deepEqual(seen, expected);
    });

    it('refuses a malformed cursor or limit with 400', async () => {
      const owner = await signUp(t);
      assertProblem(await list(owner.accessToken, owner.tenantId, '?cursor=not-a-cursor'), 400, 'invalid_cursor');
      const forged = Buffer.from(JSON.stringify(['2026-02-30T00:00:00.000000Z', 'usr_x'])).toString('base64url');
      assertProblem(await list(owner.accessToken, owner.tenantId, `?cursor=${forged}`), 400, 'invalid_cursor');
      assertProblem(await list(owner.accessToken, owner.tenantId, '?limit=0'), 400, 'validation_failed');
      assertProblem(await list(owner.accessToken, owner.tenantId, '?limit=201'), 400, 'validation_failed');
    });

    it('needs members.read (403) and a token (401)', async () => {
      const owner = await signUp(t);
      const viewer = await join(owner.tenantId, ['viewer']);
      const res = await list(viewer.accessToken, owner.tenantId);
      assertProblem(res, 403, 'forbidden');
      assert.equal(res.json().permission, 'members.read');
      assertProblem(await t.app.inject({ url: `/api/v1/tenants/${owner.tenantId}/members` }), 401, 'unauthenticated');
    });

    it('answers 404 to a member (even an owner) of another tenant and shows nothing of it', async () => {
      const a = await signUp(t);
      const b = await signUp(t);
      const bMember = await join(b.tenantId, ['member']);
      const res = await list(a.accessToken, b.tenantId);
      assertProblem(res, 404, 'tenant_not_found');
      assert.ok(!res.body.includes(bMember.userId) && !res.body.includes(b.userId));
      // A's own list does not leak B's people either.
      const own = (await list(a.accessToken, a.tenantId)).json() as { members: ListedMember[] };
      assert.deepEqual(
        own.members.map((m) => m.userId),
        [a.userId],
      );
      assertProblem(await list(a.accessToken, 'tzzzzzzzzzzzzzzz'), 404, 'tenant_not_found');
    });
  });
}
