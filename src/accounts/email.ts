/**
 * Email addresses are compared case-insensitively by storing them normalised: trimmed and lower-cased.
 * Only ASCII is accepted (international domains go in their punycode form), which rules out look-alike
 * addresses such as a Cyrillic "а" in place of a Latin "a" registering a second account for a victim.
 */
const EMAIL = /^[a-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$/;

export const MAX_EMAIL_LENGTH = 254;

/** The normalised address, or undefined if it is not one we accept. */
export function normalizeEmail(raw: string): string | undefined {
  const email = raw.trim().toLowerCase();
  if (email.length > MAX_EMAIL_LENGTH || !EMAIL.test(email)) return undefined;
  if (email.startsWith('.') || email.includes('..') || email.split('@')[0]?.endsWith('.')) return undefined;
  return email;
}
