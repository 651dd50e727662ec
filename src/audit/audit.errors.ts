import { defineErrors } from '../platform/http/errors.ts';

export const AuditErrors = defineErrors({});
