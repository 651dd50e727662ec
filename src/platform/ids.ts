import { randomBytes } from 'node:crypto';

/**
 * Identifier scheme (ARCHITECTURE.md, "Identifiers"):
 * - every id is random, lowercase base32 (a–z, 2–7), so it is safe in URLs, file names and MQTT topic levels;
 * - tenant ids are 16 characters beginning with `t` and no separator, because integrators put them in
 *   MQTT topic levels and storage keys (seed 000: `{account_id}/{client_id}/…`);
 * - every other id carries a type prefix from the closed list below and an underscore.
 */
const ID_PREFIXES = {
  user: 'usr',
  session: 'ses',
  membership: 'mem',
  invitation: 'inv',
  apiKey: 'key',
  signingKey: 'sig',
  approval: 'apr',
  audit: 'aud',
  outbox: 'obx',
  role: 'rol',
  webhook: 'whk',
  webhookDelivery: 'whd',
  webhookMessage: 'msg',
} as const;

export type IdKind = keyof typeof ID_PREFIXES;

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';

/** `length` random base32 characters (5 bits each) from the system CSPRNG. */
export function randomBase32(length: number): string {
  const bytes = randomBytes(length);
  let out = '';
  for (const byte of bytes) out += ALPHABET[byte & 31];
  return out;
}

export function newId(kind: IdKind): string {
  return `${ID_PREFIXES[kind]}_${randomBase32(20)}`;
}

export const TENANT_ID_PATTERN = '^t[a-z2-7]{15}$';

/** What every id of `kind` matches, for schemas and argument checks: its prefix, an underscore, 20 base32 characters. */
export function idPattern(kind: IdKind): string {
  return `^${ID_PREFIXES[kind]}_[a-z2-7]{20}$`;
}

export function newTenantId(): string {
  return `t${randomBase32(15)}`;
}
