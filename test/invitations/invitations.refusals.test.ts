import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { readTenant, withTenant } from '../../src/platform/db/context.ts';
import { insertMembership } from '../../src/members/memberships.repository.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { testEngines } from '../helpers/database.ts';
import { startTestSmtp, type TestSmtp } from '../helpers/smtp.ts';
import { assertProblem, bearer, join, type SignedUp, signUp, uniqueEmail } from '../helpers/users.ts';

const HOUR = 60 * 60_000;

/** People, invitations and what the database holds, through one test app and one SMTP server. */
function fixtures(get: () => { t: TestApp; smtp: TestSmtp }) {
  const f = {
    invite(accessToken: string, tenantId: string, email: string, roles: string[] = ['member']) {
      return get().t.app.inject({ method: 'POST', url: `/api/v1/tenants/${tenantId}/invitations`, headers: bearer(accessToken), payload: { email, roles } });
    },
    preview(token: string) {
      return get().t.app.inject({ url: `/api/v1/invitations/${token}` });
    },
    accept(token: string, accessToken: string) {
      return get().t.app.inject({ method: 'POST', url: `/api/v1/invitations/${token}/accept`, headers: bearer(accessToken) });
    },
    /** Invites `email` and returns the invitation's id and the token from its mail. */
    async invited(inviter: SignedUp, email: string, roles: string[] = ['member']): Promise<{ id: string; token: string }> {
      const { t, smtp } = get();
      const res = await f.invite(inviter.accessToken, inviter.tenantId, email, roles);
      assert.equal(res.statusCode, 201, res.body);
      await t.app.services.outbox.runOnce();
      const mail = smtp.messages.filter((m) => m.to.includes(email) && m.text.includes('/team-invite/')).at(-1);
      const token = /\/team-invite\/(tnr_inv_[A-Za-z0-9_-]{43})/.exec(mail?.text ?? '')?.[1];
      assert.ok(token, 'invitation mail with a link');
      return { id: res.json().id, token };
    },
    async verifiedUser(): Promise<SignedUp> {
      const { t } = get();
      const user = await signUp(t);
      await t.database.db.updateTable('users').set({ email_verified_at: t.clock.now() }).where('id', '=', user.userId).execute();
      return user;
    },
    async signIn(user: SignedUp): Promise<string> {
      const res = await get().t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: user.email, password: user.password, tenantId: user.tenantId } });
      assert.equal(res.statusCode, 200, res.body);
      return res.json().accessToken as string;
    },
    /** The tenant's invitations and memberships as text: compare before and after. */
    snapshot(tenantId: string): Promise<string[]> {
      return readTenant(get().t.database.db, tenantId, async (trx) => {
        const invitations = await trx.selectFrom('invitations').selectAll().where('tenant_id', '=', tenantId).execute();
        const members = await trx.selectFrom('memberships').select(['user_id', 'kind']).where('tenant_id', '=', tenantId).execute();
        return [...invitations.map((i) => JSON.stringify(i)), ...members.map((m) => `${m.user_id}|${m.kind}`)].sort();
      });
    },
  };
  return f;
}

