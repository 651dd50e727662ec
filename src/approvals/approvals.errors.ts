import { defineErrors } from '../platform/http/errors.ts';

export const ApprovalErrors = defineErrors({
  APPROVAL_NOT_FOUND: { status: 404, code: 'approval_request_not_found', title: 'No such approval request in this tenant' },
  NOT_PENDING: { status: 409, code: 'approval_request_not_pending', title: 'The approval request has already been decided, cancelled or has expired' },
  INITIATOR: { status: 403, code: 'approval_by_initiator', title: 'The person who asked for an action cannot decide it' },
  TARGET: { status: 403, code: 'approval_by_target', title: 'The person an action is about cannot decide it' },
  NOT_FROM_ABOVE: { status: 403, code: 'approval_not_from_above', title: 'Only someone above this tenant (or a platform super admin) may decide its requests' },
  NOT_INITIATOR: { status: 403, code: 'approval_not_initiator', title: 'Only the person who asked for the action can cancel the request' },
});
