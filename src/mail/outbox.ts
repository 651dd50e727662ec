import type { Clock } from '../platform/clock.ts';
import type { Tx } from '../platform/db/context.ts';
import { OutboxWorker as TopicWorker, type OutboxWorkerOptions as TopicWorkerOptions } from '../platform/outbox.ts';
import { newId } from '../platform/ids.ts';
import type { MailMessage, MailTransport } from './mail.types.ts';

/** Mail goes through the outbox (src/platform/outbox.ts): an SMTP outage delays mail but never loses it. */
const TOPIC = 'mail';

/** Queues `message` inside the caller's transaction; returns the outbox id. */
export async function enqueueMail(trx: Tx, clock: Clock, message: MailMessage): Promise<string> {
  // Only the four fields: the payload is the record of what was sent, not a place for stray properties.
  const payload = { to: message.to, subject: message.subject, text: message.text, html: message.html };
  if (!isMailMessage(payload) || payload.to.trim() === '') throw new TypeError('enqueueMail: to, subject, text and html must be strings, to non-empty');
  const id = newId('outbox');
  const now = clock.now();
  await trx
    .insertInto('outbox')
    .values({ id, topic: TOPIC, payload: JSON.stringify(payload), created_at: now, available_at: now })
    .execute();
  return id;
}

export type OutboxWorkerOptions = Omit<TopicWorkerOptions<MailMessage>, 'consumer'> & { transport: MailTransport };
export type { OutboxRunResult } from '../platform/outbox.ts';

/** Sends queued mail through `transport` (the outbox's `mail` topic). */
export class OutboxWorker extends TopicWorker<MailMessage> {
  constructor(options: OutboxWorkerOptions) {
    const { transport, ...rest } = options;
    super({
      ...rest,
      consumer: {
        topic: TOPIC,
        name: 'mail',
        parse: (payload) => (isMailMessage(payload) ? payload : undefined),
        deliver: (message) => transport.send(message),
        describe: (m) => ({ to: m.to, subject: m.subject }),
      },
    });
  }
}

function isMailMessage(value: unknown): value is MailMessage {
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Record<string, unknown>;
  return typeof record.to === 'string' && typeof record.subject === 'string' && typeof record.text === 'string' && typeof record.html === 'string';
}
