import { authenticateKeyId, isKeyRefusedByTenant } from '../api-keys/api-keys.service.ts';
import type { Clock } from '../platform/clock.ts';
import type { Tx } from '../platform/db/context.ts';
import { AppError } from '../platform/http/errors.ts';
import { newId } from '../platform/ids.ts';
import { type OutboxConsumer, type OutboxLogger, OutboxWorker } from '../platform/outbox.ts';
import { openSecret, sealSecret } from '../platform/secret-box.ts';
import { DynsecClient, type DynsecCommand } from './dynsec.ts';
import { type MqttDeps, rightsOf, tenantOfKey } from './mqtt.service.ts';

/**
 * Issue 16: Tenantry keeps a Mosquitto 2 broker's dynamic-security plugin in step with API keys and tenants. A key
 * with MQTT rights is a dynsec client (username: the key id, password: the key's secret) holding its tenant's roles:
 * `tenantry-device-<tenant>` (publish, subscribe and receive under `<tenant>/#`) and `tenantry-subscriber-<tenant>`
 * (subscribe and receive under `<tenant>/#`). Mosquitto 2.0's ACLs cannot name the client id, so there a device is
 * confined to its tenant rather than to `<tenant>/<client id>/…` (the HTTP endpoints enforce that; README).
 *
 * The broker learns a secret only once, when the key is made: the outbox row written with the key carries it sealed
 * under the server's secret key, and is scrubbed once delivered. Everything else is state, not events: whenever a key
 * or a tenant changes (the invalidation every process already hears), and once a minute for expiry and anything
 * missed while the broker was away, the clients are made to match what the keys and tenants allow now (and a key that
 * expires within the minute is synced at its expiry) — deleted when a
 * key is revoked, expired or its tenant deleted, disabled (which disconnects them) while the tenant is not active or
 * the key has lost its MQTT rights, enabled again when that ends.
 */
const TOPIC = 'mosquitto';
const RECONCILE_MS = 60_000;
const CLIENT_PREFIX = 'key_';

interface KeyToCreate {
  tenantId: string;
  keyId: string;
  /** The key's secret, sealed (`secret-box.ts`); absent once delivered. */
  sealed?: string;
}

type Desired = { state: 'absent' } | { state: 'disabled' } | { state: 'enabled'; roles: string[] };

/** In the transaction that creates the key: queues it for the broker, its secret sealed until delivered. */
export async function queueKeyForMosquitto(trx: Tx, deps: { clock: Clock; secretKey: Buffer }, key: { tenantId: string; keyId: string; secret: string }): Promise<void> {
  const now = deps.clock.now();
  const payload: KeyToCreate = { tenantId: key.tenantId, keyId: key.keyId, sealed: sealSecret(deps.secretKey, key.secret) };
  await trx
    .insertInto('outbox')
    .values({ id: newId('outbox'), topic: TOPIC, payload: JSON.stringify(payload), created_at: now, available_at: now })
    .execute();
}

export interface MosquittoSyncOptions {
  url: string;
  deps: MqttDeps & { secretKey: Buffer };
  logger: OutboxLogger;
}

export class MosquittoSync {
  readonly #url: string;
  readonly #deps: MqttDeps & { secretKey: Buffer };
  readonly #logger: OutboxLogger;
  readonly outbox: OutboxWorker<KeyToCreate>;
  #dynsec: DynsecClient | undefined;
  #connecting: Promise<DynsecClient> | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** Tenants whose roles exist on the broker (made once per process; creating one twice is harmless). */
  readonly #roles = new Set<string>();
  /** Tenant ids that own clients on the broker, from the last reconcile and creations since. */
  readonly #tenants = new Set<string>();
  /** One timer per enabled key that expires within the reconcile period: its client goes at its expiry, not up to a minute later. */
  readonly #expiries = new Map<string, NodeJS.Timeout>();
  /** The end of the sync work queued so far (see #exclusive). */
  #tail: Promise<void> = Promise.resolve();

  constructor(options: MosquittoSyncOptions) {
    this.#url = options.url;
    this.#deps = options.deps;
    this.#logger = options.logger;
    const consumer: OutboxConsumer<KeyToCreate> = {
      topic: TOPIC,
      name: 'mosquitto key',
      parse: (payload) => {
        const p = payload as Partial<KeyToCreate> | null;
        return typeof p?.tenantId === 'string' && typeof p.keyId === 'string'
          ? { tenantId: p.tenantId, keyId: p.keyId, ...(typeof p.sealed === 'string' ? { sealed: p.sealed } : {}) }
          : undefined;
      },
      deliver: (key) => this.#exclusive(() => this.#create(key)),
      describe: (key) => ({ tenantId: key.tenantId, keyId: key.keyId }),
      scrub: ({ sealed: _sealed, ...rest }) => rest,
    };
    this.outbox = new OutboxWorker({ db: options.deps.db, clock: options.deps.clock, logger: options.logger, consumer });
  }