for (const engine of testEngines()) {
  describe(`invitations: refusals [${engine}]`, () => {
    let t: TestApp;
    let smtp: TestSmtp;
    before(async () => {
      smtp = await startTestSmtp();
      t = await createTestApp(engine, { env: { TENANTRY_MAIL_URL: smtp.url, TENANTRY_AUTH_RATE_LIMIT: '1000' } });
    });
    after(async () => {
      await t.close();
      await smtp.close();
    });
    const { invite, preview, accept, invited, verifiedUser, signIn, snapshot } = fixtures(() => ({ t, smtp }));

    it('refuses acceptance by a signed-in user with another address (403) and changes nothing', async () => {
      const owner = await signUp(t);
      const { token } = await invited(owner, uniqueEmail('intended'));
      const stranger = await verifiedUser();
      const before = await snapshot(owner.tenantId);
      assertProblem(await accept(token, stranger.accessToken), 403, 'invitation_email_mismatch');
      assertProblem(await t.app.inject({ method: 'POST', url: `/api/v1/invitations/${token}/accept` }), 401, 'unauthenticated');
      assert.deepEqual(await snapshot(owner.tenantId), before);
      assert.equal((await preview(token)).statusCode, 200, 'still usable by the right person');
    });

    it('refuses acceptance before the invited address is verified (403) and changes nothing', async () => {
      const owner = await signUp(t);
      const invitee = await signUp(t);
      const { token } = await invited(owner, invitee.email);
      const before = await snapshot(owner.tenantId);
      assertProblem(await accept(token, invitee.accessToken), 403, 'email_not_verified');
      assert.deepEqual(await snapshot(owner.tenantId), before);
    });

    it('is single use: after acceptance the link answers 410 invitation_used', async () => {
      const owner = await signUp(t);
      const invitee = await verifiedUser();
      const { token } = await invited(owner, invitee.email);
      assert.equal((await accept(token, invitee.accessToken)).statusCode, 200);
      assertProblem(await preview(token), 410, 'invitation_used');
      assertProblem(await accept(token, invitee.accessToken), 410, 'invitation_used');
      // Leaving and coming back with the same link does not work either.
      const left = await t.app.inject({ method: 'DELETE', url: `/api/v1/tenants/${owner.tenantId}/members/${invitee.userId}`, headers: bearer(await signIn(invitee)) });
      assert.equal(left.statusCode, 204, left.body);
      assertProblem(await accept(token, invitee.accessToken), 410, 'invitation_used');
      const body = (await preview(token)).json();
      assert.deepEqual(Object.keys(body).sort(), ['code', 'instance', 'requestId', 'status', 'title', 'type'], 'reveals nothing about the tenant');
    });

    it('expires after 48 hours by the injected clock: 410 invitation_expired, listed as expired', async () => {
      const owner = await signUp(t);
      const invitee = await verifiedUser();
      const { id, token } = await invited(owner, invitee.email);
      t.clock.advance(48 * HOUR - 1);
      assert.equal((await preview(token)).statusCode, 200);
      t.clock.advance(1);
      assertProblem(await preview(token), 410, 'invitation_expired');
      const before = await snapshot(owner.tenantId);
      assertProblem(await accept(token, await signIn(invitee)), 410, 'invitation_expired');
      assert.deepEqual(await snapshot(owner.tenantId), before);
      const listed = (await t.app.inject({ url: `/api/v1/tenants/${owner.tenantId}/invitations`, headers: bearer(await signIn(owner)) })).json();
      assert.deepEqual(
        listed.invitations.map((i: { id: string; status: string }) => [i.id, i.status]),
        [[id, 'expired']],
      );
    });

    it('refuses a revoked invitation: 410 invitation_revoked', async () => {
      const owner = await signUp(t);
      const invitee = await verifiedUser();
      const { id, token } = await invited(owner, invitee.email);
      const revoked = await t.app.inject({ method: 'DELETE', url: `/api/v1/tenants/${owner.tenantId}/invitations/${id}`, headers: bearer(owner.accessToken) });
      assert.equal(revoked.statusCode, 204, revoked.body);
      assertProblem(await preview(token), 410, 'invitation_revoked');
      const before = await snapshot(owner.tenantId);
      assertProblem(await accept(token, invitee.accessToken), 410, 'invitation_revoked');
      assert.deepEqual(await snapshot(owner.tenantId), before);
      // An accepted invitation cannot be revoked.
      const other = await verifiedUser();
      const second = await invited(owner, other.email);
      assert.equal((await accept(second.token, other.accessToken)).statusCode, 200);
      assertProblem(
        await t.app.inject({ method: 'DELETE', url: `/api/v1/tenants/${owner.tenantId}/invitations/${second.id}`, headers: bearer(owner.accessToken) }),
        409,
        'invitation_not_pending',
      );
    });

    it('lets exactly one of two concurrent acceptances win', async () => {
      const owner = await signUp(t);
      const invitee = await verifiedUser();
      const { token } = await invited(owner, invitee.email);
      const results = await Promise.all([accept(token, invitee.accessToken), accept(token, invitee.accessToken), accept(token, invitee.accessToken)]);
      assert.deepEqual(results.map((r) => r.statusCode).sort(), [200, 410, 410], results.map((r) => r.body).join('\n'));
      for (const r of results.filter((x) => x.statusCode === 410)) assert.equal(r.json().code, 'invitation_used');
      const joined = await readTenant(t.database.db, owner.tenantId, (trx) =>
        trx.selectFrom('audit_events').select('action').where('tenant_id', '=', owner.tenantId).where('action', '=', 'member.joined').execute(),
      );
      assert.equal(joined.length, 1);
    });

    it('refuses acceptance when an invited custom role was deleted meanwhile (409), leaving the invitation pending', async () => {
      const owner = await signUp(t);
      const invitee = await verifiedUser();
      const now = t.clock.now();
      await withTenant(t.database.db, owner.tenantId, (trx) =>
        trx
          .insertInto('roles')
          .values({
            tenant_id: owner.tenantId,
            key: 'auditor',
            name: 'Auditor',
            description: null,
            scope: 'tenant',
            permissions: ['tenant.read'],
            created_at: now,
            updated_at: now,
          })
          .execute(),
      );
      const { token } = await invited(owner, invitee.email, ['auditor']);
      await withTenant(t.database.db, owner.tenantId, (trx) => trx.deleteFrom('roles').where('tenant_id', '=', owner.tenantId).where('key', '=', 'auditor').execute());
      assertProblem(await accept(token, invitee.accessToken), 409, 'invitation_role_unavailable');
      assert.equal((await preview(token)).statusCode, 200);
    });

    it("hides one tenant's invitations from a member of another: list, revoke and invite answer 404 and nothing changes", async () => {
      const victim = await signUp(t);
      const { id, token } = await invited(victim, uniqueEmail('victim-invitee'));
      const attacker = await signUp(t);
      const attackerAdmin = await signUp(t);
      await withTenant(t.database.db, attacker.tenantId, (trx) =>
        insertMembership(trx, { tenantId: attacker.tenantId, userId: attackerAdmin.userId, kind: 'direct', roles: ['admin'], now: t.clock.now() }),
      );
      const before = await snapshot(victim.tenantId);
      for (const caller of [attacker, attackerAdmin]) {
        const headers = bearer(caller.accessToken);
        assertProblem(await t.app.inject({ url: `/api/v1/tenants/${victim.tenantId}/invitations`, headers }), 404, 'tenant_not_found');
        assertProblem(await t.app.inject({ method: 'DELETE', url: `/api/v1/tenants/${victim.tenantId}/invitations/${id}`, headers }), 404, 'tenant_not_found');
        assertProblem(await invite(caller.accessToken, victim.tenantId, uniqueEmail()), 404, 'tenant_not_found');
        // Through their own tenant, the victim's invitation id names nothing.
        assertProblem(await t.app.inject({ method: 'DELETE', url: `/api/v1/tenants/${attacker.tenantId}/invitations/${id}`, headers }), 404, 'invitation_not_found');
        const own = (await t.app.inject({ url: `/api/v1/tenants/${attacker.tenantId}/invitations`, headers })).json();
        assert.ok(!own.invitations.some((i: { id: string }) => i.id === id));
      }
      assert.deepEqual(await snapshot(victim.tenantId), before);
      assert.equal((await preview(token)).statusCode, 200, 'still pending');
    });

    it('refuses a member without members.invite: 403 for listing, inviting and revoking', async () => {
      const owner = await signUp(t);
      const { id } = await invited(owner, uniqueEmail());
      const member = await signUp(t);
      await join(t, owner.tenantId, member.userId, ['member']);
      const before = await snapshot(owner.tenantId);
      const headers = bearer(member.accessToken);
      assertProblem(await t.app.inject({ url: `/api/v1/tenants/${owner.tenantId}/invitations`, headers }), 403, 'forbidden');
      assertProblem(await t.app.inject({ method: 'DELETE', url: `/api/v1/tenants/${owner.tenantId}/invitations/${id}`, headers }), 403, 'forbidden');
      assertProblem(await invite(member.accessToken, owner.tenantId, uniqueEmail()), 403, 'forbidden');
      assert.deepEqual(await snapshot(owner.tenantId), before);
    });
  });

  describe(`invitations: configurable lifetime [${engine}]`, () => {
    let t: TestApp;
    let smtp: TestSmtp;
    before(async () => {
      smtp = await startTestSmtp();
      t = await createTestApp(engine, { env: { TENANTRY_MAIL_URL: smtp.url, TENANTRY_AUTH_RATE_LIMIT: '1000', TENANTRY_INVITATION_TTL_HOURS: '2' } });
    });
    after(async () => {
      await t.close();
      await smtp.close();
    });
    const { invited, preview } = fixtures(() => ({ t, smtp }));

    it('expires after TENANTRY_INVITATION_TTL_HOURS', async () => {
      const owner = await signUp(t);
      const { token } = await invited(owner, uniqueEmail());
      assert.equal((await preview(token)).json().expiresAt, new Date(t.clock.now().getTime() + 2 * HOUR).toISOString());
      t.clock.advance(2 * HOUR);
      assertProblem(await preview(token), 410, 'invitation_expired');
    });
  });
}
