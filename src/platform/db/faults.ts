import type { Db, Tx } from './context.ts';

/**
 * Named places inside write transactions where a test can pause a command or make it fail (the hostile suite's
 * crash and race tests, issue 14). `commit` is every write transaction's last step before COMMIT; the others
 * sit between two writes of one command, where a half-done command would show if atomicity did not hold.
 *
 * Nothing in configuration or the environment arms them: only code holding the `Db` handle can, through
 * `injectFaults`, and the server never calls it. Unarmed, a point costs one WeakMap lookup.
 */
export type FaultPoint = 'commit' | 'tenant.created' | 'invitation.claimed' | 'members.roles-written';

/** What an armed point does: resolve to go on, reject to fail the transaction, never settle to hold it open. */
export type FaultInjector = (point: FaultPoint) => Promise<void>;

const injectors = new WeakMap<Db, FaultInjector>();
const armed = new WeakMap<Tx, FaultInjector>();

/** Arms the fault points of every transaction on `db` opened from now on; returns the disarm. */
export function injectFaults(db: Db, injector: FaultInjector): () => void {
  injectors.set(db, injector);
  return () => {
    if (injectors.get(db) === injector) injectors.delete(db);
  };
}

/** Called by `inTransaction` as a transaction opens: the transaction carries `db`'s injector, if armed. */
export function armTransaction(db: Db, trx: Tx): FaultInjector | undefined {
  const injector = injectors.get(db);
  if (injector !== undefined) armed.set(trx, injector);
  return injector;
}

/** A named point inside a command's transaction: nothing, unless a test armed `trx`'s database. */
export async function faultPoint(trx: Tx, point: FaultPoint): Promise<void> {
  const injector = armed.get(trx);
  if (injector !== undefined) await injector(point);
}
