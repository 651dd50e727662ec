import { type RawBuilder, sql } from 'kysely';
import { AppError, type ErrorSpec } from './errors.ts';

/**
 * Keyset paging cursors: the position (a timestamp to the microsecond, as PostgreSQL prints it, and an id
 * breaking ties) after the last row of a page, opaque to clients. Listings sort by (timestamp, id), so
 * rows added while a client pages never shift or repeat what it has seen.
 */
export interface KeysetPosition {
  at: string;
  id: string;
}

export function encodeKeysetCursor(position: KeysetPosition): string {
  return Buffer.from(JSON.stringify([position.at, position.id])).toString('base64url');
}

/** The position a cursor names; `invalid` (a 400) for anything this module did not write. */
export function decodeKeysetCursor(cursor: string, invalid: ErrorSpec): KeysetPosition {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(value) && value.length === 2) {
      const [at, id] = value as unknown[];
      if (typeof at === 'string' && typeof id === 'string' && isExactInstant(at)) return { at, id };
    }
  } catch {
    // Falls through to the problem below.
  }
  throw new AppError(invalid);
}

/** `YYYY-MM-DDTHH:MM:SS.ffffffZ` naming a real instant (no 30 February), as the repositories write it. */
function isExactInstant(text: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/.test(text)) return false;
  const ms = Date.parse(text);
  return !Number.isNaN(ms) && new Date(ms).toISOString().slice(0, 23) === text.slice(0, 23);
}

/** A timestamptz column printed the way cursors carry it (to the microsecond, so no two rows tie by accident). */
export function cursorInstant(column: string): RawBuilder<string> {
  return sql<string>`to_char(${sql.ref(column)} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;
}
