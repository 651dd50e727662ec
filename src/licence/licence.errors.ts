import { AppError, defineErrors } from '../platform/http/errors.ts';

export const LicenceErrors = defineErrors({
  TENANT_LIMIT_REACHED: { status: 409, code: 'licence_limit_reached', title: 'The licence allows no more tenants' },
  FEATURE_NOT_LICENSED: { status: 409, code: 'feature_not_licensed', title: 'The licence does not cover this feature' },
});

/** The database's refusal of a tenant beyond the licence (trigger `licence_tenant_limit`) as a 409, else undefined. */
export function licenceLimitError(error: unknown): AppError | undefined {
  const constraint = (error as { constraint?: string }).constraint;
  const message = String((error as Error).message ?? '');
  if (constraint !== 'licence_tenant_limit' && !message.startsWith('the licence allows')) return undefined;
  return new AppError(LicenceErrors.TENANT_LIMIT_REACHED, { detail: `${message}; ask the operator to extend the licence` });
}
