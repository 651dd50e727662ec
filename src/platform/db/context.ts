import { AsyncLocalStorage } from 'node:async_hooks';
import { type Kysely, sql, type Transaction } from 'kysely';
import { armTransaction } from './faults.ts';
import type { DB } from './schema.ts';

export type Db = Kysely<DB>;
export type Tx = Transaction<DB>;

/**
 * Runs `fn` in one transaction whose row-level-security context is `tenantId`: every tenant-scoped table
 * shows and accepts only that tenant's rows. The setting is transaction-local (`set_config(…, true)`), so
 * it ends with the transaction and a pooled connection never carries it into another request.
 */
export async function withTenant<T>(db: Db, tenantId: string, fn: (trx: Tx) => Promise<T>): Promise<T> {
  const result = await inTransaction(db, async (trx) => {
    await enterTenantContext(trx, tenantId);
    await runPrependedWrite(trx);
    return fn(trx);
  });
  notifyCommitted(db, tenantId);
  return result;
}

/**
 * `withTenant` for reads: a READ ONLY transaction (a write in it fails), so it needs no cache
 * invalidation afterwards. Also takes the user context when given, for reads that span both.
 */
export async function readTenant<T>(db: Db, tenantId: string, fn: (trx: Tx) => Promise<T>, userId?: string): Promise<T> {
  return db
    .transaction()
    .setAccessMode('read only')
    .execute(async (trx) => {
      await enterTenantContext(trx, tenantId);
      if (userId !== undefined) await enterUserContext(trx, userId);
      return fn(trx);
    });
}

/** `withSystem` for reads: READ ONLY, so it needs (and triggers) no cache invalidation. */
export async function readSystem<T>(db: Db, fn: (trx: Tx) => Promise<T>): Promise<T> {
  return db
    .transaction()
    .setAccessMode('read only')
    .execute(async (trx) => {
      await sql`SELECT set_config('tenantry.system', 'on', true)`.execute(trx);
      return fn(trx);
    });
}

const commitListeners = new WeakMap<Db, Set<(scope: string) => void>>();

/**
 * Calls `listener` after every committed `withTenant` on `db` (with the tenant id) and `withSystem` (with
 * '*'), before the caller continues, so this process's caches never serve a permission a just-committed
 * change removed. Other processes learn the same through NOTIFY (see AccessResolver). Every listener
 * registered on a `db` is called (several apps may share one), in registration order; returns the
 * unsubscribe, for when the listener's owner closes.
 */
export function onCommittedScope(db: Db, listener: (scope: string) => void): () => void {
  let listeners = commitListeners.get(db);
  if (listeners === undefined) {
    listeners = new Set();
    commitListeners.set(db, listeners);
  }
  // Wrapped, so registering the same function twice gives two subscriptions, each with its own unsubscribe.
  const subscription = (scope: string) => listener(scope);
  listeners.add(subscription);
  return () => {
    listeners.delete(subscription);
  };
}

const alsoInvalidated = new WeakMap<Tx, Set<string>>();
/** The transactions opened by `inTransaction` (which every helper here builds on): they read `alsoInvalidated` at commit. */
const tracked = new WeakSet<Tx>();

/**
 * Asks for `scope` (a tenant id, `user:<id>` or '*') to be dropped from this process's caches too when `trx`
 * commits, besides the tenant `withTenant` drops anyway: for a change whose effects reach beyond the
 * transaction's own tenant (a staff change in the admin tenancy ends shadow access elsewhere). Other processes
 * hear of it through the NOTIFY triggers. Works in `withTenant`, `withSystem` (which drops everything anyway),
 * `withUser` and `inTransaction`.
 */
export function invalidateAfterCommit(trx: Tx, scope: string): void {
  // A transaction opened elsewhere would drop the request silently and leave a revoked credential cached.
  if (!tracked.has(trx)) throw new Error('invalidateAfterCommit needs a transaction opened by withTenant, withSystem, withUser or inTransaction');
  let scopes = alsoInvalidated.get(trx);
  if (scopes === undefined) {
    scopes = new Set();
    alsoInvalidated.set(trx, scopes);
  }
  scopes.add(scope);
}

