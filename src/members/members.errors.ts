import { defineErrors } from '../platform/http/errors.ts';

export const MemberErrors = defineErrors({
  MEMBER_NOT_FOUND: { status: 404, code: 'member_not_found', title: 'No such member in this tenant' },
  LAST_OWNER: { status: 409, code: 'last_owner', title: 'The tenant would be left without an owner' },
  ALREADY_OWNER: { status: 409, code: 'already_owner', title: 'This member already holds the owner role' },
  DIRECT_ADD_NOT_ALLOWED: { status: 403, code: 'direct_add_not_allowed', title: 'People join by invitation; adding an account directly is for API keys and platform operators' },
});
