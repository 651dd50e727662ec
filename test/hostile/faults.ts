import { type FaultPoint, injectFaults } from '../../src/platform/db/faults.ts';
import type { Db } from '../../src/platform/db/context.ts';

/**
 * The test side of the fault points (src/platform/db/faults.ts): one plan per database, replaced by each test.
 * `barrier` holds every transaction that reaches a point until `n` have, then lets them all go on together — the
 * way to make N requests race inside their transactions rather than one after another; `pause` holds the next
 * one until released; `fail` makes the next ones throw there.
 */
export class Faults {
  private plan: ((point: FaultPoint) => Promise<void>) | undefined;
  private readonly disarm: () => void;

  constructor(db: Db) {
    this.disarm = injectFaults(db, (point) => this.plan?.(point) ?? Promise.resolve());
  }

  /** Holds transactions at `point` until `n` are there (or `ms` pass: then lets them go, so a lost race cannot hang the test). */
  barrier(point: FaultPoint, n: number, ms = 2_000): { arrived: () => number } {
    let arrived = 0;
    let open!: () => void;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const timer = setTimeout(open, ms);
    this.plan = async (at) => {
      if (at !== point) return;
      arrived += 1;
      if (arrived >= n) {
        clearTimeout(timer);
        open();
      }
      await gate;
    };
    return { arrived: () => arrived };
  }

  /** Holds the first transaction that reaches `point`; `reached` settles when it is there, `release` lets it go on. */
  pause(point: FaultPoint): { reached: Promise<void>; release: () => void } {
    let reach!: () => void;
    let release!: () => void;
    const reached = new Promise<void>((resolve) => {
      reach = resolve;
    });
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let taken = false;
    this.plan = async (at) => {
      if (at !== point || taken) return;
      taken = true;
      reach();
      await gate;
    };
    return { reached, release };
  }

  /** Every transaction that reaches `point` from now on fails there with `error`. */
  fail(point: FaultPoint, error = new Error(`fault injected at ${point}`)): void {
    this.plan = async (at) => {
      if (at === point) throw error;
    };
  }

  clear(): void {
    this.plan = undefined;
  }

  close(): void {
    this.plan = undefined;
    this.disarm();
  }
}
