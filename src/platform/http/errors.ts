/**
 * Errors are a closed catalogue per feature. A feature declares its errors once with `defineErrors`;
 * `new AppError(spec)` is the only way to answer with a problem document, so a code without a status
 * cannot exist. Rendered at the edge as RFC 9457 `application/problem+json` (src/platform/http/problem.ts).
 */
export interface ErrorSpec {
  readonly status: number;
  /** Stable, snake_case, part of the API contract. */
  readonly code: string;
  readonly title: string;
}

export function defineErrors<const T extends Record<string, ErrorSpec>>(catalogue: T): T {
  for (const spec of Object.values(catalogue)) {
    if (!/^[a-z][a-z0-9_]*$/.test(spec.code) || spec.status < 400 || spec.status > 599) {
      throw new Error(`bad error spec ${JSON.stringify(spec)}`);
    }
  }
  return Object.freeze(catalogue);
}

export interface ProblemExtras {
  /** Human-readable explanation specific to this occurrence. */
  detail?: string;
  /** Extra members of the problem document, e.g. `errors` for validation or `retryAfter`. */
  [member: string]: unknown;
}

export class AppError extends Error {
  override name = 'AppError';
  readonly spec: ErrorSpec;
  readonly extras: ProblemExtras;
  readonly headers: Record<string, string>;

  constructor(spec: ErrorSpec, extras: ProblemExtras = {}, headers: Record<string, string> = {}) {
    super(extras.detail ?? spec.title);
    this.spec = spec;
    this.extras = extras;
    this.headers = headers;
  }
}

/** Errors every part of the HTTP layer may answer with. */
export const HttpErrors = defineErrors({
  ROUTE_NOT_FOUND: { status: 404, code: 'route_not_found', title: 'No such endpoint' },
  VALIDATION_FAILED: { status: 400, code: 'validation_failed', title: 'The request does not match the schema' },
  MALFORMED_BODY: { status: 400, code: 'malformed_body', title: 'The request body could not be parsed' },
  EMPTY_BODY: { status: 400, code: 'empty_body', title: 'The request body is empty but this endpoint needs one' },
  /** A NUL character or an unpaired UTF-16 surrogate anywhere in the request (src/platform/http/input-guard.ts). */
  INVALID_TEXT: {
    status: 422,
    code: 'invalid_text',
    title: 'The request contains text that cannot be stored (bytes that are not UTF-8, a NUL character or an unpaired surrogate)',
  },
  /** A JSON body nested deeper than MAX_JSON_DEPTH (src/platform/http/input-guard.ts). */
  NESTING_TOO_DEEP: { status: 422, code: 'nesting_too_deep', title: 'The request body nests objects and arrays too deeply' },
  PAYLOAD_TOO_LARGE: { status: 413, code: 'payload_too_large', title: 'The request body is too large' },
  INVALID_CURSOR: { status: 400, code: 'invalid_cursor', title: 'The paging cursor is not valid' },
  DATA_TOO_LARGE: { status: 422, code: 'data_too_large', title: 'The data object is too large' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, code: 'unsupported_media_type', title: 'The request content type is not supported' },
  RATE_LIMITED: { status: 429, code: 'rate_limited', title: 'Too many requests' },
  SHUTTING_DOWN: { status: 503, code: 'shutting_down', title: 'The server is shutting down' },
  NOT_READY: { status: 503, code: 'not_ready', title: 'The server is not ready' },
  DATABASE_UNAVAILABLE: { status: 503, code: 'database_unavailable', title: 'The database cannot be reached right now' },
  INTERNAL: { status: 500, code: 'internal_error', title: 'Internal server error' },
  BAD_REQUEST: { status: 400, code: 'bad_request', title: 'Bad request' },
});
