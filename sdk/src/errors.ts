/** The codes with which Tenantry refuses a valid API key (or machine token) that its tenant cannot use right now. */
export const KEY_REFUSED_BY_TENANT_CODES: readonly string[] = ['tenant_suspended', 'feature_disabled'];

/**
 * A problem document from Tenantry (RFC 9457), as an error. About the service's own key:
 * - `401` (`invalid_api_key`, `invalid_client`, `invalid_token`): the key is not valid (unknown, revoked,
 *   expired, its tenant deleted). Replace it.
 * - `403 tenant_suspended` (the problem's `tenantStatus`: `suspended` or `pending_deletion`) or
 *   `403 feature_disabled` (`feature` names it, e.g. `mgmt_api`): the key is valid, but its tenant cannot use it
 *   now. Rotating it changes nothing; it works again, unchanged, once the tenant is resumed, restored or has the
 *   feature back. `keyRefusedByTenant` is true for these.
 */
export class TenantryError extends Error {
  override name = 'TenantryError';
  readonly status: number;
  readonly code: string;
  readonly problem: Record<string, unknown>;

  constructor(status: number, problem: Record<string, unknown>) {
    super(typeof problem.detail === 'string' ? problem.detail : typeof problem.title === 'string' ? problem.title : `HTTP ${status}`);
    this.status = status;
    this.code = typeof problem.code === 'string' ? problem.code : 'unknown';
    this.problem = problem;
  }

  /** The key is valid but its tenant is not active or lacks the feature keys need: wait for the tenant, do not rotate. */
  get keyRefusedByTenant(): boolean {
    return this.status === 403 && KEY_REFUSED_BY_TENANT_CODES.includes(this.code);
  }
}
