import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { withSystem, withTenant } from '../../src/platform/db/context.ts';
import { insertMembership } from '../../src/members/memberships.repository.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { testEngines } from '../helpers/database.ts';
import { assertProblem, bearer, signUp, type SignedUp } from '../helpers/users.ts';

let slugCounter = 0;
const slug = (prefix: string) => `${prefix}-${process.pid}-${++slugCounter}`;

for (const engine of testEngines()) {
  describe(`tenants: create, read, rename, data, tree, move [${engine}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await createTestApp(engine, { env: { TENANTRY_AUTH_RATE_LIMIT: '10000' } });
    });
    after(() => t.close());

    const create = (user: SignedUp, body: object) => t.app.inject({ method: 'POST', url: '/api/v1/tenants', headers: bearer(user.accessToken), payload: body });
    const get = (user: SignedUp, path: string) => t.app.inject({ url: `/api/v1/tenants/${path}`, headers: bearer(user.accessToken) });
    const patch = (user: SignedUp, id: string, body: object) => t.app.inject({ method: 'PATCH', url: `/api/v1/tenants/${id}`, headers: bearer(user.accessToken), payload: body });
    const addMember = (tenantId: string, userId: string, roles: string[]) =>
      withTenant(t.database.db, tenantId, (trx) => insertMembership(trx, { tenantId, userId, kind: 'direct', roles, now: t.clock.now() }));

    /** A chain root → … of `levels` tenants created through the API by `owner`; returns their ids. */
    async function chain(owner: SignedUp, levels: number, prefix: string): Promise<string[]> {
      const ids: string[] = [];
      for (let level = 1; level <= levels; level++) {
        const res = await create(owner, { name: `${prefix} L${level}`, slug: slug(`${prefix}-l${level}`), parentId: ids.at(-1) ?? null });
        assert.equal(res.statusCode, 201, res.body);
        ids.push(res.json().id);
      }
      return ids;
    }

    it('creates a root tenant owned by its creator, with the SPEC fields', async () => {
      const user = await signUp(t);
      const s = slug('acme');
      const res = await create(user, { name: 'Acme Ltd', slug: s });
      assert.equal(res.statusCode, 201, res.body);
      const body = res.json();
      for (const field of ['id', 'slug', 'name', 'parentId', 'status', 'plan', 'data', 'createdAt', 'updatedAt']) assert.ok(field in body, field);
      assert.match(body.id, /^t[a-z2-7]{15}$/);
      assert.equal(body.slug, s);
      assert.equal(body.parentId, null);
      assert.equal(body.status, 'active');
      assert.equal(body.kind, 'individual');
      assert.deepEqual(body.path, [body.id]);
      const mine = (await t.app.inject({ url: '/api/v1/tenants', headers: bearer(user.accessToken) })).json().tenants;
      assert.deepEqual(mine.find((x: { id: string }) => x.id === body.id)?.roles, ['owner']);
    });

    it('refuses duplicate and malformed slugs and blank names, creating nothing', async () => {
      const user = await signUp(t);
      const s = slug('dup');
      assert.equal((await create(user, { name: 'One', slug: s })).statusCode, 201);
      const count = async () =>
        Number(
          (
            await withSystem(t.database.db, (trx) =>
              trx
                .selectFrom('tenants')
                .select((e) => e.fn.countAll().as('n'))
                .executeTakeFirstOrThrow(),
            )
          ).n,
        );
      const before = await count();
      assertProblem(await create(user, { name: 'Two', slug: s }), 409, 'slug_taken');
      for (const bad of ['A-Upper', '-lead', 'trail-', 'x', 'has space', 'a'.repeat(64), 'ünï'])
        assertProblem(await create(user, { name: 'Bad', slug: bad }), 400, 'validation_failed');
      assertProblem(await create(user, { name: '   ', slug: slug('blank') }), 400, 'validation_failed');
      assert.equal(await count(), before);
    });

    it('renames (id unchanged) and merge-patches the data object, up to 64 KiB', async () => {
      const user = await signUp(t);
      const id = user.tenantId;
      const renamed = await patch(user, id, { name: 'Renamed', data: { company_size: '250-1000', industry: 'Food & beverage', nested: { a: 1 } } });
      assert.equal(renamed.statusCode, 200, renamed.body);
      assert.equal(renamed.json().id, id);
      assert.equal(renamed.json().name, 'Renamed');
      const patched = (await patch(user, id, { data: { nested: { a: null, b: 2 }, requested_assistance: true } })).json();
      assert.deepEqual(patched.data, { company_size: '250-1000', industry: 'Food & beverage', nested: { b: 2 }, requested_assistance: true });
      assertProblem(await patch(user, id, { data: { blob: 'x'.repeat(70_000) } }), 422, 'data_too_large');
      assertProblem(await patch(user, id, {}), 400, 'validation_failed');
      assert.deepEqual((await get(user, id)).json().data, patched.data);
    });

    it('lets an owner at level 2 administer level 7 but not a sibling branch', async () => {
      const founder = await signUp(t);
      const [root, level2] = await chain(founder, 2, 'corp');
      const branchOwner = await signUp(t);
      await addMember(level2!, branchOwner.userId, ['owner']);
      const below = await chain(founder, 0, 'x');
      void below;
      // Levels 3..7 under level 2, created by the level-2 owner.
      const ids = [level2!];
      for (let level = 3; level <= 7; level++) {
        const res = await create(branchOwner, { name: `Level ${level}`, slug: slug(`lvl${level}`), parentId: ids.at(-1) });
        assert.equal(res.statusCode, 201, res.body);
        ids.push(res.json().id);
      }
      const level7 = ids.at(-1)!;
      const sibling = await create(founder, { name: 'Sibling branch', slug: slug('sibling'), parentId: root });
      assert.equal(sibling.statusCode, 201);

      const stranger = await signUp(t);
      await addMember(level7, stranger.userId, ['member']);
      assert.equal((await patch(branchOwner, level7, { name: 'Renamed by level-2 owner' })).statusCode, 200);
      assert.equal((await get(branchOwner, `${level7}`)).json().path.length, 7);
      assertProblem(await get(branchOwner, sibling.json().id), 404, 'tenant_not_found');
      assertProblem(await patch(branchOwner, sibling.json().id, { name: 'nope' }), 404, 'tenant_not_found');
      assertProblem(await get(branchOwner, root!), 404, 'tenant_not_found');

      // Depth 8 is refused, and nothing is created.
      assertProblem(await create(branchOwner, { name: 'Level 8', slug: slug('lvl8'), parentId: level7 }), 409, 'tree_too_deep');
      const tree = (await get(founder, `${root}/tree`)).json().tenants;
      assert.equal(tree.length, 8);
      assert.deepEqual(tree.map((n: { depth: number }) => n.depth).sort(), [0, 1, 1, 2, 3, 4, 5, 6]);
      const children = (await get(founder, `${root}/children`))
        .json()
        .tenants.map((n: { id: string }) => n.id)
        .sort();
      assert.deepEqual(children, [level2, sibling.json().id].sort());
    });

    it('moves a subtree, refusing cycles and over-deep results', async () => {
      const owner = await signUp(t);
      const [a, b, c] = await chain(owner, 3, 'mv');
      const other = (await create(owner, { name: 'Other root', slug: slug('other') })).json().id;
      assertProblem(await patch(owner, a!, { parentId: c }), 409, 'tree_cycle');
      assertProblem(await patch(owner, a!, { parentId: a }), 409, 'tree_cycle');
      const moved = await patch(owner, b!, { parentId: other });
      assert.equal(moved.statusCode, 200, moved.body);
      assert.deepEqual(moved.json().path, [other, b]);
      assert.deepEqual((await get(owner, c!)).json().path, [other, b, c], 'descendants move with it');
      const deep = await chain(owner, 5, 'deep');
      assertProblem(await patch(owner, other, { parentId: deep.at(-1) }), 409, 'tree_too_deep');
      assert.deepEqual((await get(owner, c!)).json().path, [other, b, c], 'a refused move changes nothing');
      const root = await patch(owner, b!, { parentId: null });
      assert.deepEqual(root.json().path, [b]);
    });

    it('needs tenants.create_child on the parent, and tenant.update plus create_child on the new parent to move', async () => {
      const owner = await signUp(t);
      const member = await signUp(t);
      await addMember(owner.tenantId, member.userId, ['member']);
      assertProblem(await create(member, { name: 'Kid', slug: slug('kid'), parentId: owner.tenantId }), 403, 'forbidden');
      const stranger = await signUp(t);
      assertProblem(await create(stranger, { name: 'Kid', slug: slug('kid'), parentId: owner.tenantId }), 404, 'tenant_not_found');
      assertProblem(await patch(owner, owner.tenantId, { parentId: stranger.tenantId }), 404, 'tenant_not_found');
    });

    it('refuses a move under a parent the caller can see but may not create children in, changing nothing', async () => {
      const mover = await signUp(t);
      const target = await signUp(t);
      // The mover sees the target's tenant (member: tenant.read, members.read) but lacks tenants.create_child there.
      await addMember(target.tenantId, mover.userId, ['member']);
      assert.equal((await get(mover, target.tenantId)).statusCode, 200, 'precondition: the new parent is visible');
      const [own] = await chain(mover, 1, 'mover');
      const treeRow = (id: string) =>
        withSystem(t.database.db, (trx) => trx.selectFrom('tenant_tree').select(['parent_id', 'path']).where('tenant_id', '=', id).executeTakeFirstOrThrow());
      const moves = (id: string) =>
        withTenant(t.database.db, id, (trx) => trx.selectFrom('audit_events').select('seq').where('tenant_id', '=', id).where('action', '=', 'tenant.moved').execute());
      const before = await treeRow(own!);

      const refused = await patch(mover, own!, { parentId: target.tenantId });
      assertProblem(refused, 403, 'forbidden');
      assert.equal(refused.json().permission, 'tenants.create_child', refused.body);
      // Renaming in the same request is refused with it.
      assertProblem(await patch(mover, own!, { parentId: target.tenantId, name: 'Renamed on the way' }), 403, 'forbidden');

      assert.deepEqual(await treeRow(own!), before);
      const after = (await get(mover, own!)).json();
      assert.deepEqual([after.parentId, after.path, after.name], [null, [own], 'mover L1']);
      assert.deepEqual((await get(target, `${target.tenantId}/children`)).json().tenants, []);
      assert.deepEqual(await moves(own!), [], 'no move was audited');

      // With tenants.create_child there (admin), the same move goes through.
      await withTenant(t.database.db, target.tenantId, (trx) =>
        trx.updateTable('membership_roles').set({ role_key: 'admin' }).where('tenant_id', '=', target.tenantId).where('user_id', '=', mover.userId).execute(),
      );
      const moved = await patch(mover, own!, { parentId: target.tenantId });
      assert.equal(moved.statusCode, 200, moved.body);
      assert.deepEqual(moved.json().path, [target.tenantId, own]);
    });

    it('answers 404 on every tenant endpoint for a tenant the caller cannot reach, and changes nothing', async () => {
      const a = await signUp(t);
      const b = await signUp(t);
      await patch(b, b.tenantId, { data: { secret: 'b-only' } });
      const snapshot = async () => withSystem(t.database.db, (trx) => trx.selectFrom('tenants').selectAll().where('id', '=', b.tenantId).executeTakeFirstOrThrow());
      const before = await snapshot();
      const calls = [
        get(a, b.tenantId),
        get(a, `${b.tenantId}/children`),
        get(a, `${b.tenantId}/tree`),
        patch(a, b.tenantId, { name: 'hijacked' }),
        patch(a, b.tenantId, { data: { secret: null } }),
        patch(a, b.tenantId, { parentId: a.tenantId }),
        create(a, { name: 'Child of B', slug: slug('child-b'), parentId: b.tenantId }),
      ];
      for (const res of await Promise.all(calls)) assertProblem(res, 404, 'tenant_not_found');
      assert.deepEqual(await snapshot(), before);
    });
  });

  describe(`switching into a tenant reached through an ancestor's role [${engine}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await createTestApp(engine, { env: { TENANTRY_AUTH_RATE_LIMIT: '10000' } });
    });
    after(() => t.close());

    const switchTo = (user: SignedUp, tenantId: string) =>
      t.app.inject({ method: 'POST', url: '/api/v1/auth/active-tenant', headers: bearer(user.accessToken), payload: { tenantId } });
    const claims = (token: string) => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { tid: string | null; sub: string };
    const addMember = (tenantId: string, userId: string, roles: string[]) =>
      withTenant(t.database.db, tenantId, (trx) => insertMembership(trx, { tenantId, userId, kind: 'direct', roles, now: t.clock.now() }));

    /** founder's root → child → grandchild, created through the API; nobody else belongs below the root. */
    async function company(): Promise<{ founder: SignedUp; root: string; child: string; grandchild: string }> {
      const founder = await signUp(t);
      const make = async (name: string, parentId: string) => {
        const res = await t.app.inject({
          method: 'POST',
          url: '/api/v1/tenants',
          headers: bearer(founder.accessToken),
          payload: { name, slug: slug(name.toLowerCase()), parentId },
        });
        assert.equal(res.statusCode, 201, res.body);
        return res.json().id as string;
      };
      const child = await make('Child', founder.tenantId);
      const grandchild = await make('Grandchild', child);
      return { founder, root: founder.tenantId, child, grandchild };
    }

    it('lets someone with a tenant_and_descendants role above switch into a descendant: the new token carries it', async () => {
      const { root, grandchild } = await company();
      const admin = await signUp(t);
      await addMember(root, admin.userId, ['admin']);
      const memberships = await withSystem(t.database.db, (trx) => trx.selectFrom('memberships').select('tenant_id').where('user_id', '=', admin.userId).execute());
      assert.equal(
        memberships.some((m) => m.tenant_id === grandchild),
        false,
        'precondition: no membership in the grandchild',
      );

      const res = await switchTo(admin, grandchild);
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.json().activeTenantId, grandchild);
      assert.deepEqual([claims(res.json().accessToken).tid, claims(res.json().accessToken).sub], [grandchild, admin.userId]);
      // The new token works there (through the inherited role) and the old one is still for the own tenant.
      assert.equal((await t.app.inject({ url: `/api/v1/tenants/${grandchild}`, headers: bearer(res.json().accessToken) })).statusCode, 200);
      assert.equal(claims(admin.accessToken).tid, admin.tenantId);
    });

    it('keeps that tenant active through /auth/me and a refresh, until the role above is gone', async () => {
      const { root, grandchild } = await company();
      const admin = await signUp(t);
      await addMember(root, admin.userId, ['admin']);
      const switched = await switchTo(admin, grandchild);
      assert.equal(switched.statusCode, 200, switched.body);
      const me = (await t.app.inject({ url: '/api/v1/auth/me', headers: bearer(switched.json().accessToken) })).json();
      assert.equal(me.activeTenantId, grandchild);
      const refreshed = await t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refreshToken: switched.json().refreshToken } });
      assert.equal(refreshed.statusCode, 200, refreshed.body);
      assert.equal(refreshed.json().activeTenantId, grandchild);
      assert.equal(claims(refreshed.json().accessToken).tid, grandchild);
      // Demoted to a tenant-scoped role above, the next refresh names no tenant.
      await withTenant(t.database.db, root, (trx) =>
        trx.updateTable('membership_roles').set({ role_key: 'member' }).where('tenant_id', '=', root).where('user_id', '=', admin.userId).execute(),
      );
      const after = await t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refreshToken: refreshed.json().refreshToken } });
      assert.equal(after.statusCode, 200, after.body);
      assert.equal(after.json().activeTenantId, null);
      assert.equal(claims(after.json().accessToken).tid, null);
    });

    it('refuses with 404 someone whose role above is tenant-scoped, or who has nothing above', async () => {
      const { root, child, grandchild } = await company();
      const member = await signUp(t);
      await addMember(root, member.userId, ['member']);
      const stranger = await signUp(t);
      const sibling = await signUp(t);
      await addMember(child, sibling.userId, ['admin']);
      for (const [who, tenantId] of [
        [member, child],
        [member, grandchild],
        [stranger, child],
        [sibling, root],
      ] as const) {
        assertProblem(await switchTo(who, tenantId), 404, 'tenant_not_found');
      }
      // Refused switches leave the session where it was.
      const me = (await t.app.inject({ url: '/api/v1/auth/me', headers: bearer(member.accessToken) })).json();
      assert.equal(me.activeTenantId, member.tenantId);
      // The admin of the child reaches the grandchild below it (not the root above).
      assert.equal((await switchTo(sibling, grandchild)).statusCode, 200);
    });
  });
}
