import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { testEngines } from '../helpers/database.ts';
import { assertProblem, enrol, join } from '../helpers/users.ts';
import { hostileWorld, type World } from './world.ts';

/**
 * Issue 14, escalation through structure (ASVS 5.0 V8.2, OWASP API5:2023): the tree is authority — what is held above
 * reaches below, never the other way — so moving a tenant needs rights on both parents, may not make a cycle or go
 * past the depth limit, and nobody gains anything by where they stand in it.
 */
for (const engine of testEngines()) {
  describe(`hostile: escalation through the tree [${engine}]`, () => {
    let w: World;
    hostileWorld(engine, (built) => {
      w = built;
    });

    const move = (tenantId: string, parentId: string | null, credential: string) => w.call('PATCH', `/api/v1/tenants/${tenantId}`, credential, { parentId });

    it('refuses moving a tenant under a parent one cannot create children in, or one cannot see, and moves nothing', async () => {
      // An owner down A's chain who is only a member of B.
      const local = await enrol(w.t, w.a.chain[2]!, ['owner']);
      await join(w.t, w.b.id, local.userId, ['member']);
      // Taking a tenant from its parent needs rights above it, whatever the new parent (so nothing is said about B's).
      assertProblem(await move(w.a.chain[2]!, w.b.id, local.accessToken), 403, 'forbidden');
      assertProblem(await move(w.a.chain[2]!, w.b.chain[0]!, local.accessToken), 403, 'forbidden');
      // A's owner has the rights above, but not in B: B's tenants stay out of sight.
      assertProblem(await move(w.a.chain[2]!, w.b.chain[0]!, w.a.owner.accessToken), 404, 'tenant_not_found');
      // With rights in B as a plain member, not enough to create children there.
      const both = await enrol(w.t, w.a.id, ['owner']);
      await join(w.t, w.b.id, both.userId, ['member']);
      assertProblem(await move(w.a.chain[2]!, w.b.id, both.accessToken), 403, 'forbidden');
      // B's owner cannot pull A's tenant under B: they cannot see it.
      assertProblem(await move(w.a.chain[2]!, w.b.id, w.b.owner.accessToken), 404, 'tenant_not_found');
      // Nor push B's own tenant under A's.
      assertProblem(await move(w.b.chain[0]!, w.a.id, w.b.owner.accessToken), 404, 'tenant_not_found');
      const tree = (await w.call('GET', `/api/v1/tenants/${w.a.id}/tree`, w.a.owner.accessToken)).json().tenants.map((n: { id: string }) => n.id);
      assert.deepEqual(tree, [w.a.id, ...w.a.chain]);
    });

    it('refuses moving a tenant under itself or its own descendant (409 tree_cycle)', async () => {
      assertProblem(await move(w.a.chain[1]!, w.a.chain[1]!, w.a.owner.accessToken), 409, 'tree_cycle');
      assertProblem(await move(w.a.chain[1]!, w.a.chain[4]!, w.a.owner.accessToken), 409, 'tree_cycle');
      assertProblem(await move(w.a.id, w.a.chain[6]!, w.a.owner.accessToken), 409, 'tree_cycle');
    });

    it('refuses a child or a move past the depth limit (409 tree_too_deep)', async () => {
      assertProblem(
        await w.call('POST', '/api/v1/tenants', w.a.owner.accessToken, { name: 'Too deep', slug: `too-deep-${engine}-${process.pid}`, parentId: w.a.chain[6] }),
        409,
        'tree_too_deep',
      );
      // B's chain from B.chain[0] down is seven tenants: under A's first level it would reach depth 9. Moved by
      // someone who owns both A and B, so the depth is the only thing in the way.
      const owner = await enrol(w.t, w.a.id, ['owner']);
      await join(w.t, w.b.id, owner.userId, ['owner']);
      assertProblem(await move(w.b.chain[0]!, w.a.chain[0]!, owner.accessToken), 409, 'tree_too_deep');
      // One level up it fits exactly (depth 8): the limit is where it says.
      const fits = await move(w.b.chain[0]!, w.a.id, owner.accessToken);
      assert.equal(fits.statusCode, 200, fits.body);
    });

    it('lets authority flow down only: a role held low in the chain gives nothing above it, a role held high reaches the bottom', async () => {
      const low = await enrol(w.t, w.a.chain[3]!, ['admin']);
      for (const above of [w.a.chain[2]!, w.a.chain[0]!, w.a.id]) {
        assertProblem(await w.call('GET', `/api/v1/tenants/${above}`, low.accessToken), 404, 'tenant_not_found');
        assert.equal((await w.call('POST', '/api/v1/check', low.accessToken, { tenantId: above, permission: 'tenant.read' })).json().allowed, false);
      }
      assertProblem(await w.call('PATCH', `/api/v1/tenants/${w.a.chain[2]}`, low.accessToken, { name: 'Taken from below' }), 404, 'tenant_not_found');
      // Moving one's own tenant up to the root is moving it out from under its owners: not without rights above.
      assertProblem(await move(w.a.chain[3]!, null, low.accessToken), 403, 'forbidden');
      // The owner at the top reaches the bottom.
      assert.equal((await w.call('POST', '/api/v1/check', w.a.owner.accessToken, { tenantId: w.a.chain[6], permission: 'members.manage' })).json().allowed, true);
    });

    it("keeps a custom role inside the tree that defines it: A's role cannot be granted or invited in B, and works below A", async () => {
      const role = await w.call('POST', `/api/v1/tenants/${w.a.id}/roles`, w.a.owner.accessToken, {
        key: 'a_only',
        name: 'A only',
        scope: 'tenant_and_descendants',
        permissions: ['tenant.read', 'members.manage'],
      });
      assert.equal(role.statusCode, 201, role.body);
      assert.equal((await w.call('PATCH', `/api/v1/tenants/${w.b.id}/members/${w.b.member.userId}`, w.b.owner.accessToken, { roles: ['a_only'] })).statusCode, 422);
      assert.equal(
        (await w.call('POST', `/api/v1/tenants/${w.b.id}/invitations`, w.b.owner.accessToken, { email: `a-only.${process.pid}@example.test`, roles: ['a_only'] })).statusCode,
        422,
      );
      // Below A it is usable: it flows down, like every role.
      const below = await w.call('PATCH', `/api/v1/tenants/${w.a.chain[0]}/members/${w.a.owner.userId}`, w.a.owner.accessToken, { roles: ['owner', 'a_only'] });
      assert.equal(below.statusCode, 200, below.body);
    });
  });
}
