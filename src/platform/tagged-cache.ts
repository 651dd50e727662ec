/**
 * An in-process cache whose entries are dropped by tag: an entry names what it was read from (a tenant id,
 * `user:<id>`, `session:<id>`, `key:<id>`), and `invalidate(tag)` — called after a commit in this process and
 * on every NOTIFY from the others — drops every entry naming it. Bounded; the oldest entries go first.
 *
 * A load that overlaps an invalidation is answered but not kept: it may have read the row just before the
 * change committed, and keeping it would serve the old row until the next change.
 */
export class TaggedCache<V> {
  readonly #maxEntries: number;
  readonly #entries = new Map<string, { value: V; tags: readonly string[] }>();
  readonly #byTag = new Map<string, Set<string>>();
  #generation = 0;

  constructor(maxEntries: number) {
    this.#maxEntries = maxEntries;
  }

  get(key: string): V | undefined {
    return this.#entries.get(key)?.value;
  }

  /**
   * The cached value, or `load()`'s, kept under `tags(value)` unless an invalidation happened meanwhile. What
   * `load` does not find (undefined) is not kept: nothing would tell this cache when it appears.
   */
  async getOrLoad<L extends V | undefined>(key: string, load: () => Promise<L>, tags: (value: V) => readonly string[]): Promise<V | L> {
    const cached = this.#entries.get(key);
    if (cached !== undefined) return cached.value;
    const generation = this.#generation;
    const value = await load();
    if (value !== undefined && generation === this.#generation) this.set(key, value, tags(value));
    return value;
  }

  set(key: string, value: V, tags: readonly string[]): void {
    this.#delete(key);
    if (this.#entries.size >= this.#maxEntries) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#delete(oldest);
    }
    this.#entries.set(key, { value, tags });
    for (const tag of tags) {
      const keys = this.#byTag.get(tag) ?? new Set<string>();
      this.#byTag.set(tag, keys);
      keys.add(key);
    }
  }

  /** Drops one entry that has gone stale by itself (no row changed, so loads under way are kept). */
  delete(key: string): void {
    this.#delete(key);
  }

  /** Drops the entries tagged `tag`; '*' (or '') drops everything. */
  invalidate(tag: string): void {
    this.#generation++;
    if (tag === '*' || tag === '') {
      this.#entries.clear();
      this.#byTag.clear();
      return;
    }
    for (const key of this.#byTag.get(tag) ?? []) this.#delete(key);
  }

  #delete(key: string): void {
    const entry = this.#entries.get(key);
    if (entry === undefined) return;
    this.#entries.delete(key);
    for (const tag of entry.tags) {
      const keys = this.#byTag.get(tag);
      keys?.delete(key);
      if (keys?.size === 0) this.#byTag.delete(tag);
    }
  }

  get size(): number {
    return this.#entries.size;
  }
}
