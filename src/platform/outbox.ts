import type { FastifyBaseLogger } from 'fastify';
import { sql } from 'kysely';
import type { Clock } from './clock.ts';
import type { Db } from './db/context.ts';
import { Poller } from './poller.ts';

/**
 * The outbox (SPEC): a row is written in the same transaction as the change that causes it, so a rolled-back change
 * sends nothing and a committed one is delivered eventually — a crash or an outage of the other end delays delivery
 * but never loses it, and never fails the request. Each topic has its consumer (mail, the Mosquitto sync).
 */
/** The first retry waits this long; each further failure doubles it, up to maxBackoffMs. */
const FIRST_BACKOFF_MS = 5_000;
/** From this many failed attempts on (about ten minutes of outage at the default backoff), failures log at error level. */
const ERROR_AFTER_ATTEMPTS = 8;
const MAX_ERROR_LENGTH = 1_000;

/**
 * What delivers one topic of the outbox: mail, the Mosquitto broker's sync. A payload that `parse` rejects is a failed
 * attempt like any other (it stays, retried at the longest backoff, logged as an error) rather than being dropped.
 */
export interface OutboxConsumer<T> {
  /** The rows it delivers (`outbox.topic`). */
  topic: string;
  /** What it is called in logs: "mail sent", "mail not sent; will retry". */
  name: string;
  parse(payload: unknown): T | undefined;
  /** Resolves once the item is handed over; rejects to be retried. */
  deliver(item: T): Promise<void>;
  /** Log fields naming an item; never a secret. */
  describe(item: T): Record<string, unknown>;
  /** What of the payload is kept once delivered (default: all of it); drops what must not outlive delivery. */
  scrub?(item: T): unknown;
}

export type OutboxLogger = Pick<FastifyBaseLogger, 'debug' | 'info' | 'warn' | 'error'>;

export interface OutboxWorkerOptions<T> {
  db: Db;
  clock: Clock;
  logger: OutboxLogger;
  consumer: OutboxConsumer<T>;
  /** How often an idle worker looks for due rows. */
  pollIntervalMs?: number;
  /** Most messages claimed by one run. */
  batchSize?: number;
  /** How long a claim keeps other workers off a message; must comfortably exceed one send. */
  leaseMs?: number;
  /** The longest wait between two attempts at one message. */
  maxBackoffMs?: number;
}

export interface OutboxRunResult {
  delivered: number;
  failed: number;
}

interface ClaimedRow {
  id: string;
  payload: unknown;
  attempts: number;
  created_at: Date;
}

/**
 * Delivers one topic of the outbox. Any number of workers (one per server process) may share a database: each run
 * claims due rows with a single statement that pushes their `available_at` a lease into the future, so no
 * transaction stays open while talking to the SMTP server or the broker. A worker that dies mid-send leaves its rows
 * to be claimed again when the lease runs out, so delivery is at least once, never "at most".
 */
export class OutboxWorker<T> {
  readonly #db: Db;
  readonly #consumer: OutboxConsumer<T>;
  readonly #clock: Clock;
  readonly #logger: OutboxLogger;
  readonly #batchSize: number;
  readonly #leaseMs: number;
  readonly #maxBackoffMs: number;

  readonly #poller: Poller<OutboxRunResult>;

