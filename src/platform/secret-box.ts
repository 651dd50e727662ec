import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/**
 * Secrets at rest (signing keys' private halves, later TOTP seeds and the like) are sealed with
 * AES-256-GCM under the server's 32-byte secret key (TENANTRY_SECRET_KEY, see secret-key.ts).
 *
 * Format: `v1.<iv>.<tag>.<ciphertext>`, each part base64url. The version prefix lets a later format
 * (another cipher, key ids for secret-key rotation) coexist with rows sealed by this one.
 */
const VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;

export class SecretBoxError extends Error {
  override name = 'SecretBoxError';
}

function checkKey(key: Buffer): void {
  if (key.length !== KEY_BYTES) throw new SecretBoxError(`the secret key must be ${KEY_BYTES} bytes, got ${key.length}`);
}

export function sealSecret(key: Buffer, plaintext: string): string {
  checkKey(key);
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(Buffer.from(VERSION, 'ascii'));
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  const tag = cipher.getAuthTag();
  return [VERSION, iv.toString('base64url'), tag.toString('base64url'), ciphertext.toString('base64url')].join('.');
}

/** Throws SecretBoxError when the string is malformed, was sealed under another key, or was altered. */
export function openSecret(key: Buffer, sealed: string): string {
  checkKey(key);
  const parts = sealed.split('.');
  if (parts.length !== 4 || parts[0] !== VERSION) throw new SecretBoxError('not a sealed secret (expected v1.<iv>.<tag>.<ciphertext>)');
  const [, ivText, tagText, ciphertextText] = parts as [string, string, string, string];
  const base64url = /^[A-Za-z0-9_-]*$/;
  if (!base64url.test(ivText) || !base64url.test(tagText) || !base64url.test(ciphertextText)) {
    throw new SecretBoxError('sealed secret is not base64url');
  }
  const iv = Buffer.from(ivText, 'base64url');
  const tag = Buffer.from(tagText, 'base64url');
  if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) throw new SecretBoxError('sealed secret has a malformed iv or tag');
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.from(VERSION, 'ascii'));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(Buffer.from(ciphertextText, 'base64url')), decipher.final()]).toString('utf8');
  } catch {
    throw new SecretBoxError('sealed secret could not be opened: wrong key or altered data');
  }
}
