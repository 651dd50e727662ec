import http from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import type { Clock } from '../platform/clock.ts';
import { type Db, withSystem } from '../platform/db/context.ts';
import { newId } from '../platform/ids.ts';
import { type OutboxLogger, OutboxWorker } from '../platform/outbox.ts';
import { Poller } from '../platform/poller.ts';
import { openSecret } from '../platform/secret-box.ts';
import { EVENT_TOPIC, isWebhookEventType, type WebhookEvent } from './events.ts';
import { signatureHeaders } from './signing.ts';
import { checkWebhookUrl } from './url-guard.ts';
import { type ClaimedDelivery, claimDueDeliveries, insertDeliveries, listSubscribedEndpoints, recordAttempt } from './webhooks.repository.ts';

/**
 * Standard Webhooks' retry schedule: after the first attempt, again in 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h; a
 * delivery that failed all eight attempts (about 28 hours) is dead — kept in the endpoint's log, replayable.
 */
export const RETRY_DELAYS_MS = [5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000] as const;
export const MAX_ATTEMPTS = RETRY_DELAYS_MS.length + 1;
const TIMEOUT_MS = 10_000;
const LEASE_MS = 60_000;
const BATCH = 20;
const MAX_ERROR_LENGTH = 500;

export interface WebhookWorkerOptions {
  db: Db;
  clock: Clock;
  secretKey: Buffer;
  logger: OutboxLogger;
  allowPrivate: boolean;
  /** How often idle workers look for due work. */
  pollIntervalMs?: number;
}

export interface DeliveryRunResult {
  delivered: number;
  failed: number;
  dead: number;
}

/**
 * Both halves of webhook delivery. `events` takes the events changes queued in their own transactions (the outbox's
 * `webhook-event` topic) and fans each out to the endpoints subscribed to it, one delivery row per endpoint;
 * `deliveries` sends due deliveries, signed, and records every attempt. Any number of processes may run both: claims
 * are leases, so a delivery goes out at least once, and receivers drop repeats by `webhook-id`.
 */
export class WebhookWorkers {
  readonly events: OutboxWorker<WebhookEvent>;
  readonly #deliveries: Poller<DeliveryRunResult>;
  readonly #options: WebhookWorkerOptions;

