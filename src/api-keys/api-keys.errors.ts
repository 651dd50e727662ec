import { defineErrors } from '../platform/http/errors.ts';

export const ApiKeyErrors = defineErrors({
  API_KEY_NOT_FOUND: { status: 404, code: 'api_key_not_found', title: 'No API key with this id in this tenant' },
  /** The detail says why (revoked, expired, tenant suspended…); it never echoes the secret. */
  INVALID_API_KEY: { status: 401, code: 'invalid_api_key', title: 'The API key is not valid' },
  UNKNOWN_PERMISSION: { status: 422, code: 'unknown_permission', title: 'A permission is not in the catalogue' },
  INVALID_EXPIRY: { status: 422, code: 'invalid_expiry', title: 'expiresAt must be in the future' },
});
