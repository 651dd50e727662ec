import { defineErrors } from '../platform/http/errors.ts';

export const AuditErrors = defineErrors({
  INVALID_CURSOR: { status: 400, code: 'invalid_cursor', title: 'The cursor is not one this endpoint issued' },
});
