import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * A 256-bit random secret as base64url, optionally behind a recognisable prefix (`tnr_rt_` for refresh
 * tokens, …) so secret scanners can find leaked ones. Only its hash is ever stored.
 */
export function newSecret(prefix = ''): string {
  return `${prefix}${randomBytes(32).toString('base64url')}`;
}

/** How secrets are stored: sha256, hex. High-entropy secrets need no salt or slow hash. */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

export function hmac(key: Buffer, purpose: string, value: string): string {
  return createHmac('sha256', key).update(`${purpose}\0${value}`).digest('base64url');
}

/** Constant-time string comparison (lengths are not secret). */
export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
