import { defineErrors } from '../platform/http/errors.ts';

export const AdminErrors = defineErrors({
  NOT_AN_OPERATOR: {
    status: 403,
    code: 'not_an_operator',
    title: 'Only a platform super_admin, or a member of the admin tenancy with members.manage, may do this',
  },
  SUPER_ADMIN_REQUIRED: { status: 403, code: 'super_admin_required', title: 'Only a platform super_admin may do this' },
  TENANT_NOT_ACTIVE: { status: 409, code: 'tenant_not_active', title: 'The tenant is not active' },
  SHADOW_MEMBERSHIP_NOT_FOUND: { status: 404, code: 'shadow_membership_not_found', title: 'The person has no shadow membership in this tenant' },
});
