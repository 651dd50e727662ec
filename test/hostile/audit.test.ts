import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sql } from 'kysely';
import { readSystem, withTenant } from '../../src/platform/db/context.ts';
import { createKey } from '../helpers/api-keys.ts';
import { testEngines } from '../helpers/database.ts';
import { enrol, uniqueEmail } from '../helpers/users.ts';
import { leakedSecrets } from './oracle.ts';
import { hostileWorld, type World } from './world.ts';

/**
 * Issue 14, audit (ASVS 5.0 V16, OWASP API9/API10:2023): one event per security-relevant action, allowed or refused;
 * none for an action that rolled back; the application's own role cannot edit or erase the trail; and no secret
 * reaches a log line, an audit row or an error body.
 */
for (const engine of testEngines()) {
  describe(`hostile: the audit trail [${engine}]`, () => {
    let w: World;
    hostileWorld(engine, (built) => {
      w = built;
    });

    /** Events of `chain` after `seq`, oldest first, as the schema owner reads them. */
    const eventsAfter = (chain: string, seq: number) =>
      readSystem(w.t.database.db, (trx) => trx.selectFrom('audit_events').selectAll().where('tenant_id', '=', chain).where('seq', '>', String(seq)).orderBy('seq').execute());
    const headOf = async (chain: string) =>
      Number((await readSystem(w.t.database.db, (trx) => trx.selectFrom('audit_heads').select('seq').where('tenant_id', '=', chain).executeTakeFirst()))?.seq ?? 0);

    it('records exactly one event per change, naming the actor and the request, for every kind of change in a tenant', async () => {
      const email = uniqueEmail('audited');
      const member = await enrol(w.t, w.a.id, ['member']);
      const steps: Array<[string, () => ReturnType<World['call']>]> = [
        ['invitation.created', () => w.call('POST', `/api/v1/tenants/${w.a.id}/invitations`, w.a.owner.accessToken, { email, roles: ['member'] })],
        ['member.roles_changed', () => w.call('PATCH', `/api/v1/tenants/${w.a.id}/members/${member.userId}`, w.a.admin.accessToken, { roles: ['viewer'] })],
        [
          'role.created',
          () => w.call('POST', `/api/v1/tenants/${w.a.id}/roles`, w.a.owner.accessToken, { key: 'clerk', name: 'Clerk', scope: 'tenant', permissions: ['tenant.read'] }),
        ],
        ['role.updated', () => w.call('PATCH', `/api/v1/tenants/${w.a.id}/roles/clerk`, w.a.owner.accessToken, { permissions: ['tenant.read', 'members.read'] })],
        ['api_key.created', () => w.call('POST', `/api/v1/tenants/${w.a.id}/api-keys`, w.a.owner.accessToken, { name: 'audited', permissions: ['tenant.read'] })],
        ['tenant.updated', () => w.call('PATCH', `/api/v1/tenants/${w.a.id}`, w.a.writeKey.secret, { name: 'A, renamed' })],
        ['member.removed', () => w.call('DELETE', `/api/v1/tenants/${w.a.id}/members/${member.userId}`, w.a.owner.accessToken)],
        ['role.deleted', () => w.call('DELETE', `/api/v1/tenants/${w.a.id}/roles/clerk`, w.a.owner.accessToken)],
      ];
      for (const [action, step] of steps) {
        const head = await headOf(w.a.id);
        const res = await step();
        assert.ok(res.statusCode < 300, `${action}: ${res.statusCode} ${res.body}`);
        const events = await eventsAfter(w.a.id, head);
        assert.deepEqual(
          events.map((e) => e.action),
          [action],
          `${action} wrote ${events.map((e) => e.action).join(', ')}`,
        );
        assert.equal(events[0]?.request_id, res.headers['x-request-id']);
        assert.ok(
          events[0]?.actor_id === w.a.owner.userId || events[0]?.actor_id === w.a.admin.userId || events[0]?.actor_id === w.a.writeKey.id,
          `${action} by ${events[0]?.actor_id}`,
        );
      }
    });

    it('records one access.denied per refused request in the tenant, with the permission it lacked, and nothing for a 404 outside it', async () => {
      const head = await headOf(w.a.id);
      const refused = await w.call('POST', `/api/v1/tenants/${w.a.id}/invitations`, w.a.auditor.accessToken, { email: uniqueEmail('refused'), roles: ['member'] });
      assert.equal(refused.statusCode, 403);
      const keyRefused = await w.call('DELETE', `/api/v1/tenants/${w.a.id}/members/${w.a.member.userId}`, w.a.readKey.secret);
      assert.equal(keyRefused.statusCode, 403);
      const escalation = await w.call('PATCH', `/api/v1/tenants/${w.a.id}/members/${w.a.admin.userId}`, w.a.admin.accessToken, { roles: ['owner'] });
      assert.equal(escalation.statusCode, 403);
      const outsider = await w.call('POST', `/api/v1/tenants/${w.a.id}/invitations`, w.b.owner.accessToken, { email: uniqueEmail('outsider'), roles: ['member'] });
      assert.equal(outsider.statusCode, 404);
      const events = await eventsAfter(w.a.id, head);
      assert.deepEqual(
        events.map((e) => [e.action, e.actor_id, e.request_id, (e.after as { permission: string | null }).permission]),
        [
          ['access.denied', w.a.auditor.userId, refused.headers['x-request-id'], 'members.invite'],
          ['access.denied', w.a.readKey.id, keyRefused.headers['x-request-id'], 'members.manage'],
          ['access.denied', w.a.admin.userId, escalation.headers['x-request-id'], null],
        ],
      );
      assert.equal((await w.call('GET', `/api/v1/tenants/${w.a.id}/audit-events?action=access.denied`, w.a.owner.accessToken)).json().events.length >= 3, true);
    });

    it("records a wrong password in the account's own trail, and writes nothing for an address without an account", async () => {
      const head = await headOf(w.a.member.userId);
      assert.equal((await w.call('POST', '/api/v1/auth/login', undefined, { email: w.a.member.email, password: 'not the password' })).statusCode, 401);
      const events = await eventsAfter(w.a.member.userId, head);
      assert.deepEqual(
        events.map((e) => e.action),
        ['user.sign_in_failed'],
      );
      const chains = async () =>
        Number(
          (
            await readSystem(w.t.database.db, (trx) =>
              trx
                .selectFrom('audit_heads')
                .select((eb) => eb.fn.countAll<string>().as('n'))
                .executeTakeFirstOrThrow(),
            )
          ).n,
        );
      const before = await chains();
      assert.equal((await w.call('POST', '/api/v1/auth/login', undefined, { email: uniqueEmail('ghost'), password: 'not the password' })).statusCode, 401);
      assert.equal(await chains(), before);
    });

    it('writes no event for a change that rolled back, and the chain still verifies', async () => {
      const head = await headOf(w.a.id);
      w.faults.fail('members.roles-written');
      try {
        assert.equal((await w.call('PATCH', `/api/v1/tenants/${w.a.id}/members/${w.a.member.userId}`, w.a.owner.accessToken, { roles: ['viewer'] })).statusCode, 500);
      } finally {
        w.faults.clear();
      }
      assert.deepEqual(
        (await eventsAfter(w.a.id, head)).map((e) => e.action),
        [],
      );
      const verify = await w.call('GET', `/api/v1/tenants/${w.a.id}/audit-events/verify`, w.a.owner.accessToken);
      assert.equal(verify.json().valid, true, verify.body);
    });

    it("does not let the application's own database role edit or erase the trail, even in the tenant's context", async () => {
      const [first] = await eventsAfter(w.a.id, 0);
      assert.ok(first);
      for (const [what, statement] of [
        ['update', sql`UPDATE audit_events SET action = 'nothing.happened' WHERE tenant_id = ${w.a.id}`],
        ['delete', sql`DELETE FROM audit_events WHERE tenant_id = ${w.a.id}`],
        ['truncate', sql`TRUNCATE audit_events`],
        ['rewind the head', sql`UPDATE audit_heads SET seq = 0 WHERE tenant_id = ${w.a.id}`],
      ] as const) {
        await assert.rejects(
          withTenant(w.t.database.db, w.a.id, (trx) => statement.execute(trx)),
          /permission denied|must be owner|not allowed|append-only/i,
          what,
        );
      }
      const [still] = await eventsAfter(w.a.id, 0);
      assert.deepEqual(still, first);
    });

    it('never writes a secret to a log line, an audit row or an error body, including the secrets of keys and links made here', async () => {
      const key = await createKey(w.t, w.a.owner.accessToken, w.a.id, ['tenant.read']);
      // Put the secrets through the places they could leak from: failing requests carrying them.
      await w.call('GET', `/api/v1/invitations/${w.invitation.token}x`);
      await w.call('POST', '/api/v1/auth/refresh', undefined, { refreshToken: `${w.a.owner.refreshToken}x` });
      await w.call('POST', '/api/v1/auth/login', undefined, { email: w.a.owner.email, password: `${key.secret}` });
      await w.t.app.inject({
        method: 'POST',
        url: '/api/v1/oauth/token',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: `grant_type=client_credentials&client_id=${key.id}&client_secret=${key.secret}x`,
      });
      await w.t.app.inject({
        method: 'GET',
        url: `/api/v1/tenants/${w.b.id}/members`,
        headers: { authorization: `Bearer ${key.secret}`, cookie: `tenantry_refresh=${w.a.owner.refreshToken}` },
      });
      assert.deepEqual(await leakedSecrets(w, [key.secret]), []);
      assert.ok(w.t.logs.length > 50, 'the logs were captured');
    });
  });
}
