/**
 * Runs `run` again and again: at once when started or poked, then every `intervalMs`, or at once again while it
 * reports more to do. Runs never overlap; `runOnce` (what tests drive by hand) waits for one in flight. Timers are
 * unref'd, so a pending poll never keeps the process alive.
 */
export class Poller<R> {
  readonly #run: () => Promise<R>;
  readonly #more: (result: R) => boolean;
  readonly #onError: (error: unknown) => void;
  readonly #intervalMs: number;
  #started = false;
  #timer: NodeJS.Timeout | undefined;
  /** The current run, if any. */
  #running: Promise<R> | undefined;
  /** Whether a polling run is under way (its end schedules the next one). */
  #ticking = false;
  /** Set by poke() during a polling run: look again right after it instead of after a full interval. */
  #poked = false;

  constructor(options: { run: () => Promise<R>; more: (result: R) => boolean; onError: (error: unknown) => void; intervalMs: number }) {
    this.#run = options.run;
    this.#more = options.more;
    this.#onError = options.onError;
    this.#intervalMs = options.intervalMs;
  }

  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#schedule(0);
  }

  /** Asks for a run soon (work was just committed) instead of at the next poll. */
  poke(): void {
    if (!this.#started) return;
    if (this.#ticking) this.#poked = true;
    else this.#schedule(0);
  }

  /** Stops polling and waits for a run in flight to finish. */
  async stop(): Promise<void> {
    this.#started = false;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running?.catch(() => {});
  }

  async runOnce(): Promise<R> {
    // Within one process a second run would only contend for the same rows: wait for the first.
    while (this.#running !== undefined) await this.#running.catch(() => {});
    const run = this.#run();
    this.#running = run;
    try {
      return await run;
    } finally {
      this.#running = undefined;
    }
  }

  #schedule(delayMs: number): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#tick(), delayMs);
    this.#timer.unref();
  }

  async #tick(): Promise<void> {
    this.#timer = undefined;
    if (!this.#started) return;
    let again = false;
    this.#ticking = true;
    try {
      again = this.#more(await this.runOnce());
    } catch (error) {
      // The database is unreachable or similar: nothing was lost, the next poll tries again.
      this.#onError(error);
    } finally {
      this.#ticking = false;
    }
    if (!this.#started) return;
    again ||= this.#poked;
    this.#poked = false;
    this.#schedule(again ? 0 : this.#intervalMs);
  }
}
