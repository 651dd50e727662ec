/** A unique constraint refused the write (SQLSTATE 23505): someone else inserted the same key first. */
export function isUniqueViolation(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === '23505';
}
