/**
 * Says yes to a key at most once per interval in this process: for bookkeeping writes that need only be roughly
 * current (when a tenant was last worked in), so a busy path does not write the same row on every request.
 * Bounded: past `maxKeys` the oldest key is forgotten (and may be written once more than needed).
 */
export class OncePer {
  readonly #intervalMs: number;
  readonly #maxKeys: number;
  readonly #last = new Map<string, number>();

  constructor(intervalMs: number, maxKeys = 50_000) {
    this.#intervalMs = intervalMs;
    this.#maxKeys = maxKeys;
  }

  /** Whether `key` is due at `now`; if so, it is not due again for the interval. */
  due(key: string, now: Date): boolean {
    const last = this.#last.get(key);
    if (last !== undefined && now.getTime() - last < this.#intervalMs) return false;
    this.#last.delete(key);
    if (this.#last.size >= this.#maxKeys) {
      const oldest = this.#last.keys().next().value;
      if (oldest !== undefined) this.#last.delete(oldest);
    }
    this.#last.set(key, now.getTime());
    return true;
  }
}
