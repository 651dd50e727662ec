import { randomBytes } from 'node:crypto';
import { closeSync, fchmodSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';
import { type Config, ConfigError } from '../platform/config.ts';

/**
 * The server's 32-byte secret key: it seals secrets at rest (signing keys) and keys HMACs (CSRF tokens).
 *
 * - `TENANTRY_SECRET_KEY` wins when set: 64 hex characters, or base64 / base64url of 32 bytes.
 * - Embedded engine without it: `<dataDir>/secret.key` is created on first start (mode 0600) and read
 *   afterwards, so a single-node install needs no configuration. It holds the key as hex, so it can be
 *   copied into TENANTRY_SECRET_KEY when moving to PostgreSQL.
 * - PostgreSQL without it: refused, because every node must share the same key.
 */
export const SECRET_KEY_FILE = 'secret.key';

const KEY_BYTES = 32;
const HINT = 'generate one with `openssl rand -hex 32`';

type Env = Record<string, string | undefined>;

export function loadSecretKey(config: Config, env: Env = process.env): Buffer {
  const raw = env.TENANTRY_SECRET_KEY?.trim();
  if (raw !== undefined && raw !== '') return parseSecretKey(raw, 'TENANTRY_SECRET_KEY');
  if (config.databaseUrl !== undefined) {
    throw new ConfigError(
      `TENANTRY_SECRET_KEY is required with PostgreSQL (DATABASE_URL is set): every node must share the same key, ` +
        `or tokens signed by one node cannot be verified by another; ${HINT} and give the same value to every node`,
    );
  }
  return embeddedSecretKey(config.dataDir);
}

/** 64 hex characters or base64/base64url of exactly 32 bytes; never echoes the value in an error. */
export function parseSecretKey(raw: string, source: string): Buffer {
  const value = raw.trim();
  if (/^[0-9a-fA-F]{64}$/.test(value)) return Buffer.from(value, 'hex');
  // 32 bytes are 43 base64 characters plus one '=' of padding (optional).
  if (/^[A-Za-z0-9+/_-]{43}=?$/.test(value) && !(/[+/]/.test(value) && /[_-]/.test(value))) {
    const key = Buffer.from(value.replace(/=$/, ''), value.includes('+') || value.includes('/') ? 'base64' : 'base64url');
    if (key.length === KEY_BYTES) return key;
  }
  throw new ConfigError(
    `${source} must be ${KEY_BYTES} bytes written as 64 hex characters or as base64/base64url (43-44 characters); ` + `got ${value.length} characters that are neither; ${HINT}`,
  );
}

function embeddedSecretKey(dataDir: string): Buffer {
  const file = path.join(dataDir, SECRET_KEY_FILE);
  const existing = readKeyFile(file);
  if (existing !== undefined) return existing;

  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  // Written to a private temporary file, then hard-linked into place: the link either creates the
  // complete file or fails because another process got there first, so nobody reads half a key.
  const temporary = path.join(dataDir, `.${SECRET_KEY_FILE}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  writeKeyFile(temporary, randomBytes(KEY_BYTES));
  try {
    linkSync(temporary, file);
  } catch (error) {
    if (errorCode(error) !== 'EEXIST') {
      // No hard links on this file system: fall back to an exclusive create of the final file.
      unlinkSync(temporary);
      try {
        writeKeyFile(file, randomBytes(KEY_BYTES));
      } catch (createError) {
        if (errorCode(createError) !== 'EEXIST') throw createError;
      }
    }
  } finally {
    try {
      unlinkSync(temporary);
    } catch {
      // Already gone (the fallback path removed it).
    }
  }
  const created = readKeyFile(file);
  if (created === undefined) throw new Error(`could not create ${file}`);
  return created;
}

function writeKeyFile(file: string, key: Buffer): void {
  const fd = openSync(file, 'wx', 0o600);
  try {
    fchmodSync(fd, 0o600);
    writeSync(fd, `${key.toString('hex')}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function readKeyFile(file: string): Buffer | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return undefined;
    throw new ConfigError(`cannot read the secret key file ${file}: ${error instanceof Error ? error.message : String(error)}`);
  }
  return parseSecretKey(text, `the secret key file ${file}`);
}

function errorCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string' ? error.code : undefined;
}
