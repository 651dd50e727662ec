import { AppError, defineErrors, type ErrorSpec } from '../platform/http/errors.ts';

/**
 * RFC 6749 §5.2 errors: the problem `code` is the OAuth `error`, so OAuth clients and problem readers both
 * understand. One exception, `refusedClient`: a client that authenticated but whose tenant may not use it now.
 */
export const OAuthErrors = defineErrors({
  INVALID_REQUEST: { status: 400, code: 'invalid_request', title: 'The token request is malformed' },
  INVALID_CLIENT: { status: 401, code: 'invalid_client', title: 'Client authentication failed' },
  UNSUPPORTED_GRANT_TYPE: { status: 400, code: 'unsupported_grant_type', title: 'Only grant_type=client_credentials is supported here' },
  INVALID_SCOPE: { status: 400, code: 'invalid_scope', title: "The requested scope is not within the key's permissions" },
});

/** A problem document that also carries RFC 6749's `error` and `error_description` members. */
export function oauthError(spec: ErrorSpec, description: string): AppError {
  const headers: Record<string, string> = spec === OAuthErrors.INVALID_CLIENT ? { 'www-authenticate': 'Basic realm="Tenantry"' } : {};
  return new AppError(spec, { detail: description, error: spec.code, error_description: description }, { ...headers, 'cache-control': 'no-store' });
}

/**
 * The client (an API key) authenticated, but its tenant cannot use it now: suspended or pending deletion, or
 * the preset's key feature is off. Not `invalid_client` (RFC 6749: "client authentication failed"), which would
 * send the integrator to rotate a key that is fine. The OAuth `error` is `unauthorized_client` ("the
 * authenticated client is not authorized to use this authorization grant type"); the status and the problem
 * `code` stay what every other endpoint answers for the same key (`403 tenant_suspended` / `403 feature_disabled`,
 * SPEC 5), so one branch in a client handles both.
 */
export function refusedClient(refusal: AppError): AppError {
  return new AppError(refusal.spec, { ...refusal.extras, error: 'unauthorized_client', error_description: refusal.message }, { ...refusal.headers, 'cache-control': 'no-store' });
}
