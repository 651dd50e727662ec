import type { AppError } from './http/errors.ts';

/** SPEC: a user's or tenant's JSON `data` object stays within 64 KiB, measured as UTF-8 JSON. */
export const MAX_DATA_BYTES = 64 * 1024;

/**
 * Applies an RFC 7396 merge patch to a stored `data` object and returns the result, or throws the
 * caller's own error (`tooLarge`, given the limit) when the result would exceed MAX_DATA_BYTES.
 */
export function applyDataPatch(current: Record<string, unknown>, patch: Record<string, unknown>, tooLarge: (maxBytes: number) => AppError): Record<string, unknown> {
  const data = mergePatch(current, patch);
  if (Buffer.byteLength(JSON.stringify(data)) > MAX_DATA_BYTES) throw tooLarge(MAX_DATA_BYTES);
  return data;
}

/** RFC 7396 JSON merge patch of objects: members set to null are removed, nested objects merge. */
function mergePatch(target: Record<string, unknown>, patch: Record<string, unknown>): Record<string, unknown> {
  const result: Record<string, unknown> = { ...target };
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) {
      delete result[key];
    } else if (typeof value === 'object' && !Array.isArray(value)) {
      const current = result[key];
      const base = typeof current === 'object' && current !== null && !Array.isArray(current) ? (current as Record<string, unknown>) : {};
      result[key] = mergePatch(base, value as Record<string, unknown>);
    } else {
      result[key] = value;
    }
  }
  return result;
}
