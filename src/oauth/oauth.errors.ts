import { AppError, defineErrors, type ErrorSpec } from '../platform/http/errors.ts';

/** RFC 6749 §5.2 errors: the problem `code` is the OAuth `error`, so OAuth clients and problem readers both understand. */
export const OAuthErrors = defineErrors({
  INVALID_REQUEST: { status: 400, code: 'invalid_request', title: 'The token request is malformed' },
  INVALID_CLIENT: { status: 401, code: 'invalid_client', title: 'Client authentication failed' },
  UNSUPPORTED_GRANT_TYPE: { status: 400, code: 'unsupported_grant_type', title: 'Only grant_type=client_credentials is supported here' },
  INVALID_SCOPE: { status: 400, code: 'invalid_scope', title: 'The requested scope is not within the key\'s permissions' },
});

/** A problem document that also carries RFC 6749's `error` and `error_description` members. */
export function oauthError(spec: ErrorSpec, description: string): AppError {
  const headers: Record<string, string> = spec === OAuthErrors.INVALID_CLIENT ? { 'www-authenticate': 'Basic realm="Tenantry"' } : {};
  return new AppError(spec, { detail: description, error: spec.code, error_description: description }, { ...headers, 'cache-control': 'no-store' });
}
