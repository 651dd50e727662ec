import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql, type Transaction } from 'kysely';
import { GENESIS_HASH } from '../../src/audit/audit.repository.ts';
import { readTenant, withTenant } from '../../src/platform/db/context.ts';
import { insertMembership } from '../../src/members/memberships.repository.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { testEngines } from '../helpers/database.ts';
import { raceBehindLock } from '../helpers/locks.ts';
import { seedTenant } from '../helpers/tenants.ts';
import { bearer, signUp, type SignedUp } from '../helpers/users.ts';

const ROUNDS = 10;

for (const engine of testEngines()) {
  // PGlite runs one query at a time, so two requests never overlap there and a race would prove nothing.
  if (engine === 'postgres') {
    describe(`the last owner under concurrent requests [${engine}]`, () => {
      let t: TestApp;
      let a: SignedUp;
      let b: SignedUp;
      before(async () => {
        t = await createTestApp(engine, { env: { TENANTRY_AUTH_RATE_LIMIT: '1000' } });
        a = await signUp(t);
        b = await signUp(t);
      });
      after(() => t.close());

      /** A fresh tenant owned by exactly `a` and `b`. */
      async function twoOwnerTenant(round: number): Promise<string> {
        const { tenantId } = await seedTenant(t.database, { name: `Race ${round}`, ownerId: a.userId });
        await withTenant(t.database.db, tenantId, (trx) => insertMembership(trx, { tenantId, userId: b.userId, kind: 'direct', roles: ['owner'], now: t.clock.now() }));
        return tenantId;
      }

      /**
       * Starts `race` while a lock on the tenant's audit chain head holds every writer back, and lets go
       * once two transactions wait on it. Each has then passed every check the application makes and
       * done its write (the audit event comes last), so the two truly overlap and only the database's
       * commit-time check can tell them apart; otherwise one request could finish before the other is
       * authorized and be refused for lack of permission instead.
       */
      function overlapping<T>(tenantId: string, race: () => Promise<T>): Promise<T> {
        const hold = async (trx: Transaction<unknown>) => {
          await sql`INSERT INTO audit_heads (tenant_id, seq, hash) VALUES (${tenantId}, 0, ${GENESIS_HASH}) ON CONFLICT DO NOTHING`.execute(trx);
          await sql`SELECT 1 FROM audit_heads WHERE tenant_id = ${tenantId} FOR UPDATE`.execute(trx);
        };
        return raceBehindLock(t.database, hold, 2, race);
      }

      async function owners(tenantId: string): Promise<string[]> {
        return readTenant(t.database.db, tenantId, async (trx) => {
          const rows = await trx
            .selectFrom('memberships as m')
            .innerJoin('membership_roles as r', (j) => j.onRef('r.tenant_id', '=', 'm.tenant_id').onRef('r.user_id', '=', 'm.user_id'))
            .select('m.user_id')
            .where('m.tenant_id', '=', tenantId)
            .where('m.kind', '=', 'direct')
            .where('r.role_key', '=', 'owner')
            .execute();
          return rows.map((r) => r.user_id);
        });
      }

      const auditCount = (tenantId: string, action: string) =>
        readTenant(
          t.database.db,
          tenantId,
          async (trx) => (await trx.selectFrom('audit_events').select('id').where('tenant_id', '=', tenantId).where('action', '=', action).execute()).length,
        );

      it('lets exactly one of two owners demoting each other at once succeed; the other gets 409 last_owner', async () => {
        for (let round = 0; round < ROUNDS; round++) {
          const tenantId = await twoOwnerTenant(round);
          const demote = (caller: SignedUp, target: SignedUp) =>
            t.app.inject({ method: 'PATCH', url: `/api/v1/tenants/${tenantId}/members/${target.userId}`, headers: bearer(caller.accessToken), payload: { roles: ['admin'] } });
          const [byA, byB] = await overlapping(tenantId, () => Promise.all([demote(a, b), demote(b, a)]));
          assert.deepEqual([byA.statusCode, byB.statusCode].sort(), [200, 409], `round ${round}: ${byA.body} / ${byB.body}`);
          const loser = byA.statusCode === 409 ? byA : byB;
          assert.equal(loser.json().code, 'last_owner');
          const winner = byA.statusCode === 200 ? a : b;
          assert.deepEqual(await owners(tenantId), [winner.userId], `round ${round}`);
          assert.equal(await auditCount(tenantId, 'member.roles_changed'), 1);
        }
      });

      it('lets exactly one of two owners leaving at once go; the other gets 409 last_owner', async () => {
        for (let round = 0; round < ROUNDS; round++) {
          const tenantId = await twoOwnerTenant(round);
          const leave = (caller: SignedUp) => t.app.inject({ method: 'DELETE', url: `/api/v1/tenants/${tenantId}/members/${caller.userId}`, headers: bearer(caller.accessToken) });
          const [byA, byB] = await overlapping(tenantId, () => Promise.all([leave(a), leave(b)]));
          assert.deepEqual([byA.statusCode, byB.statusCode].sort(), [204, 409], `round ${round}: ${byA.body} / ${byB.body}`);
          const loser = byA.statusCode === 409 ? byA : byB;
          assert.equal(loser.json().code, 'last_owner');
          const stayed = byA.statusCode === 409 ? a : b;
          assert.deepEqual(await owners(tenantId), [stayed.userId], `round ${round}`);
          assert.equal(await auditCount(tenantId, 'member.left'), 1);
        }
      });
    });
  }
}
