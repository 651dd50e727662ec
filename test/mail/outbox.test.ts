import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { enqueueMail, OutboxWorker, type OutboxWorkerOptions } from '../../src/mail/outbox.ts';
import type { MailMessage, MailTransport } from '../../src/mail/mail.types.ts';
import { createMailTransport } from '../../src/mail/transports.ts';
import { ManualClock } from '../../src/platform/clock.ts';
import type { Database } from '../../src/platform/db/database.ts';
import { createLogger } from '../../src/platform/logger.ts';
import { createTestDatabase, testEngines } from '../helpers/database.ts';
import { startTestSmtp, type TestSmtp } from '../helpers/smtp.ts';

const BODY_SECRET = 'one-time-token-2b7q';

const message = (subject: string, to = 'ada@example.test'): MailMessage => ({
  to,
  subject,
  text: `Confirm: https://tenantry.test/verify-email/${BODY_SECRET}`,
  html: `<p><a href="https://tenantry.test/verify-email/${BODY_SECRET}">Confirm</a></p>`,
});

/** A transport that fails every send, or runs a hook before passing to another. */
function fakeTransport(send: (message: MailMessage) => Promise<void>): MailTransport & { sent: MailMessage[] } {
  const sent: MailMessage[] = [];
  return {
    kind: 'log',
    sent,
    async send(m) {
      await send(m);
      sent.push(m);
    },
    async close() {},
  };
}

