import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { testEngines } from '../helpers/database.ts';
import { invitationTokenFor } from '../helpers/invited.ts';
import { snapshotRows, tenantScopedTables } from '../helpers/snapshot.ts';
import { assertProblem, enrol, GOOD_PASSWORD, signUp, uniqueEmail } from '../helpers/users.ts';
import { hostileWorld, type World } from './world.ts';

/**
 * Issue 14, invitations (ASVS 5.0 V6.4, V8.2; API1/API5:2023): an invitation is a bearer secret for one address, one
 * tenant and the roles its inviter could give. Wrong accounts, forged, replayed, expired and revoked tokens, racing
 * accepts and a half-done accept all leave the tenant as it was; looking at a link changes nothing.
 */
for (const engine of testEngines()) {
  describe(`hostile: invitations [${engine}]`, () => {
    let w: World;
    let everything: () => Promise<string>;
    hostileWorld(engine, async (built) => {
      w = built;
      // The trail records refusals (test/hostile/audit.test.ts); everything else must stay as it was.
      const tables = [...(await tenantScopedTables(w.t.database)).filter((t) => !t.startsWith('audit_')), 'tenants', 'users'];
      everything = () => snapshotRows(w.t.database, tables, undefined, { ignore: ['last_used_at', 'last_active_at'] });
    });

    /** A pending invitation into A for a fresh address, and a verified account holding that address. */
    const invite = async (roles = ['member']) => {
      const email = uniqueEmail('invitee');
      const res = await w.call('POST', `/api/v1/tenants/${w.a.id}/invitations`, w.a.owner.accessToken, { email, roles });
      assert.equal(res.statusCode, 201, res.body);
      return { id: res.json().id as string, email, token: await invitationTokenFor(w.t, email, w.a.id) };
    };
    const accept = (token: string, credential: string) => w.call('POST', `/api/v1/invitations/${token}/accept`, credential);
    const isMember = async (userId: string) =>
      (await w.call('GET', `/api/v1/tenants/${w.a.id}/members`, w.a.owner.accessToken)).json().members.some((m: { userId: string }) => m.userId === userId);

    it('refuses an invitation accepted by a signed-in account with another address (403 invitation_email_mismatch) and changes nothing', async () => {
      const before = await everything();
      assertProblem(await accept(w.invitation.token, w.b.member.accessToken), 403, 'invitation_email_mismatch');
      assertProblem(await accept(w.invitation.token, w.a.member.accessToken), 403, 'invitation_email_mismatch');
      assert.equal(await everything(), before);
    });

    it('answers a forged token of the right shape like no invitation at all (404 invitation_not_found) on preview and accept', async () => {
      const forged = `tnr_inv_${'A'.repeat(43)}`;
      // One character off a real token: the hash decides, not a prefix.
      const near = `${w.invitation.token.slice(0, -1)}${w.invitation.token.endsWith('A') ? 'B' : 'A'}`;
      for (const token of [forged, near]) {
        assertProblem(await w.call('GET', `/api/v1/invitations/${token}`), 404, 'invitation_not_found');
        assertProblem(await accept(token, w.b.member.accessToken), 404, 'invitation_not_found');
      }
      const malformed = await w.call('GET', "/api/v1/invitations/tnr_inv_'%20OR%201=1--");
      assert.ok([400, 404].includes(malformed.statusCode), malformed.body);
    });

    it('refuses a replayed invitation after its acceptance (410 invitation_used), for its invitee and for anyone else', async () => {
      const sent = await invite();
      const invitee = await enrol(w.t, w.b.id, ['member'], { email: sent.email });
      assert.equal((await accept(sent.token, invitee.accessToken)).statusCode, 200);
      const before = await everything();
      assertProblem(await accept(sent.token, invitee.accessToken), 410, 'invitation_used');
      assertProblem(await w.call('GET', `/api/v1/invitations/${sent.token}`), 410, 'invitation_used');
      assert.equal(await everything(), before);
    });

    it('refuses an expired invitation (410 invitation_expired) once the clock passes its expiry, and makes no member', async () => {
      const sent = await invite();
      const invitee = await enrol(w.t, w.b.id, ['member'], { email: sent.email });
      const { expiresAt } = (await w.call('GET', `/api/v1/invitations/${sent.token}`)).json();
      const past = Date.parse(expiresAt) + 1000 - w.t.clock.now().getTime();
      w.t.clock.advance(past);
      try {
        // Signed in after the expiry: the access token from before it would have expired too.
        const login = await w.call('POST', '/api/v1/auth/login', undefined, { email: sent.email, password: GOOD_PASSWORD });
        assert.equal(login.statusCode, 200, login.body);
        assertProblem(await accept(sent.token, login.json().accessToken), 410, 'invitation_expired');
      } finally {
        w.t.clock.advance(-past);
      }
      assert.equal(await isMember(invitee.userId), false);
    });

    it('refuses a revoked invitation (410 invitation_revoked) and makes no member', async () => {
      const sent = await invite();
      const invitee = await enrol(w.t, w.b.id, ['member'], { email: sent.email });
      assert.equal((await w.call('DELETE', `/api/v1/tenants/${w.a.id}/invitations/${sent.id}`, w.a.admin.accessToken)).statusCode, 204);
      assertProblem(await accept(sent.token, invitee.accessToken), 410, 'invitation_revoked');
      assert.equal(await isMember(invitee.userId), false);
    });

    it('refuses an invitation above the inviter: an admin inviting an owner, an auditor inviting anyone, a read key inviting', async () => {
      const before = await everything();
      assertProblem(await w.call('POST', `/api/v1/tenants/${w.a.id}/invitations`, w.a.admin.accessToken, { email: uniqueEmail('x'), roles: ['owner'] }), 403, 'forbidden');
      assertProblem(await w.call('POST', `/api/v1/tenants/${w.a.id}/invitations`, w.a.auditor.accessToken, { email: uniqueEmail('x'), roles: ['auditor'] }), 403, 'forbidden');
      assertProblem(await w.call('POST', `/api/v1/tenants/${w.a.id}/invitations`, w.a.readKey.secret, { email: uniqueEmail('x'), roles: ['member'] }), 403, 'forbidden');
      // A role of another tree does not exist here.
      assertProblem(
        await w.call('POST', `/api/v1/tenants/${w.a.chain[0]}/invitations`, w.b.owner.accessToken, { email: uniqueEmail('x'), roles: ['member'] }),
        404,
        'tenant_not_found',
      );
      assert.equal(await everything(), before);
    });

    it('keeps an unverified account that signed up first with the invited address out (403 email_not_verified), the invitation pending', async () => {
      const sent = await invite(['admin']);
      const squatter = await signUp(w.t, { email: sent.email });
      assertProblem(await accept(sent.token, squatter.accessToken), 403, 'email_not_verified');
      assert.equal(await isMember(squatter.userId), false);
      assert.equal((await w.call('GET', `/api/v1/invitations/${sent.token}`)).statusCode, 200, 'the invitation is still pending');
      // Sign-up through someone else's link cannot claim it either.
      const other = await w.call('POST', '/api/v1/auth/signup', undefined, { email: uniqueEmail('thief'), password: GOOD_PASSWORD, invitationToken: w.invitation.token });
      assertProblem(other, 403, 'invitation_email_mismatch');
    });

    it('changes nothing when the invitation link is looked at (preview and the portal page), however often', async () => {
      const before = await everything();
      for (let i = 0; i < 3; i += 1) {
        assert.equal((await w.call('GET', `/api/v1/invitations/${w.invitation.token}`)).statusCode, 200);
        await w.t.app.inject({ method: 'GET', url: `/team-invite/${w.invitation.token}` });
        await w.t.app.inject({ method: 'HEAD', url: `/api/v1/invitations/${w.invitation.token}` });
      }
      assert.equal(await everything(), before);
    });

    it('leaves the invitation pending and makes no member when the accept fails after claiming it', async () => {
      const sent = await invite();
      const invitee = await enrol(w.t, w.b.id, ['member'], { email: sent.email });
      const before = await everything();
      w.faults.fail('invitation.claimed');
      try {
        assert.equal((await accept(sent.token, invitee.accessToken)).statusCode, 500);
      } finally {
        w.faults.clear();
      }
      assert.equal(await everything(), before);
      assert.equal((await accept(sent.token, invitee.accessToken)).statusCode, 200, 'the invitation still works');
    });

    if (engine === 'postgres') {
      it('creates one membership when the invitee accepts twice at once, released together inside their transactions', async () => {
        const sent = await invite();
        const invitee = await enrol(w.t, w.b.id, ['member'], { email: sent.email });
        const gate = w.faults.barrier('commit', 2);
        try {
          const answers = await Promise.all([accept(sent.token, invitee.accessToken), accept(sent.token, invitee.accessToken)]);
          assert.deepEqual(answers.map((r) => r.statusCode).sort(), [200, 410], answers.map((r) => r.body).join('\n'));
          assert.ok(gate.arrived() >= 1);
        } finally {
          w.faults.clear();
        }
        const members = (await w.call('GET', `/api/v1/tenants/${w.a.id}/members`, w.a.owner.accessToken))
          .json()
          .members.filter((m: { userId: string }) => m.userId === invitee.userId);
        assert.equal(members.length, 1);
      });
    }
  });
}
