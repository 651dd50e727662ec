import { defineErrors } from '../platform/http/errors.ts';

export const RoleErrors = defineErrors({
  ROLE_EXISTS: { status: 409, code: 'role_exists', title: 'A role with this key already exists here' },
  ROLE_NOT_FOUND: { status: 404, code: 'role_not_found', title: 'No custom role with this key is defined in this tenant' },
  BUILT_IN_ROLE: { status: 409, code: 'built_in_role', title: 'Built-in roles come from the preset and cannot be changed' },
  ROLE_IN_USE: { status: 409, code: 'role_in_use', title: 'The role is still held by members of this tenant or a tenant below it' },
  UNKNOWN_ROLE: { status: 422, code: 'unknown_role', title: 'A role does not exist in this tenant' },
  UNKNOWN_PERMISSION: { status: 422, code: 'unknown_permission', title: 'A permission is not in the catalogue' },
});
