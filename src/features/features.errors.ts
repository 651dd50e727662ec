import { defineErrors } from '../platform/http/errors.ts';

export const FeatureErrors = defineErrors({
  UNKNOWN_FEATURE: { status: 422, code: 'unknown_feature', title: 'A feature is not in the catalogue of this installation' },
});
