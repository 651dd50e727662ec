import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { type Options, hash, verify } from '@node-rs/argon2';
import pLimit from 'p-limit';

/** argon2 parameters for new password hashes; a stored hash carries its own, so verifying needs none. */
export type PasswordHashing = Pick<Options, 'algorithm' | 'memoryCost' | 'timeCost' | 'parallelism'>;

/**
 * OWASP Password Storage Cheat Sheet: argon2id, 19 MiB, 2 iterations, 1 lane — what every deployment uses (the
 * composition root passes nothing else). The library's `Algorithm` is an ambient const enum, which type stripping
 * cannot inline, so Argon2id's value (2) is written out.
 */
export const PRODUCTION_PASSWORD_HASHING: PasswordHashing = Object.freeze({ algorithm: 2, memoryCost: 19_456, timeCost: 2, parallelism: 1 });

export const MIN_PASSWORD_LENGTH = 8;
export const MAX_PASSWORD_LENGTH = 256;

const COMMON = new Set(
  readFileSync(new URL('./common-passwords.txt', import.meta.url), 'utf8')
    .split('\n')
    .map((line) => line.trim().toLowerCase())
    .filter((line) => line.length > 0 && !line.startsWith('#')),
);

/**
 * At most one argon2 computation per core but one, queued beyond that (issue 13). argon2 runs on libuv's thread
 * pool, which WebCrypto — every access token's signature check — shares: a storm of sign-ins used to fill all
 * four threads and every core, and requests that only verify a token waited behind it (p99 ×15). Bounded, the
 * hashing keeps a core and the thread pool keeps threads for everything else; sign-ins queue instead.
 */
const hashing = pLimit(Math.max(1, availableParallelism() - 1));

export function hashPassword(password: string, parameters: PasswordHashing = PRODUCTION_PASSWORD_HASHING): Promise<string> {
  return hashing(() => hash(password, parameters));
}

/** Never throws: a malformed stored hash is a mismatch. */
export async function verifyPassword(storedHash: string, password: string): Promise<boolean> {
  try {
    return await hashing(() => verify(storedHash, password));
  } catch {
    return false;
  }
}

/**
 * A real hash of a random password, made with the parameters real hashes are made with, so signing in with an
 * unknown email costs the same argon2 work as a wrong password and the two cannot be told apart by timing.
 */
const decoys = new WeakMap<PasswordHashing, Promise<string>>();
export function decoyHash(parameters: PasswordHashing = PRODUCTION_PASSWORD_HASHING): Promise<string> {
  let decoy = decoys.get(parameters);
  if (decoy === undefined) {
    decoy = hashPassword(crypto.randomUUID(), parameters);
    decoys.set(parameters, decoy);
  }
  return decoy;
}

/** Why `password` is not acceptable, or undefined if it is (NIST SP 800-63B: length and a blocklist, no composition rules). */
export function passwordProblem(password: string, context: { email?: string } = {}): string | undefined {
  const length = [...password].length;
  if (length < MIN_PASSWORD_LENGTH) return `must be at least ${MIN_PASSWORD_LENGTH} characters`;
  if (length > MAX_PASSWORD_LENGTH) return `must be at most ${MAX_PASSWORD_LENGTH} characters`;
  const lowered = password.toLowerCase();
  if (COMMON.has(lowered)) return 'is one of the most commonly used passwords';
  if (new Set(lowered).size === 1) return 'must not repeat a single character';
  const local = context.email?.split('@')[0];
  if (context.email !== undefined && (lowered === context.email || (local !== undefined && local.length >= 4 && lowered === local))) {
    return 'must not be your email address';
  }
  return undefined;
}
