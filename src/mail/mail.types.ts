import type { FastifyBaseLogger } from 'fastify';

/** One message to one person. Both parts are always sent: clients pick the one they can show. */
export interface MailMessage {
  to: string;
  subject: string;
  text: string;
  html: string;
}

/**
 * Where mail goes (TENANTRY_MAIL_URL). `send` resolves once the message has been handed over
 * (accepted by the SMTP server, written to disk, logged) and rejects otherwise; the outbox retries.
 */
export interface MailTransport {
  readonly kind: 'smtp' | 'file' | 'log';
  send(message: MailMessage): Promise<void>;
  close(): Promise<void>;
}

/** The part of a pino logger the mail module uses; Fastify's and pino's loggers both fit. */
export type MailLogger = Pick<FastifyBaseLogger, 'debug' | 'info' | 'warn' | 'error'>;
