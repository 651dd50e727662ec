import { defineErrors } from '../platform/http/errors.ts';

export const PlanErrors = defineErrors({
  PLAN_LIMIT_REACHED: { status: 409, code: 'plan_limit_reached', title: "The tenant's plan allows no more of these" },
  UNKNOWN_PLAN: { status: 422, code: 'unknown_plan', title: 'Not a plan of this installation' },
});
