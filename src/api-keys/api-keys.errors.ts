import { defineErrors } from '../platform/http/errors.ts';

/**
 * A key that is not a valid credential (unknown, forged, malformed, revoked, expired) is `401 invalid_api_key`:
 * the integrator must get a new key. A valid key that its tenant cannot use right now is authenticated and
 * refused with `403` (SPEC 5): the key is fine, rotating it changes nothing; the tenant must change.
 */
export const ApiKeyErrors = defineErrors({
  API_KEY_NOT_FOUND: { status: 404, code: 'api_key_not_found', title: 'No API key with this id in this tenant' },
  /** The detail says why (unknown, malformed, revoked, expired); it never echoes the secret. */
  INVALID_API_KEY: { status: 401, code: 'invalid_api_key', title: 'The API key is not valid' },
  /**
   * The key (or machine token) is valid, but its tenant is not active: suspended, or pending deletion (then
   * `tenantStatus` says so). It works again once the tenant is resumed or restored; a deleted tenant's keys are
   * `invalid_api_key`.
   */
  TENANT_SUSPENDED: { status: 403, code: 'tenant_suspended', title: 'The credential is valid, but its tenant is not active' },
  /** The key (or machine token) is valid, but a feature it needs is off for its tenant; `feature` names it. */
  FEATURE_DISABLED: { status: 403, code: 'feature_disabled', title: 'The credential is valid, but a feature it needs is off for its tenant' },
  INVALID_EXPIRY: { status: 422, code: 'invalid_expiry', title: 'expiresAt must be in the future' },
});
