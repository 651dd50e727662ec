import type { Registry } from 'prom-client';
import type { MailTransport } from '../mail/mail.types.ts';
import type { PasswordHashing } from '../accounts/passwords.ts';
import type { Preset } from '../presets/presets.ts';
import type { Clock } from './clock.ts';
import type { Config } from './config.ts';
import type { Database } from './db/database.ts';
import type { Services } from '../services.ts';

/** What the composition root hands every feature. Tests build their own (fresh database, manual clock). */
export interface AppDeps {
  config: Config;
  database: Database;
  clock: Clock;
  /** 32 bytes that encrypt secrets at rest (signing keys) and key HMACs (CSRF tokens). */
  secretKey: Buffer;
  /** Where mail goes; default: the transport TENANTRY_MAIL_URL names. Tests pass their SMTP server's. */
  mailTransport?: MailTransport;
  /** Roles, permissions, features, plans and policies (TENANTRY_PRESET). */
  preset: Preset;
  /** argon2 parameters for new password hashes; default (and in every deployment) OWASP's. Tests pass cheaper ones. */
  passwordHashing?: PasswordHashing;
}

/** Process-level state shared by the HTTP layer. */
export interface Runtime {
  /** Set once shutdown begins: new requests are answered 503 while in-flight ones finish. */
  draining: boolean;
  metrics: Registry;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The feature dependencies, built once by the composition root (see src/services.ts). */
    services: Services;
    runtime: Runtime;
  }
}
