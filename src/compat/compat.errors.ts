import { defineErrors } from '../platform/http/errors.ts';

export const CompatErrors = defineErrors({
  NO_ACTIVE_TENANT: { status: 409, code: 'no_active_tenant', title: 'This path acts in your active tenant, and you have none' },
});