  /** In the transaction that creates the key (see `queueKeyForMosquitto`). */
  queueKey(trx: Tx, key: { tenantId: string; keyId: string; secret: string }): Promise<void> {
    return queueKeyForMosquitto(trx, this.#deps, key);
  }

  /** Delivers queued keys and reconciles now and every minute. Timers are unref'd. */
  start(): void {
    this.outbox.start();
    const tick = () => {
      this.reconcile().catch((err: unknown) => this.#logger.warn({ err }, 'mosquitto reconcile failed; will retry'));
      this.#timer = setTimeout(tick, RECONCILE_MS);
      this.#timer.unref();
    };
    tick();
  }

  async stop(): Promise<void> {
    clearTimeout(this.#timer);
    for (const timer of this.#expiries.values()) clearTimeout(timer);
    this.#expiries.clear();
    await this.outbox.stop();
    const dynsec = this.#dynsec;
    this.#dynsec = undefined;
    await dynsec?.close();
  }

  /** A change committed somewhere (the invalidation scopes): a key, a tenant that owns clients, or everything. */
  changed(scope: string): void {
    const keyId = scope.startsWith('key:') ? scope.slice('key:'.length) : undefined;
    const run = keyId !== undefined ? this.syncKeys([keyId]) : scope === '*' || this.#tenants.has(scope) ? this.reconcile() : undefined;
    run?.catch((err: unknown) => this.#logger.warn({ err, scope }, 'mosquitto sync failed; the next reconcile retries'));
  }

  /**
   * Runs sync work one piece at a time: a piece reads the keys' state, then sends commands, so two interleaved pieces
   * could undo each other (a creation that read "enabled" sending createClient after a revocation's deleteClient).
   */
  #exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(work, work);
    this.#tail = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /** Makes the broker's clients of `keyIds` match what their keys allow now (never creates one: that needs the secret). */
  syncKeys(keyIds: readonly string[]): Promise<void> {
    return this.#exclusive(() => this.#syncKeys(keyIds));
  }

  async #syncKeys(keyIds: readonly string[]): Promise<void> {
    const dynsec = await this.#client();
    const commands: DynsecCommand[] = [];
    for (const keyId of keyIds) commands.push(...(await this.#commandsFor(keyId, await this.#desired(keyId), undefined)));
    await dynsec.runStrict(commands, ['Client not found']);
  }

  /** Every `key_…` client on the broker checked against its key, as `syncKeys` does. */
  reconcile(): Promise<void> {
    return this.#exclusive(() => this.#reconcile());
  }

  async #reconcile(): Promise<void> {
    const dynsec = await this.#client();
    const [listed] = await dynsec.runStrict([{ command: 'listClients', verbose: true, count: -1, offset: 0 }]);
    const clients = ((listed?.data?.clients ?? []) as Array<{ username: string; disabled?: boolean; roles?: Array<{ rolename: string }> }>).filter((c) =>
      c.username.startsWith(CLIENT_PREFIX),
    );
    const commands: DynsecCommand[] = [];
    for (const client of clients) {
      const tenantId = await tenantOfKey(this.#deps, client.username);
      if (tenantId !== undefined) this.#tenants.add(tenantId);
      const desired = await this.#desired(client.username);
      commands.push(...(await this.#commandsFor(client.username, desired, { disabled: client.disabled === true, roles: (client.roles ?? []).map((r) => r.rolename).sort() })));
    }
    await dynsec.runStrict(commands, ['Client not found']);
  }

  async #create(key: KeyToCreate): Promise<void> {
    if (key.sealed === undefined) return;
    const dynsec = await this.#client();
    const desired = await this.#desired(key.keyId);
    if (desired.state === 'absent') return;
    const roles = desired.state === 'enabled' ? desired.roles : [];
    await this.#ensureRoles(key.tenantId);
    const password = openSecret(this.#deps.secretKey, key.sealed);
    const [created] = await dynsec.run([{ command: 'createClient', username: key.keyId, password, roles: roles.map((rolename) => ({ rolename })) }]);
    if (created?.error !== undefined && created.error !== 'Client already exists') throw new Error(`createClient: ${created.error}`);
    if (created?.error !== undefined) await dynsec.runStrict([{ command: 'setClientPassword', username: key.keyId, password }]);
    this.#tenants.add(key.tenantId);
    // A client made just now has these roles and is enabled; one that existed (a redelivery) may be anything.
    await dynsec.runStrict(await this.#commandsFor(key.keyId, desired, created?.error === undefined ? { disabled: false, roles } : undefined), ['Client not found']);
  }

  /** What the key allows on the broker now: the rules of every API request (`authenticateKeyId`) plus MQTT rights. */
  async #desired(keyId: string): Promise<Desired> {
    const tenantId = await tenantOfKey(this.#deps, keyId);
    if (tenantId === undefined) return { state: 'absent' };
    try {
      const key = await authenticateKeyId(this.#deps, tenantId, keyId, { recordUse: false });
      if (key.expiresAt !== null) this.#atExpiry(keyId, key.expiresAt);
      const rights = await rightsOf(this.#deps, key);
      const roles = [...(rights.publish ? [deviceRole(tenantId)] : []), ...(rights.subscribe ? [subscriberRole(tenantId)] : [])].sort();
      return roles.length === 0 ? { state: 'disabled' } : { state: 'enabled', roles };
    } catch (error) {
      if (isKeyRefusedByTenant(error)) return { state: 'disabled' };
      if (error instanceof AppError && error.spec.status === 401) return { state: 'absent' };
      throw error;
    }
  }

  #atExpiry(keyId: string, expiresAt: Date): void {
    const inMs = expiresAt.getTime() - this.#deps.clock.now().getTime();
    if (this.#expiries.has(keyId) || inMs > RECONCILE_MS) return;
    const timer = setTimeout(() => {
      this.#expiries.delete(keyId);
      this.syncKeys([keyId]).catch((err: unknown) => this.#logger.warn({ err, keyId }, 'mosquitto sync at key expiry failed; the next reconcile retries'));
    }, Math.max(inMs, 0) + 50);
    timer.unref();
    this.#expiries.set(keyId, timer);
  }

  /** The commands that take a client from `actual` (unknown: assume anything) to `desired`. */
  async #commandsFor(username: string, desired: Desired, actual: { disabled: boolean; roles: string[] } | undefined): Promise<DynsecCommand[]> {
    if (desired.state === 'absent') return [{ command: 'deleteClient', username }];
    if (desired.state === 'disabled') return actual?.disabled === true ? [] : [{ command: 'disableClient', username }];
    const tenantId = await tenantOfKey(this.#deps, username);
    if (tenantId !== undefined) await this.#ensureRoles(tenantId);
    const commands: DynsecCommand[] = [];
    if (actual === undefined || actual.roles.join(' ') !== desired.roles.join(' ')) {
      commands.push({ command: 'modifyClient', username, roles: desired.roles.map((rolename) => ({ rolename })) });
    }
    if (actual === undefined || actual.disabled) commands.push({ command: 'enableClient', username });
    return commands;
  }

  async #ensureRoles(tenantId: string): Promise<void> {
    if (this.#roles.has(tenantId)) return;
    const dynsec = await this.#client();
    const tree = `${tenantId}/#`;
    const acl = (acltype: string) => ({ acltype, topic: tree, allow: true, priority: 0 });
    await dynsec.runStrict(
      [
        {
          command: 'createRole',
          rolename: deviceRole(tenantId),
          acls: [acl('publishClientSend'), acl('subscribePattern'), acl('publishClientReceive'), acl('unsubscribePattern')],
        },
        { command: 'createRole', rolename: subscriberRole(tenantId), acls: [acl('subscribePattern'), acl('publishClientReceive'), acl('unsubscribePattern')] },
      ],
      ['Role already exists'],
    );
    this.#roles.add(tenantId);
  }

  async #client(): Promise<DynsecClient> {
    if (this.#dynsec !== undefined && !this.#dynsec.connected) {
      // The broker went away (a restart loses nothing: its clients are in its file); start afresh rather than wait.
      const stale = this.#dynsec;
      this.#dynsec = undefined;
      await stale.close().catch(() => undefined);
    }
    if (this.#dynsec !== undefined) return this.#dynsec;
    this.#connecting ??= (async () => {
      const client = await DynsecClient.connect(this.#url);
      try {
        // Nothing is allowed unless a role allows it: publishing and subscribing are refused by default.
        await client.runStrict([
          {
            command: 'setDefaultACLAccess',
            acls: [
              { acltype: 'publishClientSend', allow: false },
              { acltype: 'subscribe', allow: false },
            ],
          },
        ]);
      } catch (error) {
        await client.close().catch(() => undefined);
        throw error;
      }
      this.#dynsec = client;
      return client;
    })().finally(() => {
      this.#connecting = undefined;
    });
    return this.#connecting;
  }
}

export function deviceRole(tenantId: string): string {
  return `tenantry-device-${tenantId}`;
}

export function subscriberRole(tenantId: string): string {
  return `tenantry-subscriber-${tenantId}`;
}