  constructor(options: WebhookWorkerOptions) {
    this.#options = options;
    this.events = new OutboxWorker<WebhookEvent>({
      db: options.db,
      clock: options.clock,
      logger: options.logger,
      ...(options.pollIntervalMs === undefined ? {} : { pollIntervalMs: options.pollIntervalMs }),
      consumer: {
        topic: EVENT_TOPIC,
        name: 'webhook event',
        parse: (payload) => {
          const e = payload as Partial<WebhookEvent> | null;
          return typeof e?.messageId === 'string' && typeof e.type === 'string' && isWebhookEventType(e.type) && typeof e.data?.tenantId === 'string'
            ? (e as WebhookEvent)
            : undefined;
        },
        deliver: (event) => this.#fanOut(event),
        describe: (event) => ({ eventType: event.type, tenantId: event.data.tenantId, messageId: event.messageId }),
      },
    });
    this.#deliveries = new Poller({
      run: () => this.#deliverDue(),
      more: (result) => result.delivered + result.failed + result.dead >= BATCH,
      onError: (error) => options.logger.error({ err: error }, 'webhook delivery run failed'),
      intervalMs: options.pollIntervalMs ?? 1_000,
    });
  }

  start(): void {
    this.events.start();
    this.#deliveries.start();
  }

  /** Work was committed: look now rather than at the next poll. */
  poke(): void {
    this.events.poke();
    this.#deliveries.poke();
  }

  async stop(): Promise<void> {
    await this.events.stop();
    await this.#deliveries.stop();
  }

  /** Fans out everything queued, then attempts one batch of what is due (tests drive this by hand). */
  async runOnce(): Promise<DeliveryRunResult> {
    for (let run = await this.events.runOnce(); run.delivered + run.failed > 0; run = await this.events.runOnce());
    return this.#deliveries.runOnce();
  }

  async #fanOut(event: WebhookEvent): Promise<void> {
    const now = this.#options.clock.now();
    const added = await withSystem(this.#options.db, async (trx) => {
      const endpoints = await listSubscribedEndpoints(trx, event.data.tenantId, event.type);
      await insertDeliveries(
        trx,
        endpoints.map((endpoint) => ({
          id: newId('webhookDelivery'),
          endpointId: endpoint.id,
          tenantId: endpoint.tenant_id,
          messageId: event.messageId,
          eventType: event.type,
          eventTenantId: event.data.tenantId,
          payload: { type: event.type, timestamp: event.timestamp, data: event.data },
          now,
        })),
      );
      return endpoints.length;
    });
    if (added > 0) this.#deliveries.poke();
  }

  async #deliverDue(): Promise<DeliveryRunResult> {
    const now = this.#options.clock.now();
    const claimed = await withSystem(this.#options.db, (trx) => claimDueDeliveries(trx, { now, leaseUntil: new Date(now.getTime() + LEASE_MS), limit: BATCH }));
    const result: DeliveryRunResult = { delivered: 0, failed: 0, dead: 0 };
    // Past half the lease another node could claim these rows again: what is left waits for the lease to run out
    // (the attempt is counted; the retry comes a lease later) rather than risk a second send now.
    const sendDeadline = now.getTime() + LEASE_MS / 2;
    for (const delivery of claimed) {
      if (this.#options.clock.now().getTime() >= sendDeadline) break;
      const outcome = await this.#attempt(delivery);
      const at = this.#options.clock.now();
      const dead = !outcome.ok && delivery.attempts >= MAX_ATTEMPTS;
      const status = outcome.ok ? 'delivered' : dead ? 'dead' : 'pending';
      const retryIn = RETRY_DELAYS_MS[Math.min(delivery.attempts - 1, RETRY_DELAYS_MS.length - 1)] ?? 0;
      const record = {
        id: delivery.id,
        attempts: delivery.attempts,
        status,
        at,
        nextAttemptAt: status === 'pending' ? new Date(at.getTime() + retryIn) : at,
        lastStatus: outcome.status,
        lastError: outcome.ok ? null : outcome.error.slice(0, MAX_ERROR_LENGTH),
      } as const;
      await withSystem(this.#options.db, (trx) => recordAttempt(trx, record));
      const fields = { deliveryId: delivery.id, endpointId: delivery.endpoint_id, messageId: delivery.message_id, eventType: delivery.event_type, attempts: delivery.attempts };
      if (outcome.ok) this.#options.logger.info(fields, 'webhook delivered');
      else if (dead) this.#options.logger.error({ ...fields, error: outcome.error }, 'webhook delivery dead after its last attempt');
      else this.#options.logger.warn({ ...fields, error: outcome.error }, 'webhook not delivered; will retry');
      result[outcome.ok ? 'delivered' : dead ? 'dead' : 'failed']++;
    }
    return result;
  }

  async #attempt(delivery: ClaimedDelivery): Promise<{ ok: true; status: number } | { ok: false; status: number | null; error: string }> {
    const verdict = await checkWebhookUrl(delivery.url, { allowPrivate: this.#options.allowPrivate });
    if (!verdict.ok) return { ok: false, status: null, error: `not sent: ${verdict.reason}` };
    const body = JSON.stringify(delivery.payload);
    const headers = {
      'content-type': 'application/json',
      'user-agent': 'Tenantry-Webhooks/1',
      ...signatureHeaders(openSecret(this.#options.secretKey, delivery.secret_sealed), delivery.message_id, this.#options.clock.now(), body),
    };
    try {
      const answer = await post(verdict.url, verdict.address, headers, body);
      if (answer.status >= 200 && answer.status < 300) return { ok: true, status: answer.status };
      return { ok: false, status: answer.status, error: `HTTP ${answer.status}${answer.text === '' ? '' : `: ${answer.text}`}` };
    } catch (error) {
      return { ok: false, status: null, error: error instanceof Error ? error.message : String(error) };
    }
  }
}

/**
 * POSTs to `url`, connecting to `address` (the one the URL check approved); never follows redirects. The whole
 * exchange has TIMEOUT_MS, however slowly the receiver trickles, and only the first 200 bytes of its answer are read.
 */
function post(url: URL, address: string, headers: Record<string, string>, body: string): Promise<{ status: number; text: string }> {
  const family = isIP(address) === 6 ? 6 : 4;
  const lookup: LookupFunction = (_hostname, options, callback) => {
    if (options.all === true) (callback as unknown as (e: null, a: Array<{ address: string; family: number }>) => void)(null, [{ address, family }]);
    else callback(null, address, family);
  };
  const request = url.protocol === 'https:' ? https.request : http.request;
  return new Promise((resolve, reject) => {
    const deadline = setTimeout(() => req.destroy(new Error(`no answer within ${TIMEOUT_MS / 1000} s`)), TIMEOUT_MS);
    const settle = (answer: { status: number; text: string }) => {
      clearTimeout(deadline);
      resolve(answer);
    };
    const req = request(url, { method: 'POST', headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) }, lookup }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        text += chunk;
        if (text.length >= 200) {
          settle({ status: res.statusCode ?? 0, text: text.slice(0, 200) });
          res.destroy();
        }
      });
      res.on('end', () => settle({ status: res.statusCode ?? 0, text }));
      res.on('error', () => settle({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', (error) => {
      clearTimeout(deadline);
      reject(error);
    });
    req.end(body);
  });
}