for (const engine of testEngines()) {
  describe(`mail outbox [${engine}]`, () => {
    let smtp: TestSmtp;
    let smtpTransport: MailTransport;
    let database: Database;
    let clock: ManualClock;
    let lines: Array<Record<string, unknown>>;
    const logger = createLogger('debug', { write: (line: string) => void lines.push(JSON.parse(line)) });

    const worker = (options: Partial<OutboxWorkerOptions> = {}) => new OutboxWorker({ db: database.db, transport: smtpTransport, clock, logger, ...options });

    const enqueue = (m: MailMessage) => database.db.transaction().execute((trx) => enqueueMail(trx, clock, m));

    const row = (id: string) => database.db.selectFrom('outbox').selectAll().where('id', '=', id).executeTakeFirstOrThrow();

    const received = (subject: string) => smtp.messages.filter((m) => m.subject === subject).length;

    before(async () => {
      smtp = await startTestSmtp();
      smtpTransport = createMailTransport(smtp.url, logger);
    });
    after(async () => {
      await smtpTransport.close();
      await smtp.close();
    });
    beforeEach(async () => {
      database = await createTestDatabase(engine);
      clock = new ManualClock();
      lines = [];
      await smtp.restart();
    });
    afterEach(() => database.close());

    it('sends nothing for mail enqueued in a transaction that rolls back', async () => {
      await assert.rejects(
        database.db.transaction().execute(async (trx) => {
          await enqueueMail(trx, clock, message('Rolled back'));
          throw new Error('the change failed');
        }),
        /the change failed/,
      );
      assert.deepEqual(await worker().runOnce(), { delivered: 0, failed: 0 });
      assert.equal((await database.db.selectFrom('outbox').select('id').execute()).length, 0);
      assert.equal(received('Rolled back'), 0);
    });

    it('delivers committed mail through SMTP once, and keeps the row as the record', async () => {
      const id = await enqueue(message('Committed'));
      assert.match(id, /^obx_[a-z2-7]{20}$/);
      const pending = await row(id);
      assert.equal(pending.topic, 'mail');
      assert.deepEqual(pending.payload, message('Committed'));
      assert.equal(pending.delivered_at, null);

      const w = worker();
      assert.deepEqual(await w.runOnce(), { delivered: 1, failed: 0 });
      const mail = await smtp.waitFor((m) => m.subject === 'Committed');
      assert.deepEqual(mail.to, ['ada@example.test']);
      assert.match(mail.text, new RegExp(BODY_SECRET));
      assert.match(mail.html, new RegExp(`href="https://tenantry.test/verify-email/${BODY_SECRET}"`));

      const delivered = await row(id);
      assert.deepEqual(delivered.delivered_at, clock.now());
      assert.equal(delivered.attempts, 1);
      assert.equal(delivered.last_error, null);

      assert.deepEqual(await w.runOnce(), { delivered: 0, failed: 0 });
      assert.equal(received('Committed'), 1);

      // The log names the message but never carries its body (it holds a one-time link).
      const sent = lines.find((l) => l.msg === 'mail sent');
      assert.ok(sent);
      assert.equal(sent.outboxId, id);
      assert.equal(sent.to, 'ada@example.test');
      assert.equal(sent.subject, 'Committed');
      assert.ok(!lines.some((l) => JSON.stringify(l).includes(BODY_SECRET)));
    });

    it('survives an SMTP outage: the mail waits out its backoff and is delivered exactly once after recovery', async () => {
      await smtp.stop();
      const id = await enqueue(message('Through the outage'));
      const w = worker();

      assert.deepEqual(await w.runOnce(), { delivered: 0, failed: 1 });
      const failed = await row(id);
      assert.equal(failed.delivered_at, null);
      assert.equal(failed.attempts, 1);
      assert.ok(failed.last_error !== null && failed.last_error.length > 0);
      assert.ok(failed.available_at.getTime() > clock.now().getTime(), 'the retry waits');
      const warning = lines.find((l) => l.msg === 'mail not sent; will retry');
      assert.ok(warning);
      assert.equal(warning.level, 'warn');
      assert.equal(warning.outboxId, id);

      // Still inside the backoff: nothing is even attempted.
      clock.advance(1_000);
      assert.deepEqual(await w.runOnce(), { delivered: 0, failed: 0 });
      assert.equal((await row(id)).attempts, 1);

      await smtp.restart();
      clock.advance(failed.available_at.getTime() - clock.now().getTime() + 1);
      assert.deepEqual(await w.runOnce(), { delivered: 1, failed: 0 });
      await smtp.waitFor((m) => m.subject === 'Through the outage');
      const delivered = await row(id);
      assert.deepEqual(delivered.delivered_at, clock.now());
      assert.equal(delivered.attempts, 2);
      assert.equal(delivered.last_error, null);

      clock.advance(24 * 60 * 60_000);
      assert.deepEqual(await w.runOnce(), { delivered: 0, failed: 0 });
      assert.equal(received('Through the outage'), 1);
    });

    it('backs off exponentially up to the cap and never gives up, logging persistent failures as errors', async () => {
      const down = fakeTransport(async () => {
        throw new Error('connect ECONNREFUSED 127.0.0.1:25');
      });
      const w = worker({ transport: down, maxBackoffMs: 40_000 });
      const id = await enqueue(message('Never gives up'));
      const waits: number[] = [];
      for (let attempt = 1; attempt <= 10; attempt++) {
        assert.deepEqual(await w.runOnce(), { delivered: 0, failed: 1 });
        const pending = await row(id);
        assert.equal(pending.attempts, attempt);
        assert.equal(pending.delivered_at, null);
        assert.equal(pending.last_error, 'connect ECONNREFUSED 127.0.0.1:25');
        const wait = pending.available_at.getTime() - clock.now().getTime();
        waits.push(wait);
        clock.advance(wait);
      }
      assert.deepEqual(waits, [5_000, 10_000, 20_000, 40_000, 40_000, 40_000, 40_000, 40_000, 40_000, 40_000]);
      const failures = lines.filter((l) => l.outboxId === id);
      assert.deepEqual(
        failures.map((l) => l.level),
        ['warn', 'warn', 'warn', 'error', 'error', 'error', 'error', 'error', 'error', 'error'],
      );
      assert.ok(!lines.some((l) => JSON.stringify(l).includes(BODY_SECRET)));
    });

    it('truncates a long error', async () => {
      const w = worker({ transport: fakeTransport(async () => Promise.reject(new Error('x'.repeat(50_000)))) });
      const id = await enqueue(message('Long error'));
      assert.deepEqual(await w.runOnce(), { delivered: 0, failed: 1 });
      const pending = await row(id);
      assert.ok(pending.last_error !== null && pending.last_error.length <= 1_000 && pending.last_error.length > 0);
    });

    it('never delivers a message twice when two workers run at the same time', async () => {
      const subjects = Array.from({ length: 30 }, (_, i) => `Concurrent ${i}`);
      for (const subject of subjects) await enqueue(message(subject));
      const a = worker({ batchSize: 4 });
      const b = worker({ batchSize: 4 });
      const drain = async (w: OutboxWorker) => {
        let delivered = 0;
        for (;;) {
          const result = await w.runOnce();
          assert.equal(result.failed, 0);
          if (result.delivered === 0) return delivered;
          delivered += result.delivered;
        }
      };
      const [fromA, fromB] = await Promise.all([drain(a), drain(b)]);
      assert.equal(fromA + fromB, subjects.length);
      for (const subject of subjects) assert.equal(received(subject), 1, subject);
      const rows = await database.db.selectFrom('outbox').select(['attempts', 'delivered_at']).execute();
      assert.ok(rows.every((r) => r.attempts === 1 && r.delivered_at !== null));
    });

    it('never sends a message twice when many workers race for a long queue', async () => {
      // A transport with no network in the way, so the claims themselves overlap as much as possible.
      const sends = new Map<string, number>();
      const counting = fakeTransport(async (m) => void sends.set(m.subject, (sends.get(m.subject) ?? 0) + 1));
      const subjects = Array.from({ length: 120 }, (_, i) => `Race ${i}`);
      for (const subject of subjects) await enqueue(message(subject));
      const workers = Array.from({ length: 4 }, () => worker({ transport: counting, batchSize: 3 }));
      const drain = async (w: OutboxWorker) => {
        while ((await w.runOnce()).delivered > 0);
      };
      await Promise.all(workers.map(drain));
      assert.equal(sends.size, subjects.length);
      assert.deepEqual(
        [...sends.entries()].filter(([, count]) => count !== 1),
        [],
      );
    });

    it('hands back unsent mail once half its lease is spent, without counting an attempt', async () => {
      // Each send takes as long as the whole lease, so after the first the rest could be claimed by others.
      const slow = fakeTransport(async () => clock.advance(60_000));
      const w = worker({ transport: slow, leaseMs: 60_000 });
      const ids: string[] = [];
      for (const subject of ['Slow 1', 'Slow 2', 'Slow 3']) {
        ids.push(await enqueue(message(subject)));
        clock.advance(1);
      }
      assert.deepEqual(await w.runOnce(), { delivered: 1, failed: 0 });
      assert.deepEqual(
        slow.sent.map((m) => m.subject),
        ['Slow 1'],
      );
      for (const id of ids.slice(1)) {
        const released = await row(id);
        assert.equal(released.attempts, 0);
        assert.equal(released.delivered_at, null);
        assert.deepEqual(released.available_at, clock.now());
      }
      assert.deepEqual(await w.runOnce(), { delivered: 1, failed: 0 });
      assert.deepEqual(
        slow.sent.map((m) => m.subject),
        ['Slow 1', 'Slow 2'],
      );
    });

    it('does not let a worker whose lease ran out overwrite the lease of the worker that took over', async () => {
      const other = worker({ transport: fakeTransport(async () => Promise.reject(new Error('second worker failed'))) });
      // While the first worker is stuck in a send, its lease runs out and another worker claims the row
      // (and fails too, scheduling its own retry).
      const stuck = fakeTransport(async () => {
        clock.advance(61_000);
        assert.deepEqual(await other.runOnce(), { delivered: 0, failed: 1 });
        throw new Error('first worker timed out');
      });
      const id = await enqueue(message('Taken over'));
      assert.deepEqual(await worker({ transport: stuck }).runOnce(), { delivered: 0, failed: 1 });
      const final = await row(id);
      assert.equal(final.attempts, 2);
      assert.equal(final.last_error, 'second worker failed');
      assert.equal(final.available_at.getTime() - clock.now().getTime(), 10_000, "the second attempt's backoff stands");
    });

    it('drops extra properties from the payload and refuses a message without a recipient', async () => {
      const id = await enqueue({ ...message('Extra'), bcc: 'eve@example.test' } as MailMessage);
      assert.deepEqual((await row(id)).payload, message('Extra'));
      await assert.rejects(enqueue({ ...message('No one'), to: ' ' }), TypeError);
    });

    it('sends soon after a poke when started, and does nothing once stopped', async () => {
      const w = worker({ pollIntervalMs: 60 * 60_000 });
      w.start();
      // Let the start-up run find the empty queue, so only the poke can send what follows.
      await new Promise((resolve) => setTimeout(resolve, 50));
      await enqueue(message('Poked'));
      w.poke();
      await smtp.waitFor((m) => m.subject === 'Poked');
      await w.stop();
      const id = await enqueue(message('After stop'));
      w.poke();
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal((await row(id)).delivered_at, null, 'a stopped worker ignores pokes');
      assert.deepEqual(await w.runOnce(), { delivered: 1, failed: 0 });
      assert.equal(received('Poked'), 1);
    });

    it('stop waits for the send in flight', async () => {
      let entered!: () => void;
      let release!: () => void;
      const sending = new Promise<void>((resolve) => (entered = resolve));
      const gate = new Promise<void>((resolve) => (release = resolve));
      const blocked = fakeTransport(async () => {
        entered();
        await gate;
      });
      const id = await enqueue(message('In flight'));
      const w = worker({ transport: blocked });
      w.start();
      await sending;
      let stopped = false;
      const stopping = w.stop().then(() => (stopped = true));
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(stopped, false);
      release();
      await stopping;
      assert.equal(blocked.sent.length, 1);
      assert.notEqual((await row(id)).delivered_at, null, 'the delivery was recorded before stop returned');
    });

    it('purges delivered mail older than a cut-off and keeps pending mail', async () => {
      const w = worker();
      const delivered = await enqueue(message('Old'));
      await w.runOnce();
      clock.advance(60_000);
      await smtp.stop();
      const pending = await enqueue(message('Pending'));
      await w.runOnce();
      assert.equal(await w.purgeDelivered(clock.now()), 1);
      const left = await database.db.selectFrom('outbox').select('id').execute();
      assert.deepEqual(
        left.map((r) => r.id),
        [pending],
      );
      assert.notEqual(delivered, pending);
    });
  });
}
