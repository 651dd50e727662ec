import { randomBytes } from 'node:crypto';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import nodemailer from 'nodemailer';
import { ConfigError } from '../platform/config.ts';
import type { MailLogger, MailTransport } from './mail.types.ts';

export const DEFAULT_FROM = 'Tenantry <no-reply@localhost>';

/**
 * The transport TENANTRY_MAIL_URL names:
 * - `smtp://[user:password@]host[:port]` (STARTTLS when offered; port 587 by default) or
 *   `smtps://…` (TLS from the first byte; port 465 by default), with query options
 *   `from`, `requireTLS`, `ignoreTLS`, `rejectUnauthorized` and `maxConnections`;
 * - `file:///some/dir`: one JSON file per message, for tests and local tooling;
 * - unset: the message is logged (the development default).
 * Anything else is refused at start-up rather than losing mail later.
 */
export function createMailTransport(mailUrl: string | undefined, logger: MailLogger): MailTransport {
  if (mailUrl === undefined || mailUrl.trim() === '') return createLogTransport(logger);
  let url: URL;
  try {
    url = new URL(mailUrl);
  } catch {
    throw new ConfigError('TENANTRY_MAIL_URL is not a URL (expected smtp://, smtps:// or file:///dir)');
  }
  switch (url.protocol) {
    case 'smtp:':
    case 'smtps:':
      return createSmtpTransport(url);
    case 'file:':
      return createFileTransport(fileURLToPath(url));
    default:
      // The scheme only: the rest of the URL may hold a password.
      throw new ConfigError(`TENANTRY_MAIL_URL must start with smtp://, smtps:// or file://, not ${url.protocol}//`);
  }
}

const SMTP_OPTIONS = new Set(['from', 'requireTLS', 'ignoreTLS', 'rejectUnauthorized', 'maxConnections']);

function createSmtpTransport(url: URL): MailTransport {
  const params = url.searchParams;
  for (const name of params.keys()) {
    if (!SMTP_OPTIONS.has(name)) {
      throw new ConfigError(`TENANTRY_MAIL_URL has an unknown option "${name}" (known: ${[...SMTP_OPTIONS].join(', ')})`);
    }
  }
  if (url.hostname === '') throw new ConfigError('TENANTRY_MAIL_URL names no SMTP host');
  const secure = url.protocol === 'smtps:';
  const from = params.get('from') ?? DEFAULT_FROM;
  const user = decodeURIComponent(url.username);
  const transporter = nodemailer.createTransport({
    // One pool per process: connections are reused across messages instead of a handshake per mail.
    pool: true,
    maxConnections: integerParam(params, 'maxConnections', 5),
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: url.port === '' ? (secure ? 465 : 587) : Number(url.port),
    secure,
    requireTLS: booleanParam(params, 'requireTLS', false),
    ignoreTLS: booleanParam(params, 'ignoreTLS', false),
    tls: { rejectUnauthorized: booleanParam(params, 'rejectUnauthorized', true) },
    auth: user === '' ? undefined : { user, pass: decodeURIComponent(url.password) },
    // Far below nodemailer's defaults (minutes): an unreachable server must fail a send well within the
    // outbox lease, or another worker could take the message over and send it a second time.
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 30_000,
  });
  return {
    kind: 'smtp',
    async send(message) {
      await transporter.sendMail({ from, to: message.to, subject: message.subject, text: message.text, html: message.html });
    },
    async close() {
      transporter.close();
    },
  };
}

function booleanParam(params: URLSearchParams, name: string, fallback: boolean): boolean {
  const value = params.get(name);
  if (value === null) return fallback;
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  throw new ConfigError(`TENANTRY_MAIL_URL option ${name} must be true or false`);
}

function integerParam(params: URLSearchParams, name: string, fallback: number): number {
  const value = params.get(name);
  if (value === null) return fallback;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1 || parsed > 100) {
    throw new ConfigError(`TENANTRY_MAIL_URL option ${name} must be an integer from 1 to 100`);
  }
  return parsed;
}

/** Orders files written in the same millisecond by this process. */
let fileSequence = 0;

function createFileTransport(dir: string): MailTransport {
  return {
    kind: 'file',
    async send(message) {
      // The messages hold one-time links, so only the service's own user may read them.
      await mkdir(dir, { recursive: true, mode: 0o700 });
      // Wall-clock time only names the file so a directory listing sorts oldest first; the sequence
      // breaks ties within this process and the random part keeps processes sharing the dir apart.
      const stamp = new Date().toISOString().replace(/[-:.]/g, '');
      fileSequence = (fileSequence + 1) % 1_000_000;
      const name = `${stamp}-${String(fileSequence).padStart(6, '0')}-${randomBytes(4).toString('hex')}.json`;
      const body = JSON.stringify({ to: message.to, subject: message.subject, text: message.text, html: message.html }, null, 2);
      // Write then rename, so a reader watching the directory never sees half a message. The partial
      // file is a dotfile without the .json suffix, so globbing for *.json skips it.
      const partial = path.join(dir, `.${name}.partial`);
      await writeFile(partial, `${body}\n`, { mode: 0o600, flag: 'wx' });
      await rename(partial, path.join(dir, name));
    },
    async close() {},
  };
}

function createLogTransport(logger: MailLogger): MailTransport {
  return {
    kind: 'log',
    async send(message) {
      // The one place a message body is logged at info level: without TENANTRY_MAIL_URL (the development
      // default) the log is the only way the operator can follow a verification or invitation link.
      // Every other transport logs recipient and subject only, never the body with its one-time tokens.
      logger.info({ to: message.to, subject: message.subject, text: message.text }, 'mail logged instead of sent (TENANTRY_MAIL_URL is unset)');
    },
    async close() {},
  };
}
