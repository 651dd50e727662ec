import fs from 'node:fs';
import path from 'node:path';

export class DataDirLockedError extends Error {
  override name = 'DataDirLockedError';
}

/** Directories this process holds, so a restarted container that got our old PID back is not refused. */
const heldHere = new Set<string>();

/**
 * PGlite is a single-process database: two processes writing one data directory corrupt it.
 * The lock is a file holding the owner's PID, created atomically (O_EXCL). A lock whose process is gone
 * (after `kill -9`, say) is stale and taken over. Returns the release function.
 */
export function lockDataDir(dir: string): () => void {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'tenantry.lock');
  const key = path.resolve(file);
  if (heldHere.has(key)) {
    throw new DataDirLockedError(`The data directory ${dir} is already open in this process.`);
  }
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      fs.writeFileSync(file, `${process.pid}\n`, { flag: 'wx' });
      heldHere.add(key);
      return () => {
        heldHere.delete(key);
        fs.rmSync(file, { force: true });
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const owner = Number.parseInt(readOrEmpty(file), 10);
    if (Number.isInteger(owner) && owner !== process.pid && isAlive(owner)) {
      throw new DataDirLockedError(
        `The data directory ${dir} is in use by another Tenantry process (pid ${owner}). ` +
          'The embedded database allows one process per data directory: stop that process, use another ' +
          'TENANTRY_DATA_DIR, or set DATABASE_URL to share a PostgreSQL server between processes.',
      );
    }
    fs.rmSync(file, { force: true });
  }
  throw new DataDirLockedError(`Could not lock the data directory ${dir}.`);
}

function readOrEmpty(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
