import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { readTenant, withTenant } from '../../src/platform/db/context.ts';
import { insertMembership } from '../../src/members/memberships.repository.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { testEngines } from '../helpers/database.ts';
import { type ReceivedMail, startTestSmtp, type TestSmtp } from '../helpers/smtp.ts';
import { seedTenant } from '../helpers/tenants.ts';
import { assertProblem, bearer, GOOD_PASSWORD, signUp, type SignedUp, uniqueEmail } from '../helpers/users.ts';

const HOUR = 60 * 60_000;

for (const engine of testEngines()) {
  describe(`invitations: invite, mail, preview, accept [${engine}]`, () => {
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

    const invite = (token: string, tenantId: string, payload: object) =>
      t.app.inject({ method: 'POST', url: `/api/v1/tenants/${tenantId}/invitations`, headers: bearer(token), payload });
    const preview = (token: string) => t.app.inject({ url: `/api/v1/invitations/${token}` });
    const accept = (token: string, accessToken: string) => t.app.inject({ method: 'POST', url: `/api/v1/invitations/${token}/accept`, headers: bearer(accessToken) });
    const list = (accessToken: string, tenantId: string, query = '') => t.app.inject({ url: `/api/v1/tenants/${tenantId}/invitations${query}`, headers: bearer(accessToken) });
    const me = async (accessToken: string) => (await t.app.inject({ url: '/api/v1/auth/me', headers: bearer(accessToken) })).json();

    /** Delivers queued mail and returns the newest invitation mail to `email` with its token. */
    async function invitationMail(email: string) {
      await t.app.services.outbox.runOnce();
      const mails = smtp.messages.filter((m) => m.to.includes(email) && m.text.includes('/team-invite/'));
      const mail = mails.at(-1);
      assert.ok(mail, `no invitation mail to ${email}`);
      const token = /http:\/\/tenantry\.test\/team-invite\/(tnr_inv_[A-Za-z0-9_-]{43})(?=\s)/.exec(mail.text)?.[1];
      assert.ok(token, mail.text);
      return { mail, token };
    }

    async function signIn(user: SignedUp): Promise<string> {
      const res = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: user.email, password: user.password, tenantId: user.tenantId } });
      assert.equal(res.statusCode, 200, res.body);
      return res.json().accessToken as string;
    }

    async function markVerified(user: SignedUp): Promise<void> {
      await t.database.db.updateTable('users').set({ email_verified_at: t.clock.now() }).where('id', '=', user.userId).execute();
    }

    async function join(tenantId: string, roles: string[]): Promise<SignedUp> {
      const user = await signUp(t);
      await withTenant(t.database.db, tenantId, (trx) => insertMembership(trx, { tenantId, userId: user.userId, kind: 'direct', roles, now: t.clock.now() }));
      return user;
    }

    const memberships = (tenantId: string) =>
      readTenant(t.database.db, tenantId, async (trx) => {
        const rows = await trx
          .selectFrom('memberships as m')
          .leftJoin('membership_roles as r', (j) => j.onRef('r.tenant_id', '=', 'm.tenant_id').onRef('r.user_id', '=', 'm.user_id'))
          .select(['m.user_id', 'm.kind', 'r.role_key'])
          .where('m.tenant_id', '=', tenantId)
          .execute();
        return rows.map((r) => `${r.user_id}|${r.kind}|${r.role_key ?? ''}`).sort();
      });
    const auditActions = (tenantId: string) =>
      readTenant(
        t.database.db,
        tenantId,
        async (trx) =>
          await trx.selectFrom('audit_events').select(['action', 'target_id', 'actor_id', 'before', 'after']).where('tenant_id', '=', tenantId).orderBy('seq').execute(),
      );

    it('invites an existing user by mail; the link previews without signing in; accepting lands them in the tenant', async () => {
      const owner = await signUp(t, { name: 'Olivia Owner' });
      const invitee = await signUp(t);
      await markVerified(invitee);
      const res = await invite(owner.accessToken, owner.tenantId, { email: `  ${invitee.email.toUpperCase()} `, roles: ['member', 'viewer'] });
      assert.equal(res.statusCode, 201, res.body);
      const created = res.json();
      assert.match(created.id, /^inv_[a-z2-7]{20}$/);
      assert.equal(created.email, invitee.email);
      assert.deepEqual(created.roles, ['member', 'viewer']);
      assert.equal(created.status, 'pending');
      assert.equal(created.expiresAt, new Date(t.clock.now().getTime() + 48 * HOUR).toISOString());
      assert.ok(!/tnr_inv_/.test(res.body), 'the token goes by mail only');

      const { mail, token } = await invitationMail(invitee.email);
      assert.match(mail.subject, /Olivia Owner invited you to join Olivia Owner's workspace/);
      assert.match(mail.text, /Olivia Owner's workspace/);
      assert.match(mail.text, /Member, Viewer/);
      assert.ok(mail.html.includes(`http://tenantry.test/team-invite/${token}`));

      const shown = await preview(token);
      assert.equal(shown.statusCode, 200, shown.body);
      assert.deepEqual(shown.json(), {
        tenantId: owner.tenantId,
        tenantName: "Olivia Owner's workspace",
        roles: ['member', 'viewer'],
        inviterName: 'Olivia Owner',
        email: invitee.email,
        expiresAt: created.expiresAt,
        status: 'pending',
      });

      const accepted = await accept(token, invitee.accessToken);
      assert.equal(accepted.statusCode, 200, accepted.body);
      const body = accepted.json();
      assert.equal(body.tenantId, owner.tenantId);
      assert.deepEqual(body.roles, ['member', 'viewer']);
      assert.equal(body.activeTenantId, owner.tenantId);
      assert.ok(body.accessToken && body.refreshToken);
      const after = await me(body.accessToken);
      assert.equal(after.activeTenantId, owner.tenantId);
      assert.deepEqual(after.authorization[owner.tenantId], { tenantId: owner.tenantId, name: "Olivia Owner's workspace", roles: ['member', 'viewer'] });
      assert.ok(after.authorization[invitee.tenantId], 'the invitee keeps their own tenant');
      // The new membership gives its permissions at once: a member may read the member list.
      assert.equal((await t.app.inject({ url: `/api/v1/tenants/${owner.tenantId}/members`, headers: bearer(body.accessToken) })).statusCode, 200);

      assert.ok((await memberships(owner.tenantId)).includes(`${invitee.userId}|direct|member`));
      const listed = (await list(owner.accessToken, owner.tenantId)).json().invitations;
      assert.equal(listed[0].status, 'accepted');
      assert.ok(listed[0].acceptedAt);
      const actions = await auditActions(owner.tenantId);
      assert.deepEqual(
        actions.map((a) => a.action).filter((a) => a.startsWith('invitation.') || a === 'member.joined'),
        ['invitation.created', 'invitation.accepted', 'member.joined'],
      );
      const joined = actions.find((a) => a.action === 'member.joined');
      assert.deepEqual([joined?.actor_id, joined?.target_id], [invitee.userId, invitee.userId]);
    });

    it('signs a new person up through the invitation link straight into the inviting tenant, verified, with no tenant of their own', async () => {
      const owner = await signUp(t, { name: 'Hana' });
      const email = uniqueEmail('newcomer');
      assert.equal((await invite(owner.accessToken, owner.tenantId, { email, roles: ['admin'] })).statusCode, 201);
      const { token } = await invitationMail(email);
      const shown = (await preview(token)).json();
      assert.equal(shown.email, email, 'the client prefills sign-up with the invited address');
      const tenantsBefore = Number(
        (
          await t.database.db
            .selectFrom('tenant_tree')
            .select((eb) => eb.fn.countAll().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );

      const signup = await t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/signup',
        payload: { email: shown.email, password: GOOD_PASSWORD, name: 'Newcomer', invitationToken: token },
      });
      assert.equal(signup.statusCode, 201, signup.body);
      const signed = signup.json();
      // The link was mailed to this address: holding its token proves the address, as a verification link would.
      assert.deepEqual([signed.user.emailVerified, signed.tenant.id, signed.tenant.name, signed.activeTenantId], [true, owner.tenantId, "Hana's workspace", owner.tenantId]);
      const tenantsAfter = Number(
        (
          await t.database.db
            .selectFrom('tenant_tree')
            .select((eb) => eb.fn.countAll().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );
      assert.equal(tenantsAfter, tenantsBefore, 'no stray workspace for the invitee');

      const after = await me(signed.accessToken);
      assert.equal(after.activeTenantId, owner.tenantId);
      assert.deepEqual(after.authorization[owner.tenantId].roles, ['admin']);
      assert.deepEqual(Object.keys(after.authorization), [owner.tenantId], 'only the inviting tenant');
      assert.equal((await preview(token)).statusCode, 410, 'the invitation is used');
      await t.app.services.outbox.runOnce();
      assert.equal(
        smtp.messages.some((m) => m.to.includes(email) && m.text.includes('/verify-email?')),
        false,
        'nothing left to verify',
      );
      const actions = (await auditActions(owner.tenantId)).map((a) => a.action);
      assert.ok(actions.includes('invitation.accepted') && actions.includes('member.joined'));
    });

    it('carries the invitation on in a resent verification link, and only an invitation for this address', async () => {
      const owner = await signUp(t);
      const email = uniqueEmail('resent');
      assert.equal((await invite(owner.accessToken, owner.tenantId, { email, roles: ['member'] })).statusCode, 201);
      const { token } = await invitationMail(email);
      // Signed up before opening the link, so not yet verified: the resent verification link carries the invitation on.
      const signup = await t.app.inject({ method: 'POST', url: '/api/v1/auth/signup', payload: { email, password: GOOD_PASSWORD } });
      assert.equal(signup.statusCode, 201, signup.body);
      const resend = (payload?: object) =>
        t.app.inject({ method: 'POST', url: '/api/v1/auth/verify-email/resend', headers: bearer(signup.json().accessToken), ...(payload === undefined ? {} : { payload }) });

      const stranger = uniqueEmail('stranger');
      await invite(owner.accessToken, owner.tenantId, { email: stranger, roles: ['member'] });
      const foreign = await invitationMail(stranger);
      assertProblem(await resend({ invitationToken: foreign.token }), 403, 'invitation_email_mismatch');
      assert.equal((await resend({ invitationToken: token })).statusCode, 202);
      await t.app.services.outbox.runOnce();
      const isVerification = (m: ReceivedMail) => m.to.includes(email) && m.text.includes('/verify-email?');
      await smtp.waitFor(isVerification);
      const mails = smtp.messages.filter(isVerification);
      assert.equal(mails.length, 2, 'the sign-up mail and the resent one');
      const links = mails.map((m) => new URL(/(http:\/\/tenantry\.test\/verify-email\?\S+)/.exec(m.text)?.[1] ?? 'http://missing'));
      assert.deepEqual(
        links.map((l) => l.searchParams.get('invitation')),
        [null, token],
        'the resent link carries the invitation on',
      );
      assert.notEqual(links[0]?.searchParams.get('token'), links[1]?.searchParams.get('token'));
    });

    it('answers verification with a null invitation when it was revoked between sign-up and verification', async () => {
      const owner = await signUp(t);
      const email = uniqueEmail('late');
      const { id } = (await invite(owner.accessToken, owner.tenantId, { email, roles: ['member'] })).json();
      const { token } = await invitationMail(email);
      const signup = await t.app.inject({ method: 'POST', url: '/api/v1/auth/signup', payload: { email, password: GOOD_PASSWORD } });
      assert.equal(signup.statusCode, 201, signup.body);
      const resent = await t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/verify-email/resend',
        headers: bearer(signup.json().accessToken),
        payload: { invitationToken: token },
      });
      assert.equal(resent.statusCode, 202, resent.body);
      const revoke = await t.app.inject({ method: 'DELETE', url: `/api/v1/tenants/${owner.tenantId}/invitations/${id}`, headers: bearer(owner.accessToken) });
      assert.equal(revoke.statusCode, 204);
      await t.app.services.outbox.runOnce();
      const carrying = (m: ReceivedMail) => m.to.includes(email) && m.text.includes('/verify-email?') && m.text.includes('invitation=');
      const verification = await smtp.waitFor(carrying);
      const link = new URL(/(http:\/\/tenantry\.test\/verify-email\?\S+)/.exec(verification.text)?.[1] ?? 'http://missing');
      const verified = await t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/verify-email',
        payload: { token: link.searchParams.get('token'), invitationToken: link.searchParams.get('invitation') },
      });
      assert.equal(verified.statusCode, 200, verified.body);
      assert.deepEqual([verified.json().user.emailVerified, verified.json().invitation], [true, null]);
    });

    it('refuses sign-up with an invitation meant for another address, or a dead one, and creates nothing', async () => {
      const owner = await signUp(t);
      const email = uniqueEmail('meant');
      await invite(owner.accessToken, owner.tenantId, { email, roles: ['member'] });
      const { token } = await invitationMail(email);
      const other = uniqueEmail('other');
      assertProblem(
        await t.app.inject({ method: 'POST', url: '/api/v1/auth/signup', payload: { email: other, password: GOOD_PASSWORD, invitationToken: token } }),
        403,
        'invitation_email_mismatch',
      );
      assertProblem(
        await t.app.inject({
          method: 'POST',
          url: '/api/v1/auth/signup',
          payload: { email, password: GOOD_PASSWORD, invitationToken: 'tnr_inv_nothing-like-this-was-ever-issued' },
        }),
        404,
        'invitation_not_found',
      );
      const users = await t.database.db.selectFrom('users').select('id').where('email', 'in', [email, other]).execute();
      assert.deepEqual(users, []);
    });

    it('lets a platform super_admin invite into any tenant, and the invitation names them', async () => {
      const { tenantId } = await seedTenant(t.database, { name: 'Acme Ltd' });
      const operator = await signUp(t, { name: 'Platform Operator' });
      await t.database.db.updateTable('users').set({ platform_role: 'super_admin' }).where('id', '=', operator.userId).execute();
      const invitee = await signUp(t);
      await markVerified(invitee);
      const res = await invite(operator.accessToken, tenantId, { email: invitee.email, roles: ['owner'] });
      assert.equal(res.statusCode, 201, res.body);
      const { mail, token } = await invitationMail(invitee.email);
      assert.match(mail.text, /Platform Operator invited you to join Acme Ltd/);
      const accepted = await accept(token, invitee.accessToken);
      assert.equal(accepted.statusCode, 200, accepted.body);
      assert.deepEqual((await me(accepted.json().accessToken)).authorization[tenantId], { tenantId, name: 'Acme Ltd', roles: ['owner'] });
      const created = (await auditActions(tenantId)).find((a) => a.action === 'invitation.created');
      assert.equal(created?.actor_id, operator.userId);
    });

    it('replaces the token when an address is invited again: the old link is dead, the new one works', async () => {
      const owner = await signUp(t);
      const invitee = await signUp(t);
      await markVerified(invitee);
      const first = (await invite(owner.accessToken, owner.tenantId, { email: invitee.email, roles: ['viewer'] })).json();
      const { token: oldToken } = await invitationMail(invitee.email);
      t.clock.advance(5 * 60_000);
      const again = await invite(owner.accessToken, owner.tenantId, { email: invitee.email, roles: ['member'] });
      assert.equal(again.statusCode, 201, again.body);
      assert.equal(again.json().id, first.id, 'the pending invitation is renewed, not duplicated');
      assert.equal(again.json().expiresAt, new Date(t.clock.now().getTime() + 48 * HOUR).toISOString());
      const { token: newToken } = await invitationMail(invitee.email);
      assert.notEqual(newToken, oldToken);

      assertProblem(await preview(oldToken), 404, 'invitation_not_found');
      assertProblem(await accept(oldToken, invitee.accessToken), 404, 'invitation_not_found');
      const pending = (await list(owner.accessToken, owner.tenantId, '?status=pending')).json().invitations;
      assert.deepEqual(
        pending.map((i: { email: string; roles: string[] }) => [i.email, i.roles]),
        [[invitee.email, ['member']]],
      );
      const accepted = await accept(newToken, invitee.accessToken);
      assert.equal(accepted.statusCode, 200, accepted.body);
      assert.deepEqual(accepted.json().roles, ['member']);
      const renewed = (await auditActions(owner.tenantId)).find((a) => a.action === 'invitation.renewed');
      assert.deepEqual(renewed?.before, { roles: ['viewer'], expiresAt: first.expiresAt });
    });

    it('keeps one pending invitation per address when invitations race', async () => {
      const owner = await signUp(t);
      const email = uniqueEmail('race');
      const results = await Promise.all([1, 2, 3, 4].map(() => invite(owner.accessToken, owner.tenantId, { email, roles: ['member'] })));
      assert.deepEqual(
        results.map((r) => r.statusCode),
        [201, 201, 201, 201],
        results.map((r) => r.body).join('\n'),
      );
      const rows = await readTenant(t.database.db, owner.tenantId, (trx) => trx.selectFrom('invitations').select(['id', 'status']).where('email', '=', email).execute());
      assert.equal(rows.length, 1);
      // Only the newest mail's link works.
      await t.app.services.outbox.runOnce();
      const tokens = smtp.messages.filter((m) => m.to.includes(email)).map((m) => /team-invite\/(\S+)/.exec(m.text)?.[1] ?? '');
      assert.equal(tokens.length, 4);
      const statuses = await Promise.all(tokens.map(async (token) => (await preview(token)).statusCode));
      assert.deepEqual(statuses.sort(), [200, 404, 404, 404]);
    });

    it('lists invitations with their status, expired ones as expired, and revokes pending ones', async () => {
      const owner = await signUp(t);
      const a = uniqueEmail('list-a');
      const b = uniqueEmail('list-b');
      const c = uniqueEmail('list-c');
      const invA = (await invite(owner.accessToken, owner.tenantId, { email: a, roles: ['member'] })).json();
      t.clock.advance(47 * HOUR);
      // Access tokens last minutes: sign in again after moving the clock.
      const fresh = await signIn(owner);
      const invB = (await invite(fresh, owner.tenantId, { email: b, roles: ['viewer'] })).json();
      t.clock.advance(1);
      const invC = (await invite(fresh, owner.tenantId, { email: c, roles: ['viewer'] })).json();
      t.clock.advance(HOUR + 1);
      const token = await signIn(owner);

      const revoke = await t.app.inject({ method: 'DELETE', url: `/api/v1/tenants/${owner.tenantId}/invitations/${invC.id}`, headers: bearer(token) });
      assert.equal(revoke.statusCode, 204, revoke.body);
      const again = await t.app.inject({ method: 'DELETE', url: `/api/v1/tenants/${owner.tenantId}/invitations/${invC.id}`, headers: bearer(token) });
      assert.equal(again.statusCode, 204, 'revoking twice changes nothing more');

      const all = (await list(token, owner.tenantId)).json().invitations as Array<{ id: string; status: string }>;
      assert.deepEqual(
        all.map((i) => [i.id, i.status]),
        [
          [invC.id, 'revoked'],
          [invB.id, 'pending'],
          [invA.id, 'expired'],
        ],
        'newest first',
      );
      assert.deepEqual(
        (await list(token, owner.tenantId, '?status=expired')).json().invitations.map((i: { id: string }) => i.id),
        [invA.id],
      );
      assert.deepEqual(
        (await list(token, owner.tenantId, '?status=revoked')).json().invitations.map((i: { id: string }) => i.id),
        [invC.id],
      );

      const firstPage = (await list(token, owner.tenantId, '?limit=2')).json();
      assert.equal(firstPage.invitations.length, 2);
      const secondPage = (await list(token, owner.tenantId, `?limit=2&cursor=${firstPage.nextCursor}`)).json();
      assert.deepEqual(
        secondPage.invitations.map((i: { id: string }) => i.id),
        [invA.id],
      );
      assert.equal(secondPage.nextCursor, null);
      assertProblem(await list(token, owner.tenantId, '?cursor=bogus'), 400, 'invalid_cursor');

      assertProblem(
        await t.app.inject({ method: 'DELETE', url: `/api/v1/tenants/${owner.tenantId}/invitations/inv_doesnotexist`, headers: bearer(token) }),
        404,
        'invitation_not_found',
      );
      const revoked = (await auditActions(owner.tenantId)).filter((x) => x.action === 'invitation.revoked');
      assert.equal(revoked.length, 1);
      assert.equal(revoked[0]?.target_id, invC.id);
    });

    it("refuses roles above the inviter's own (403), unknown roles (422), members (409) and bad input (400), creating nothing", async () => {
      const owner = await signUp(t);
      const admin = await join(owner.tenantId, ['admin']);
      const member = await join(owner.tenantId, ['member']);
      const rows = () => readTenant(t.database.db, owner.tenantId, (trx) => trx.selectFrom('invitations').selectAll().execute());
      const before = await rows();

      const above = await invite(admin.accessToken, owner.tenantId, { email: uniqueEmail(), roles: ['owner'] });
      assertProblem(above, 403, 'forbidden');
      assert.deepEqual(above.json().missingPermissions.sort(), ['tenant.delete', 'tenant.transfer_ownership']);
      assertProblem(await invite(member.accessToken, owner.tenantId, { email: uniqueEmail(), roles: ['viewer'] }), 403, 'forbidden');
      assertProblem(await invite(owner.accessToken, owner.tenantId, { email: uniqueEmail(), roles: ['member', 'wizard'] }), 422, 'unknown_role');
      assertProblem(await invite(owner.accessToken, owner.tenantId, { email: member.email.toUpperCase(), roles: ['viewer'] }), 409, 'already_member');
      assertProblem(await invite(owner.accessToken, owner.tenantId, { email: 'not-an-email', roles: ['viewer'] }), 422, 'invalid_email');
      for (const payload of [
        { email: uniqueEmail(), roles: [] },
        { email: uniqueEmail() },
        { roles: ['viewer'] },
        { email: uniqueEmail(), roles: ['viewer'], token: 'x' },
        { email: uniqueEmail(), roles: ['Viewer'] },
      ]) {
        assertProblem(await invite(owner.accessToken, owner.tenantId, payload), 400, 'validation_failed');
      }
      assertProblem(
        await t.app.inject({ method: 'POST', url: `/api/v1/tenants/${owner.tenantId}/invitations`, payload: { email: uniqueEmail(), roles: ['viewer'] } }),
        401,
        'unauthenticated',
      );
      assert.deepEqual(await rows(), before);

      // An admin may invite up to admin.
      assert.equal((await invite(admin.accessToken, owner.tenantId, { email: uniqueEmail(), roles: ['admin'] })).statusCode, 201);
    });

    it('answers 409 already_member to a member who accepts, and leaves the invitation pending', async () => {
      const owner = await signUp(t);
      const invitee = await signUp(t);
      await markVerified(invitee);
      await invite(owner.accessToken, owner.tenantId, { email: invitee.email, roles: ['viewer'] });
      const { token } = await invitationMail(invitee.email);
      // Added directly in the meantime.
      await withTenant(t.database.db, owner.tenantId, (trx) =>
        insertMembership(trx, { tenantId: owner.tenantId, userId: invitee.userId, kind: 'direct', roles: ['member'], now: t.clock.now() }),
      );
      const before = await memberships(owner.tenantId);
      assertProblem(await accept(token, invitee.accessToken), 409, 'already_member');
      assert.deepEqual(await memberships(owner.tenantId), before);
      assert.equal((await preview(token)).json().status, 'pending');
    });

    it("turns an operator's shadow membership into a direct one holding exactly the invited roles (the shadow's were never granted here)", async () => {
      const owner = await signUp(t);
      const operator = await signUp(t);
      await markVerified(operator);
      await withTenant(t.database.db, owner.tenantId, (trx) =>
        insertMembership(trx, { tenantId: owner.tenantId, userId: operator.userId, kind: 'shadow', roles: ['admin'], now: t.clock.now() }),
      );
      await invite(owner.accessToken, owner.tenantId, { email: operator.email, roles: ['member'] });
      const { token } = await invitationMail(operator.email);
      const accepted = await accept(token, operator.accessToken);
      assert.equal(accepted.statusCode, 200, accepted.body);
      assert.deepEqual(accepted.json().roles, ['member']);
      const rows = (await memberships(owner.tenantId)).filter((r) => r.startsWith(operator.userId));
      assert.deepEqual(rows, [`${operator.userId}|direct|member`]);
    });
  });
}
