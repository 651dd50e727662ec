import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sql } from 'kysely';
import type { FaultPoint } from '../../src/platform/db/faults.ts';
import { createKey } from '../helpers/api-keys.ts';
import { testEngines } from '../helpers/database.ts';
import { enrol, type SignedUp, signUp, uniqueEmail } from '../helpers/users.ts';
import { brokenInvariants } from './oracle.ts';
import { hostileWorld, type World } from './world.ts';

/**
 * Issue 14, races (PostgreSQL only: PGlite runs one statement at a time, so nothing races there). Requests are released
 * together inside their transactions by a barrier at a fault point, so each sees the database as it was before the
 * others committed — the moment a check-then-write would go wrong. Whatever the order, the invariants hold after.
 */
for (const engine of testEngines().filter((e) => e === 'postgres')) {
  describe(`hostile: races [${engine}]`, () => {
    let w: World;
    hostileWorld(engine, (built) => {
      w = built;
    });

    /** A tenant with two owners, each signed in there. */
    const twoOwners = async (): Promise<{ tenantId: string; first: SignedUp; second: SignedUp }> => {
      const first = await signUp(w.t);
      const second = await enrol(w.t, first.tenantId, ['owner']);
      return { tenantId: first.tenantId, first, second };
    };
    const ownersOf = async (tenantId: string) =>
      (await w.call('GET', `/api/v1/tenants/${tenantId}/members`, w.operator.accessToken)).json().members.filter((m: { roles: string[] }) => m.roles.includes('owner')).length;
    /** Runs `requests` together, held at `point` until all are inside their transactions. */
    const together = async <T>(point: FaultPoint, requests: Array<() => Promise<T>>): Promise<T[]> => {
      w.faults.barrier(point, requests.length, 500);
      try {
        return await Promise.all(requests.map((r) => r()));
      } finally {
        w.faults.clear();
      }
    };
    const statuses = (answers: Array<{ statusCode: number }>) => answers.map((a) => a.statusCode).sort();

    it('keeps an owner when the last two owners demote each other at once (one 200, one 409 last_owner)', async () => {
      const { tenantId, first, second } = await twoOwners();
      const answers = await together('members.roles-written', [
        () => w.call('PATCH', `/api/v1/tenants/${tenantId}/members/${second.userId}`, first.accessToken, { roles: ['member'] }),
        () => w.call('PATCH', `/api/v1/tenants/${tenantId}/members/${first.userId}`, second.accessToken, { roles: ['member'] }),
      ]);
      assert.deepEqual(statuses(answers), [200, 409], answers.map((a) => a.body).join('\n'));
      assert.equal(await ownersOf(tenantId), 1);
    });

    it('keeps an owner when the last two owners remove each other, or one leaves while removing the other', async () => {
      for (const pair of ['remove each other', 'leave and remove'] as const) {
        const { tenantId, first, second } = await twoOwners();
        const answers = await together('commit', [
          () => w.call('DELETE', `/api/v1/tenants/${tenantId}/members/${second.userId}`, first.accessToken),
          () => w.call('DELETE', `/api/v1/tenants/${tenantId}/members/${pair === 'remove each other' ? first.userId : second.userId}`, second.accessToken),
        ]);
        assert.ok(
          answers.some((a) => a.statusCode === 204),
          `${pair}: ${answers.map((a) => a.body).join('\n')}`,
        );
        assert.equal(await ownersOf(tenantId), 1, `${pair}: ${answers.map((a) => `${a.statusCode} ${a.body}`).join('\n')}`);
      }
    });

    it('keeps an owner when one owner demotes the other while the other hands the tenant away', async () => {
      const { tenantId, first, second } = await twoOwners();
      const member = await enrol(w.t, tenantId, ['member']);
      const slug = (await w.call('GET', `/api/v1/tenants/${tenantId}`, first.accessToken)).json().slug;
      await together('commit', [
        () => w.call('PATCH', `/api/v1/tenants/${tenantId}/members/${second.userId}`, first.accessToken, { roles: ['member'] }),
        () => w.call('POST', `/api/v1/tenants/${tenantId}/transfer-ownership`, second.accessToken, { userId: member.userId, confirm: slug }),
      ]);
      assert.ok((await ownersOf(tenantId)) >= 1);
      assert.deepEqual(await brokenInvariants(w.t.database, w.t.app.services.preset), []);
    });

    it('hands a tenant to exactly one person when its owner transfers it to two at once', async () => {
      const owner = await signUp(w.t);
      const x = await enrol(w.t, owner.tenantId, ['member']);
      const y = await enrol(w.t, owner.tenantId, ['member']);
      const slug = (await w.call('GET', `/api/v1/tenants/${owner.tenantId}`, owner.accessToken)).json().slug;
      const answers = await together(
        'commit',
        [x, y].map((to) => () => w.call('POST', `/api/v1/tenants/${owner.tenantId}/transfer-ownership`, owner.accessToken, { userId: to.userId, confirm: slug })),
      );
      assert.equal(answers.filter((a) => a.statusCode === 200).length, 1, answers.map((a) => `${a.statusCode} ${a.body}`).join('\n'));
      assert.equal(await ownersOf(owner.tenantId), 1);
    });

    it("never lets parallel invitations and adds overshoot the plan's member limit", async () => {
      const owner = await signUp(w.t);
      await w.t.database.withOwner((db) => sql`UPDATE tenants SET plan = 'free' WHERE id = ${owner.tenantId}`.execute(db));
      const key = await createKey(w.t, owner.accessToken, owner.tenantId, ['members.manage', 'members.invite', 'members.read']);
      const people = await Promise.all(Array.from({ length: 3 }, () => signUp(w.t)));
      const answers = await Promise.all(
        [
          ...Array.from(
            { length: 8 },
            () => () => w.call('POST', `/api/v1/tenants/${owner.tenantId}/invitations`, owner.accessToken, { email: uniqueEmail('seat'), roles: ['member'] }),
          ),
          ...people.map((p) => () => w.call('POST', `/api/v1/tenants/${owner.tenantId}/members`, key.secret, { userId: p.userId, roles: ['member'] })),
        ].map((r) => r()),
      );
      const seats = await w.t.database.withOwner(async (db) =>
        Number(
          (
            await sql<{ n: string }>`SELECT (SELECT count(*) FROM memberships WHERE tenant_id = ${owner.tenantId} AND kind = 'direct')
              + (SELECT count(*) FROM invitations WHERE tenant_id = ${owner.tenantId} AND status = 'pending') AS n`.execute(db)
          ).rows[0]?.n,
        ),
      );
      assert.equal(seats, 5, answers.map((a) => a.statusCode).join(' '));
      assert.ok(answers.filter((a) => a.statusCode === 409).every((a) => a.json().code === 'plan_limit_reached'));
    });

    it('creates one tenant when eight requests take the same slug at once; the others get 409 slug_taken', async () => {
      const slug = `contested-${process.pid}`;
      const answers = await together(
        'tenant.created',
        Array.from({ length: 8 }, (_, i) => () => w.call('POST', '/api/v1/tenants', w.a.owner.accessToken, { name: `Contender ${i}`, slug, parentId: w.a.id })),
      );
      assert.deepEqual(statuses(answers), [201, 409, 409, 409, 409, 409, 409, 409]);
      assert.ok(answers.filter((a) => a.statusCode === 409).every((a) => a.json().code === 'slug_taken'));
    });

    it('refuses every request made with an API key after its revocation answered, while requests raced the revocation', async () => {
      const key = await createKey(w.t, w.a.owner.accessToken, w.a.id, ['members.read', 'tenant.read']);
      const inFlight = Array.from({ length: 10 }, () => w.call('GET', `/api/v1/tenants/${w.a.id}/members`, key.secret));
      const revoked = await w.call('DELETE', `/api/v1/tenants/${w.a.id}/api-keys/${key.id}`, w.a.owner.accessToken);
      assert.equal(revoked.statusCode, 204, revoked.body);
      const afterwards = await Promise.all(Array.from({ length: 10 }, () => w.call('GET', `/api/v1/tenants/${w.a.id}/members`, key.secret)));
      assert.deepEqual(
        afterwards.map((a) => a.statusCode),
        Array(10).fill(401),
      );
      for (const answer of await Promise.all(inFlight)) assert.ok([200, 401].includes(answer.statusCode), answer.body);
    });

    it("refuses a removed member's requests from the moment the removal answered, while their requests raced it", async () => {
      const member = await enrol(w.t, w.a.id, ['admin']);
      const inFlight = Array.from({ length: 10 }, () =>
        w.call('POST', `/api/v1/tenants/${w.a.id}/invitations`, member.accessToken, { email: uniqueEmail('racing'), roles: ['member'] }),
      );
      const removed = await w.call('DELETE', `/api/v1/tenants/${w.a.id}/members/${member.userId}`, w.a.owner.accessToken);
      assert.equal(removed.statusCode, 204, removed.body);
      const late = await w.call('POST', `/api/v1/tenants/${w.a.id}/invitations`, member.accessToken, { email: uniqueEmail('late'), roles: ['member'] });
      assert.ok([403, 404].includes(late.statusCode), late.body);
      for (const answer of await Promise.all(inFlight)) assert.ok([201, 403, 404].includes(answer.statusCode), answer.body);
    });
  });
}
