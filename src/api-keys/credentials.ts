import { crc32 } from 'node:zlib';
import { randomBase32 } from '../platform/ids.ts';

/**
 * The API key secret: `tnty_<tenant id>_<key id>_<52 random base32 chars><7-char checksum>`.
 * - The `tnty_` prefix and fixed shape let secret scanners (GitHub push protection, trufflehog…) find a
 *   leaked key; the CRC-32 checksum lets them, and us, tell a real key from a look-alike without a lookup.
 * - It names its tenant and key, so authenticating it is one primary-key read in that tenant's RLS
 *   context; the 260 random bits are the secret, stored only as a sha256 and compared in constant time.
 * - Base32 throughout, so it survives URLs, shells, .env files and double-click selection.
 */
export const API_KEY_SECRET_PREFIX = 'tnty_';
const SECRET_SHAPE = /^tnty_(t[a-z2-7]{15})_([a-z2-7]{20})_[a-z2-7]{52}([a-z2-7]{7})$/;
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';

export function newApiKeySecret(tenantId: string, keyId: string): string {
  const body = `${API_KEY_SECRET_PREFIX}${tenantId}_${keyId.slice('key_'.length)}_${randomBase32(52)}`;
  return `${body}${checksum(body)}`;
}

/** Tenant and key id named by a well-formed secret with a valid checksum; undefined for anything else. */
export function parseApiKeySecret(secret: string): { tenantId: string; keyId: string } | undefined {
  const match = SECRET_SHAPE.exec(secret);
  if (match === null) return undefined;
  const [, tenantId, keyPart, sum] = match;
  if (tenantId === undefined || keyPart === undefined || sum !== checksum(secret.slice(0, -7))) return undefined;
  return { tenantId, keyId: `key_${keyPart}` };
}

export function looksLikeApiKeySecret(credential: string): boolean {
  return credential.startsWith(API_KEY_SECRET_PREFIX);
}

/** CRC-32 as 7 base32 characters (35 bits, the top 3 always zero). */
function checksum(text: string): string {
  let value = crc32(text);
  let out = '';
  for (let i = 0; i < 7; i++) {
    out = ALPHABET[value & 31] + out;
    value >>>= 5;
  }
  return out;
}
