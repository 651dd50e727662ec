/** Query parameters whose values never reach a log line. */
const SECRET_PARAM = /token|secret|password|key|code|invitation/i;
/** Path segments that are credentials: the segment after one of these is masked. */
const SECRET_SEGMENT_AFTER = new Set(['invitations', 'team-invite', 'verify-email', 'reset-password', 'setup']);

/** The URL as it may be logged: credential path segments and secret-looking query values masked. */
export function redactUrl(url: string): string {
  const [pathPart = '', query] = url.split('?', 2);
  const segments = pathPart.split('/');
  for (let i = 1; i < segments.length; i++) {
    const previous = segments[i - 1] ?? '';
    if (SECRET_SEGMENT_AFTER.has(previous) && (segments[i] ?? '').length >= 20) segments[i] = '[redacted]';
  }
  let redacted = segments.join('/');
  if (query !== undefined) {
    const params = new URLSearchParams(query);
    for (const name of [...params.keys()]) if (SECRET_PARAM.test(name)) params.set(name, '[redacted]');
    redacted += `?${params.toString()}`;
  }
  return redacted;
}

/**
 * Members of an error that carry a failed statement's text or bound values: PGlite puts `query`, `params`
 * and `queryOptions` on its errors (a failed sign-up would log the password hash and the email), other
 * drivers and wrappers use `parameters`, `values`, `sql` or `internalQuery`. Never logged, at any depth.
 */
const STATEMENT_MEMBERS = new Set(['query', 'params', 'parameters', 'values', 'queryOptions', 'sql', 'internalQuery', 'bindings']);
/** A database error: PostgreSQL's fields (both drivers), a five-character SQLSTATE. */
const SQLSTATE = /^[0-9A-Z]{5}$/;
const REDACTED = '[redacted]';

/** Error objects nest a few levels (aggregate errors, wrapped originals); anything deeper is not logged. */
const MAX_ERROR_DEPTH = 8;

/**
 * An error as it may be logged (apply to the output of pino's `err` serializer), as a copy: what the
 * statement was and what it was bound to are removed at any depth; for database errors `detail`
 * (PostgreSQL puts row values there: "Failing row contains (…)", "Key (email)=(…) already exists") is
 * censored and `where` loses any parameter value. Name, message, SQLSTATE `code`, constraint, table,
 * column, routine and stack remain. The error itself is not touched.
 */
export function redactError(serialized: unknown): unknown {
  return scrub(serialized, 0, new WeakSet());
}

function scrub(value: unknown, depth: number, path: WeakSet<object>): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof Date || ArrayBuffer.isView(value)) return value;
  if (depth >= MAX_ERROR_DEPTH) return '[too deep]';
  if (path.has(value)) return '[circular]';
  path.add(value);
  let copy: unknown;
  if (Array.isArray(value)) {
    copy = value.map((item) => scrub(item, depth + 1, path));
  } else {
    const record: Record<string, unknown> = {};
    for (const [member, inner] of Object.entries(value)) {
      if (!STATEMENT_MEMBERS.has(member)) record[member] = scrub(inner, depth + 1, path);
    }
    if (typeof record.severity === 'string' && typeof record.code === 'string' && SQLSTATE.test(record.code)) {
      if (record.detail !== undefined) record.detail = REDACTED;
      if (typeof record.where === 'string') record.where = record.where.replace(/(parameter \$\d+) = (?:'(?:[^']|'')*'(?:\.\.\.)?|[\s\S]*$)/g, `$1 = ${REDACTED}`);
    }
    copy = record;
  }
  path.delete(value);
  return copy;
}
