import { defineErrors } from '../platform/http/errors.ts';

export const AuthErrors = defineErrors({
  UNAUTHENTICATED: { status: 401, code: 'unauthenticated', title: 'Sign in first' },
  INVALID_CREDENTIALS: { status: 401, code: 'invalid_credentials', title: 'Email or password is wrong' },
  SESSION_ENDED: { status: 401, code: 'session_ended', title: 'The session has ended; sign in again' },
  INVALID_REFRESH_TOKEN: { status: 401, code: 'invalid_refresh_token', title: 'The refresh token is not valid' },
  REFRESH_TOKEN_REUSED: {
    status: 401,
    code: 'refresh_token_reused',
    title: 'The refresh token was already used; the session has been revoked',
  },
  CSRF_TOKEN_INVALID: { status: 403, code: 'csrf_token_invalid', title: 'Missing or wrong X-CSRF-Token header' },
  ACCOUNT_LOCKED: { status: 429, code: 'account_locked', title: 'Too many failed sign-ins; try again later' },
  TENANT_NOT_FOUND: { status: 404, code: 'tenant_not_found', title: 'No such tenant' },
  FORBIDDEN: { status: 403, code: 'forbidden', title: 'You may not do this' },
  USER_REQUIRED: { status: 403, code: 'user_required', title: 'Only a signed-in person may do this; API keys and machine tokens cannot' },
});
