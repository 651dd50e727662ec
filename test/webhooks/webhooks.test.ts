import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { createOperator } from '../../src/accounts/operator.service.ts';
import { MAX_ATTEMPTS, RETRY_DELAYS_MS } from '../../src/webhooks/webhooks.worker.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { testEngines } from '../helpers/database.ts';
import { assertProblem, bearer, GOOD_PASSWORD, join, type SignedUp, signIn, signUp, uniqueEmail } from '../helpers/users.ts';

/**
 * Issue 16, webhooks: changes become events in their own transaction, are fanned out to the tenant's endpoints and
 * the platform's, and delivered signed per Standard Webhooks — verified here by the `standardwebhooks` package, not by
 * our own code — with retries on Standard Webhooks' schedule, a dead letter, replay and a delivery log. A receiver
 * that is down delays delivery and loses nothing.
 */
interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

/** A receiver on a free port: records every request and answers `status()` (200 unless a test says otherwise). */
async function startReceiver(): Promise<{ url: string; received: Received[]; answer: (status: number) => void; close: () => Promise<void> }> {
  const received: Received[] = [];
  let status = 200;
  const server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      body += chunk;
    });
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'ok' : 'receiver down');
    });
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`,
    received,
    answer: (next) => {
      status = next;
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

for (const engine of testEngines()) {
  describe(`webhooks [${engine}]`, () => {
    let t: TestApp;
    let receiver: Awaited<ReturnType<typeof startReceiver>>;
    let owner: SignedUp;
    let other: SignedUp;
    let operator: string;
    let operatorEmail: string;
    const api = (method: 'GET' | 'POST' | 'PATCH' | 'DELETE' | 'PUT', url: string, token: string, payload?: object) =>
      t.app.inject({ method, url: `/api/v1${url}`, headers: bearer(token), ...(payload === undefined ? {} : { payload }) });
    const createHook = async (token: string, path: string, body: object) => {
      const res = await api('POST', path, token, { url: receiver.url, ...body });
      assert.equal(res.statusCode, 201, res.body);
      return res.json() as { id: string; secret: string };
    };
    /** Fans out and delivers what is due, as the server's workers do on their own. */
    const deliver = () => t.app.services.webhooks.runOnce();
    /** The verified bodies the receiver got for `secret`, as the receiver would read them. */
    const verified = (secret: string) => {
      const wh = new Webhook(secret);
      return receiver.received.flatMap((r) => {
        try {
          return [wh.verify(r.body, r.headers as Record<string, string>) as { type: string; timestamp: string; data: Record<string, unknown> }];
        } catch {
          return [];
        }
      });
    };

    before(async () => {
      receiver = await startReceiver();
      t = await createTestApp(engine, { env: { TENANTRY_WEBHOOK_ALLOW_PRIVATE: 'true', TENANTRY_AUTH_RATE_LIMIT: '1000' }, clockStart: new Date() });
      owner = await signUp(t, { name: 'Olive' });
      other = await signUp(t, { name: 'Oscar' });
      operatorEmail = uniqueEmail('operator');
      await createOperator({ db: t.database.db, clock: t.clock, ownerRole: 'owner' }, { email: operatorEmail, password: GOOD_PASSWORD, name: 'Operator' });
      operator = (await signIn(t, operatorEmail)).accessToken;
      // Whatever sign-up queued goes nowhere: no endpoint existed yet.
      await deliver();
    });
    after(async () => {
      await t?.close();
      await receiver?.close();
    });

    it('delivers a change signed per Standard Webhooks, once, with the event and who made it', async () => {
      const hook = await createHook(owner.accessToken, `/tenants/${owner.tenantId}/webhooks`, { description: 'all events' });
      assert.match(hook.secret, /^whsec_/);
      const invited = await api('POST', `/tenants/${owner.tenantId}/invitations`, owner.accessToken, { email: uniqueEmail('invitee'), roles: ['member'] });
      assert.equal(invited.statusCode, 201, invited.body);
      assert.deepEqual(await deliver(), { delivered: 1, failed: 0, dead: 0 });
      const [event] = verified(hook.secret);
      assert.equal(event?.type, 'invitation.created');
      assert.equal(event?.data.tenantId, owner.tenantId);
      assert.deepEqual(event?.data.actor, { type: 'user', id: owner.userId, via: 'direct' });
      assert.equal(JSON.stringify(event).includes('token'), false, 'never the invitation token');
      const sent = receiver.received.at(-1);
      assert.match(String(sent?.headers['webhook-id']), /^msg_/);
      // Signed with this endpoint's secret only.
      assert.throws(() => new Webhook(`whsec_${Buffer.alloc(32, 1).toString('base64')}`).verify(sent?.body ?? '', sent?.headers as Record<string, string>));
      assert.deepEqual(await deliver(), { delivered: 0, failed: 0, dead: 0 }, 'nothing twice');
      await api('DELETE', `/tenants/${owner.tenantId}/webhooks/${hook.id}`, owner.accessToken);
    });

    it('sends an endpoint only the event types it asked for, and a refused change nothing', async () => {
      receiver.received.length = 0;
      const hook = await createHook(owner.accessToken, `/tenants/${owner.tenantId}/webhooks`, { eventTypes: ['invitation.created'] });
      assert.equal((await api('PATCH', `/tenants/${owner.tenantId}`, owner.accessToken, { name: 'Not subscribed' })).statusCode, 200);
      // Refused (an unknown role): no change, so no event.
      assertProblem(await api('POST', `/tenants/${owner.tenantId}/invitations`, owner.accessToken, { email: uniqueEmail('x'), roles: ['no_such_role'] }), 422, 'unknown_role');
      const invitee = uniqueEmail('invitee');
      assert.equal((await api('POST', `/tenants/${owner.tenantId}/invitations`, owner.accessToken, { email: invitee, roles: ['member'] })).statusCode, 201);
      await deliver();
      const events = verified(hook.secret);
      assert.deepEqual(
        events.map((e) => [e.type, (e.data.after as { email?: string } | null)?.email]),
        [['invitation.created', invitee]],
      );
      assertProblem(await api('POST', `/tenants/${owner.tenantId}/webhooks`, owner.accessToken, { url: receiver.url, eventTypes: ['user.signed_up'] }), 422, 'unknown_event_type');
      await api('DELETE', `/tenants/${owner.tenantId}/webhooks/${hook.id}`, owner.accessToken);
    });

    it('retries an endpoint that is down on the Standard Webhooks schedule, then delivers: delayed, never lost', async () => {
      receiver.received.length = 0;
      const hook = await createHook(owner.accessToken, `/tenants/${owner.tenantId}/webhooks`, { eventTypes: ['tenant.updated'] });
      receiver.answer(503);
      assert.equal((await api('PATCH', `/tenants/${owner.tenantId}`, owner.accessToken, { name: 'Olive & Co' })).statusCode, 200);
      assert.deepEqual(await deliver(), { delivered: 0, failed: 1, dead: 0 });
      const log = async () => (await api('GET', `/tenants/${owner.tenantId}/webhooks/${hook.id}/deliveries`, owner.accessToken)).json().deliveries;
      const [pending] = await log();
      assert.deepEqual([pending.status, pending.attempts, pending.lastStatus], ['pending', 1, 503]);
      assert.match(pending.lastError, /HTTP 503/);
      assert.equal(new Date(pending.nextAttemptAt).getTime() - new Date(pending.lastAttemptAt).getTime(), RETRY_DELAYS_MS[0]);
      assert.deepEqual(await deliver(), { delivered: 0, failed: 0, dead: 0 }, 'not before its time');
      receiver.answer(200);
      t.clock.advance(RETRY_DELAYS_MS[0]);
      assert.deepEqual(await deliver(), { delivered: 1, failed: 0, dead: 0 });
      const [done] = await log();
      assert.deepEqual([done.status, done.attempts, done.lastStatus, done.lastError], ['delivered', 2, 200, null]);
      const bodies = receiver.received.map((r) => r.headers['webhook-id']);
      assert.equal(new Set(bodies).size, 1, 'the retry carries the same webhook-id');
      assert.equal(verified(hook.secret).length, 2);
      await api('DELETE', `/tenants/${owner.tenantId}/webhooks/${hook.id}`, owner.accessToken);
    });

    it('gives up after the last attempt (a dead letter) and sends it again when replayed', async () => {
      const hook = await createHook(owner.accessToken, `/tenants/${owner.tenantId}/webhooks`, { eventTypes: ['tenant.updated'] });
      receiver.answer(500);
      await api('PATCH', `/tenants/${owner.tenantId}`, owner.accessToken, { name: 'Olive Ltd' });
      let advanced = 0;
      const advance = (ms: number) => {
        t.clock.advance(ms);
        advanced += ms;
      };
      for (let attempt = 1; attempt < MAX_ATTEMPTS; attempt++) {
        assert.deepEqual(await deliver(), { delivered: 0, failed: 1, dead: 0 }, `attempt ${attempt}`);
        advance(RETRY_DELAYS_MS[attempt - 1] ?? 0);
      }
      assert.deepEqual(await deliver(), { delivered: 0, failed: 0, dead: 1 });
      advance(100 * 3_600_000);
      assert.deepEqual(await deliver(), { delivered: 0, failed: 0, dead: 0 }, 'a dead letter is not retried');
      // Back to the present: the tokens and the receiver's signature check (5 minutes of tolerance) live in it.
      t.clock.advance(-advanced);
      const page = (await api('GET', `/tenants/${owner.tenantId}/webhooks/${hook.id}/deliveries`, owner.accessToken)).json();
      const dead = page.deliveries[0];
      assert.deepEqual([dead.status, dead.attempts, dead.nextAttemptAt], ['dead', MAX_ATTEMPTS, null]);
      receiver.answer(200);
      const replayed = await api('POST', `/tenants/${owner.tenantId}/webhooks/${hook.id}/deliveries/${dead.id}/replay`, owner.accessToken);
      assert.equal(replayed.statusCode, 200, replayed.body);
      assert.equal(replayed.json().status, 'pending');
      assertProblem(await api('POST', `/tenants/${owner.tenantId}/webhooks/${hook.id}/deliveries/${dead.id}/replay`, owner.accessToken), 409, 'delivery_pending');
      assert.deepEqual(await deliver(), { delivered: 1, failed: 0, dead: 0 });
      await api('DELETE', `/tenants/${owner.tenantId}/webhooks/${hook.id}`, owner.accessToken);
    });

    it("lets operators receive every tenant's events on a platform-wide endpoint, and nobody else make one", async () => {
      receiver.received.length = 0;
      const hook = await createHook(operator, '/admin/webhooks', { eventTypes: ['tenant.updated'] });
      assertProblem(await api('POST', '/admin/webhooks', owner.accessToken, { url: receiver.url }), 403, 'super_admin_required');
      await api('PATCH', `/tenants/${owner.tenantId}`, owner.accessToken, { name: 'Olive again' });
      await api('PATCH', `/tenants/${other.tenantId}`, other.accessToken, { name: 'Oscar again' });
      await deliver();
      assert.deepEqual(
        verified(hook.secret)
          .map((e) => e.data.tenantId)
          .sort(),
        [owner.tenantId, other.tenantId].sort(),
      );
      assert.equal((await api('GET', '/admin/webhooks', operator)).json().webhooks.length, 1);
      assert.equal(
        (await api('GET', `/tenants/${owner.tenantId}/webhooks`, owner.accessToken)).json().webhooks.some((w: { id: string }) => w.id === hook.id),
        false,
      );
      await api('DELETE', `/admin/webhooks/${hook.id}`, operator);
    });

    it("keeps a tenant's endpoints and logs to those who manage its webhooks there", async () => {
      const hook = await createHook(owner.accessToken, `/tenants/${owner.tenantId}/webhooks`, {});
      // Another tenant's owner: the tenant is not theirs to see, and their own tenant has no such endpoint.
      assertProblem(await api('GET', `/tenants/${owner.tenantId}/webhooks/${hook.id}`, other.accessToken), 404, 'tenant_not_found');
      assertProblem(await api('GET', `/tenants/${other.tenantId}/webhooks/${hook.id}`, other.accessToken), 404, 'webhook_not_found');
      assertProblem(await api('GET', `/tenants/${other.tenantId}/webhooks/${hook.id}/deliveries`, other.accessToken), 404, 'webhook_not_found');
      assertProblem(await api('PATCH', `/tenants/${other.tenantId}/webhooks/${hook.id}`, other.accessToken, { enabled: false }), 404, 'webhook_not_found');
      assertProblem(await api('DELETE', `/tenants/${other.tenantId}/webhooks/${hook.id}`, other.accessToken), 404, 'webhook_not_found');
      // A member without webhooks.manage.
      const member = await signUp(t);
      await join(t, owner.tenantId, member.userId, ['member']);
      assertProblem(await api('GET', `/tenants/${owner.tenantId}/webhooks`, member.accessToken), 403, 'forbidden');
      // Rotating the secret: the next delivery verifies with the new one only.
      const rotated = await api('PATCH', `/tenants/${owner.tenantId}/webhooks/${hook.id}`, owner.accessToken, { rotateSecret: true });
      assert.match(rotated.json().secret, /^whsec_/);
      assert.equal((await api('GET', `/tenants/${owner.tenantId}/webhooks/${hook.id}`, owner.accessToken)).json().secret, undefined);
      receiver.received.length = 0;
      await api('PATCH', `/tenants/${owner.tenantId}`, owner.accessToken, { name: 'Olive rotated' });
      await deliver();
      assert.equal(verified(rotated.json().secret).length, 1);
      assert.equal(verified(hook.secret).length, 0);
      await api('DELETE', `/tenants/${owner.tenantId}/webhooks/${hook.id}`, owner.accessToken);
    });
  });
}

describe('webhook URLs', () => {
  it('refuses private, loopback, link-local and metadata targets unless the operator allows them, and anything not http', async () => {
    const t = await createTestApp('pglite');
    try {
      const owner = await signUp(t);
      for (const url of [
        'http://127.0.0.1:8080/hook',
        'http://localhost/hook',
        'http://10.0.0.5/hook',
        'http://169.254.169.254/latest/meta-data',
        'http://[::1]/hook',
        'http://[fd00:ec2::254]/',
        'http://[64:ff9b::a9fe:a9fe]/',
        'ftp://203.0.113.9/hook',
        'https://user:pw@203.0.113.9/hook',
      ]) {
        const res = await t.app.inject({ method: 'POST', url: `/api/v1/tenants/${owner.tenantId}/webhooks`, headers: bearer(owner.accessToken), payload: { url } });
        assertProblem(res, 422, 'webhook_url_not_allowed');
      }
      const fine = await t.app.inject({
        method: 'POST',
        url: `/api/v1/tenants/${owner.tenantId}/webhooks`,
        headers: bearer(owner.accessToken),
        payload: { url: 'https://203.0.113.9/hook' },
      });
      assert.equal(fine.statusCode, 201, fine.body);
    } finally {
      await t.close();
    }
  });
});