  constructor(options: OutboxWorkerOptions<T>) {
    this.#db = options.db;
    this.#consumer = options.consumer;
    this.#clock = options.clock;
    this.#logger = options.logger;
    this.#batchSize = options.batchSize ?? 20;
    this.#leaseMs = options.leaseMs ?? 60_000;
    this.#maxBackoffMs = options.maxBackoffMs ?? 60 * 60_000;
    this.#poller = new Poller({
      run: () => this.#runBatch(),
      // A full batch means more may be due already.
      more: (result) => result.delivered + result.failed >= this.#batchSize,
      onError: (error) => this.#logger.error({ err: error }, `${this.#consumer.name} outbox run failed`),
      intervalMs: options.pollIntervalMs ?? 1_000,
    });
  }

  /** Starts polling (see Poller). */
  start(): void {
    this.#poller.start();
  }

  /** Asks for a run soon, e.g. right after a request committed mail, instead of at the next poll. */
  poke(): void {
    this.#poller.poke();
  }

  /** Stops polling and waits for a run in flight to finish. */
  stop(): Promise<void> {
    return this.#poller.stop();
  }

  /** Claims one batch of due rows and tries to deliver each once. */
  runOnce(): Promise<OutboxRunResult> {
    return this.#poller.runOnce();
  }

  /** Deletes delivered rows older than `olderThan` (the rows are the record of what was sent until then). */
  async purgeDelivered(olderThan: Date): Promise<number> {
    const result = await this.#db
      .deleteFrom('outbox')
      .where('topic', '=', this.#consumer.topic)
      .where('delivered_at', 'is not', null)
      .where('delivered_at', '<', olderThan)
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async #runBatch(): Promise<OutboxRunResult> {
    const claimedAt = this.#clock.now();
    const leaseUntil = new Date(claimedAt.getTime() + this.#leaseMs);
    const rows = await this.#claim(claimedAt, leaseUntil);
    const result: OutboxRunResult = { delivered: 0, failed: 0 };
    // Past half the lease another worker could soon claim these rows too; hand back what is left unsent
    // rather than risk sending it twice.
    const sendDeadline = claimedAt.getTime() + this.#leaseMs / 2;
    for (const [index, row] of rows.entries()) {
      if (this.#clock.now().getTime() >= sendDeadline) {
        await this.#release(rows.slice(index));
        break;
      }
      if (await this.#deliver(row)) result.delivered++;
      else result.failed++;
    }
    return result;
  }

  /** One short statement: due rows move a lease into the future and count an attempt. */
  async #claim(now: Date, leaseUntil: Date): Promise<ClaimedRow[]> {
    const rows = await this.#db
      .updateTable('outbox')
      .set({ available_at: leaseUntil, attempts: sql<number>`attempts + 1` })
      .where('id', 'in', (eb) =>
        eb
          .selectFrom('outbox')
          .select('id')
          .where('topic', '=', this.#consumer.topic)
          .where('delivered_at', 'is', null)
          .where('available_at', '<=', now)
          .orderBy('available_at')
          .orderBy('created_at')
          .limit(this.#batchSize)
          // Rows another worker is claiming at this instant are skipped, not waited for.
          .forUpdate()
          .skipLocked(),
      )
      .returning(['id', 'payload', 'attempts', 'created_at'])
      .execute();
    // RETURNING comes in no particular order: send oldest first.
    return rows.sort((a, b) => a.created_at.getTime() - b.created_at.getTime());
  }

  async #deliver(row: ClaimedRow): Promise<boolean> {
    const item = this.#consumer.parse(row.payload);
    if (item === undefined) {
      await this.#recordFailure(row, new Error(`outbox payload is not a ${this.#consumer.name} item`), undefined);
      return false;
    }
    try {
      await this.#consumer.deliver(item);
    } catch (error) {
      await this.#recordFailure(row, error, item);
      return false;
    }
    const scrubbed = this.#consumer.scrub === undefined ? {} : { payload: JSON.stringify(this.#consumer.scrub(item)) };
    await this.#db
      .updateTable('outbox')
      .set({ delivered_at: this.#clock.now(), last_error: null, ...scrubbed })
      .where('id', '=', row.id)
      .where('delivered_at', 'is', null)
      .execute();
    this.#logger.info({ outboxId: row.id, ...this.#consumer.describe(item), attempts: row.attempts }, `${this.#consumer.name} sent`);
    return true;
  }

  async #recordFailure(row: ClaimedRow, error: unknown, item: T | undefined): Promise<void> {
    const backoffMs = Math.min(FIRST_BACKOFF_MS * 2 ** (row.attempts - 1), this.#maxBackoffMs);
    const retryAt = new Date(this.#clock.now().getTime() + backoffMs);
    const reason = (error instanceof Error ? error.message : String(error)).slice(0, MAX_ERROR_LENGTH);
    await this.#db
      .updateTable('outbox')
      .set({ last_error: reason, available_at: retryAt })
      .where('id', '=', row.id)
      // The attempt count is our claim's fencing token: if the lease ran out and another worker has
      // claimed the row since, leave its lease alone.
      .where('attempts', '=', row.attempts)
      .where('delivered_at', 'is', null)
      .execute();
    // Nothing is ever dropped: it keeps being retried at the longest backoff, and once it has failed for
    // a while every further failure is an error an operator should see.
    const persistent = row.attempts >= ERROR_AFTER_ATTEMPTS || backoffMs >= this.#maxBackoffMs;
    const fields = { outboxId: row.id, ...(item === undefined ? {} : this.#consumer.describe(item)), attempts: row.attempts, retryAt, error: reason };
    if (persistent) this.#logger.error(fields, `${this.#consumer.name} still not sent; will keep retrying`);
    else this.#logger.warn(fields, `${this.#consumer.name} not sent; will retry`);
  }

  /** Gives unsent rows back to the queue at once, without counting the attempt they did not get. */
  async #release(rows: ClaimedRow[]): Promise<void> {
    const now = this.#clock.now();
    for (const row of rows) {
      await this.#db
        .updateTable('outbox')
        .set({ available_at: now, attempts: sql<number>`attempts - 1` })
        .where('id', '=', row.id)
        .where('attempts', '=', row.attempts)
        .where('delivered_at', 'is', null)
        .execute();
    }
  }
}
