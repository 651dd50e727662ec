import { readFileSync, statSync, unwatchFile, watchFile } from 'node:fs';
import { Ajv } from 'ajv';
import { type Static, Type } from 'typebox';
import type { Preset } from '../presets/presets.ts';

/**
 * The licence (SPEC 4, seed 001): platform-wide, a JSON file named by TENANTRY_LICENCE_FILE, re-read when it
 * changes. It lists the features the installation may use and how many tenants it may hold:
 *
 *   { "licensee": "Acme MSP Ltd", "features": ["helpdesk", "crm"], "tenantLimit": 50 }
 *
 * `features` may be "*" (every feature of the preset); `tenantLimit` null or absent means no limit. Without
 * a file, everything the preset has is licensed and there is no limit.
 */
const LicenceFile = Type.Object(
  {
    licensee: Type.String({ minLength: 1, maxLength: 200 }),
    features: Type.Union([Type.Literal('*'), Type.Array(Type.String({ pattern: '^[a-z][a-z0-9_]{0,62}$' }), { uniqueItems: true })]),
    tenantLimit: Type.Optional(Type.Union([Type.Integer({ minimum: 1 }), Type.Null()])),
  },
  { additionalProperties: false },
);

const validate = new Ajv({ allErrors: true, strict: false }).compile(LicenceFile);

export interface Licence {
  /** The file it came from; null when none is configured. */
  source: string | null;
  licensee: string | null;
  /** Licensed feature keys; null = every feature of the preset. */
  features: ReadonlySet<string> | null;
  /** Tenants the installation may hold (every status but deleted); null = unlimited. */
  tenantLimit: number | null;
  loadedAt: Date;
}

export class LicenceError extends Error {
  override name = 'LicenceError';
}

/** Reads and checks a licence file against the preset; throws LicenceError saying what is wrong. */
export function readLicence(path: string, preset: Preset, now: Date): Licence {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new LicenceError(`cannot read the licence file ${path}: ${(error as Error).message}`);
  }
  if (!validate(raw)) {
    throw new LicenceError(`invalid licence file ${path}: ${(validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message}`).join('; ')}`);
  }
  const file = raw as Static<typeof LicenceFile>;
  if (file.features !== '*') {
    const unknown = file.features.filter((key) => !preset.features.has(key));
    if (unknown.length > 0) throw new LicenceError(`the licence file ${path} names features the ${preset.name} preset does not have: ${unknown.join(', ')}`);
  }
  return {
    source: path,
    licensee: file.licensee,
    features: file.features === '*' ? null : new Set(file.features),
    tenantLimit: file.tenantLimit ?? null,
    loadedAt: now,
  };
}

/**
 * The licence in force. Loaded at start (an unreadable or invalid file stops the start); afterwards the file
 * is polled and a valid change replaces the licence, while an invalid one keeps the last good licence and is
 * reported (`lastError`) until fixed. `persist` runs for the licence at start (`apply`) and for every new one
 * before it takes over (it writes the tenant limit where the database enforces it); `onChange` runs right
 * after a new one took over (it drops cached permissions, so none computed under the old one survives).
 * Every node reads the file itself: give them all the same file.
 */
export class LicenceStore {
  readonly #path: string | undefined;
  readonly #preset: Preset;
  readonly #now: () => Date;
  readonly #persist: (licence: Licence) => Promise<void>;
  readonly #onChange: () => void;
  #licence: Licence;
  #stamp: string | undefined;
  #lastError: string | null = null;
  #refreshing: Promise<unknown> = Promise.resolve();

  constructor(options: { path: string | undefined; preset: Preset; now: () => Date; persist: (licence: Licence) => Promise<void>; onChange: () => void }) {
    this.#path = options.path;
    this.#preset = options.preset;
    this.#now = options.now;
    this.#persist = options.persist;
    this.#onChange = options.onChange;
    this.#stamp = this.#fileStamp();
    this.#licence =
      this.#path === undefined
        ? { source: null, licensee: null, features: null, tenantLimit: null, loadedAt: options.now() }
        : readLicence(this.#path, this.#preset, options.now());
  }

  get current(): Licence {
    return this.#licence;
  }

  /** Why the file on disk is not the licence in force, if it is not. */
  get lastError(): string | null {
    return this.#lastError;
  }

  isLicensed(feature: string): boolean {
    return this.#licence.features === null || this.#licence.features.has(feature);
  }

  /** Puts the licence loaded at start into force (see persist). */
  apply(): Promise<void> {
    return this.#persist(this.#licence);
  }

  /**
   * Re-reads the file if it changed; true when a new licence is now in force. Refreshes run one at a time,
   * and a licence counts as read only once `persist` succeeded: if applying fails (the database is down), the
   * next poll tries again rather than leaving the database's tenant limit behind the licence shown.
   */
  refresh(): Promise<boolean> {
    const run = this.#refreshing.then(() => this.#refreshNow());
    this.#refreshing = run.catch(() => undefined);
    return run;
  }

  async #refreshNow(): Promise<boolean> {
    if (this.#path === undefined) return false;
    const stamp = this.#fileStamp();
    if (stamp === this.#stamp) return false;
    let next: Licence;
    try {
      next = readLicence(this.#path, this.#preset, this.#now());
    } catch (error) {
      // A broken file is reported once per change, and the licence in force stays.
      this.#stamp = stamp;
      this.#lastError = (error as Error).message;
      return false;
    }
    await this.#persist(next);
    this.#licence = next;
    this.#stamp = stamp;
    this.#lastError = null;
    this.#onChange();
    return true;
  }

  /** Polls the file every `intervalMs`; `onOutcome` hears of each new licence and each failed reload. */
  watch(onOutcome: (outcome: { changed: boolean; error: string | null }) => void, onFailure: (error: unknown) => void, intervalMs = 1000): () => void {
    const path = this.#path;
    if (path === undefined) return () => {};
    const listener = () => {
      this.refresh().then((changed) => {
        if (changed || this.#lastError !== null) onOutcome({ changed, error: this.#lastError });
      }, onFailure);
    };
    watchFile(path, { interval: intervalMs, persistent: false }, listener);
    return () => unwatchFile(path, listener);
  }

  #fileStamp(): string | undefined {
    if (this.#path === undefined) return undefined;
    try {
      const stat = statSync(this.#path);
      return `${stat.mtimeMs}:${stat.size}:${stat.ino}`;
    } catch {
      return 'missing';
    }
  }
}