function notifyCommitted(db: Db, scope: string): void {
  // A copy: a listener that unsubscribes (or subscribes another) while being called changes nothing here.
  for (const listener of [...(commitListeners.get(db) ?? [])]) listener(scope);
}

/** Switches an open transaction to `tenantId`'s context (e.g. after creating that tenant). */
export async function enterTenantContext(trx: Tx, tenantId: string): Promise<void> {
  await sql`SELECT set_config('tenantry.tenant_id', ${tenantId}, true)`.execute(trx);
}

/** Adds `userId`'s own-rows visibility to an open transaction (see withUser). */
export async function enterUserContext(trx: Tx, userId: string): Promise<void> {
  await sql`SELECT set_config('tenantry.user_id', ${userId}, true)`.execute(trx);
}

/**
 * Runs `fn` in one transaction that may see every tenant. Only for platform work that is tenant-wide by
 * nature (the operator's tenant list, purge jobs, creating a tenant before its id exists in a context);
 * each caller says why in a comment.
 */
export async function withSystem<T>(db: Db, fn: (trx: Tx) => Promise<T>): Promise<T> {
  const result = await inTransaction(db, async (trx) => {
    await sql`SELECT set_config('tenantry.system', 'on', true)`.execute(trx);
    await runPrependedWrite(trx);
    return fn(trx);
  });
  notifyCommitted(db, '*');
  return result;
}

/**
 * Runs `fn` in one transaction in which `userId` may read their own memberships and the tenants they
 * belong to, across tenants (sign-in, `GET /auth/me`, the tenant switcher). Writes to tenant-scoped
 * tables still need `withTenant`.
 */
export async function withUser<T>(db: Db, userId: string, fn: (trx: Tx) => Promise<T>): Promise<T> {
  return inTransaction(db, async (trx) => {
    await enterUserContext(trx, userId);
    return fn(trx);
  });
}

/**
 * Runs `fn` in one plain transaction (no context: it sees no tenant-scoped rows until `fn` enters one) that
 * honours `invalidateAfterCommit`. Every transaction that writes goes through this or one of the `with…`
 * helpers, so what it changes leaves this process's caches before the caller goes on.
 */
export async function inTransaction<T>(db: Db, fn: (trx: Tx) => Promise<T>): Promise<T> {
  let also: ReadonlySet<string> | undefined;
  const result = await db.transaction().execute(async (trx) => {
    tracked.add(trx);
    const faults = armTransaction(db, trx);
    try {
      const result = await fn(trx);
      await faults?.('commit');
      return result;
    } finally {
      also = alsoInvalidated.get(trx);
    }
  });
  for (const scope of also ?? []) notifyCommitted(db, scope);
  return result;
}

interface PrependedWrite {
  hook: (trx: Tx) => Promise<void>;
  ran: boolean;
}

const prependedWrites = new AsyncLocalStorage<PrependedWrite>();

/**
 * Runs `fn`; the first write transaction it opens (`withTenant` or `withSystem`) runs `hook` first, in that
 * transaction's context, so what `hook` writes commits with the rest of it or not at all. `hooked` is false
 * when `fn` opened no write transaction. An approved action is marked executed this way, atomically with the
 * action itself, whichever service carries the action out (and racing approvals queue on the request's row
 * before either action starts).
 */
export async function prependToFirstWrite<T>(hook: (trx: Tx) => Promise<void>, fn: () => Promise<T>): Promise<{ result: T; hooked: boolean }> {
  const slot: PrependedWrite = { hook, ran: false };
  const result = await prependedWrites.run(slot, fn);
  return { result, hooked: slot.ran };
}

async function runPrependedWrite(trx: Tx): Promise<void> {
  const slot = prependedWrites.getStore();
  if (slot === undefined || slot.ran) return;
  slot.ran = true;
  await slot.hook(trx);
}
