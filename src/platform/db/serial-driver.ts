import type { DatabaseConnection, Driver, QueryCompiler, TransactionSettings } from 'kysely';
import type { Mutex } from './mutex.ts';

/**
 * PGlite has exactly one connection, and Kysely's PGlite driver hands that same connection to every
 * caller, so two overlapping transactions would interleave their statements. This driver makes the
 * connection exclusive: Kysely acquires it per query or per transaction and we hold a mutex until it is
 * released. Consequence (also true on a pool of one): code inside a transaction must use the transaction,
 * never the root Kysely instance, or it waits for itself.
 */
export class SerialDriver implements Driver {
  readonly #inner: Driver;
  readonly #mutex: Mutex;
  readonly #releases = new Map<DatabaseConnection, () => void>();

  constructor(inner: Driver, mutex: Mutex) {
    this.#inner = inner;
    this.#mutex = mutex;
  }

  init(): Promise<void> {
    return this.#mutex.run(() => this.#inner.init());
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    const release = await this.#mutex.lock();
    try {
      const connection = await this.#inner.acquireConnection();
      this.#releases.set(connection, release);
      return connection;
    } catch (error) {
      release();
      throw error;
    }
  }

  async releaseConnection(connection: DatabaseConnection): Promise<void> {
    try {
      await this.#inner.releaseConnection(connection);
    } finally {
      const release = this.#releases.get(connection);
      this.#releases.delete(connection);
      release?.();
    }
  }

  beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    return this.#inner.beginTransaction(connection, settings);
  }

  commitTransaction(connection: DatabaseConnection): Promise<void> {
    return this.#inner.commitTransaction(connection);
  }

  rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    return this.#inner.rollbackTransaction(connection);
  }

  async savepoint(connection: DatabaseConnection, name: string, compile: QueryCompiler['compileQuery']): Promise<void> {
    await this.#inner.savepoint?.(connection, name, compile);
  }

  async rollbackToSavepoint(connection: DatabaseConnection, name: string, compile: QueryCompiler['compileQuery']): Promise<void> {
    await this.#inner.rollbackToSavepoint?.(connection, name, compile);
  }

  async releaseSavepoint(connection: DatabaseConnection, name: string, compile: QueryCompiler['compileQuery']): Promise<void> {
    await this.#inner.releaseSavepoint?.(connection, name, compile);
  }

  destroy(): Promise<void> {
    return this.#mutex.run(() => this.#inner.destroy());
  }
}
