import { defineErrors } from '../platform/http/errors.ts';

export const TenantErrors = defineErrors({
  SLUG_TAKEN: { status: 409, code: 'slug_taken', title: 'Another tenant already has that slug' },
  TREE_TOO_DEEP: { status: 409, code: 'tree_too_deep', title: 'The tenant tree would be deeper than allowed' },
  TREE_CYCLE: { status: 409, code: 'tree_cycle', title: 'A tenant cannot be placed under itself or its own descendant' },
  STATUS_CONFLICT: { status: 409, code: 'tenant_status_conflict', title: "The tenant's status does not allow this" },
  ADMIN_TENANCY: { status: 409, code: 'admin_tenancy', title: 'The admin tenancy cannot be suspended or deleted' },
  CONFIRMATION_MISMATCH: { status: 422, code: 'confirmation_mismatch', title: "confirm must be the tenant's slug" },
  ACTIVE_TENANT: { status: 409, code: 'active_tenant', title: 'You cannot delete the tenant you are working in; switch to another first' },
  SINGLE_ROOT: { status: 403, code: 'single_root', title: 'This deployment has one root tenant; create yours under it (parentId)' },
  HAS_CHILDREN: { status: 409, code: 'tenant_has_children', title: 'The tenant has tenants below it; delete the whole subtree (includeDescendants) or move them first' },
});
