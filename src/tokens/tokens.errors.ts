import { defineErrors } from '../platform/http/errors.ts';

/** Errors of access-token verification. The detail is short and never echoes the token. */
export const TokenErrors = defineErrors({
  INVALID_TOKEN: { status: 401, code: 'invalid_token', title: 'The access token is invalid' },
});

/** RFC 6750 §3: a 401 for a bearer token names the scheme and the error. */
export const INVALID_TOKEN_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'www-authenticate': 'Bearer error="invalid_token"',
});
