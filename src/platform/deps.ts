import type { Registry } from 'prom-client';
import type { OncePer } from './once-per.ts';
import type { CredentialCache } from '../auth/credential-cache.ts';
import type { MailTransport } from '../mail/mail.types.ts';
import type { OutboxWorker } from '../mail/outbox.ts';
import type { LicenceStore } from '../licence/licence.ts';
import type { AccessResolver } from '../permissions/access-resolver.ts';
import type { PasswordHashing } from '../accounts/passwords.ts';
import type { Preset } from '../presets/presets.ts';
import type { KeyStore } from '../tokens/key-store.ts';
import type { Clock } from './clock.ts';
import type { Config } from './config.ts';
import type { TaggedCache } from './tagged-cache.ts';
import type { UserTenant } from '../members/memberships.repository.ts';
import type { Database } from './db/database.ts';

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
    deps: AppDeps;
    runtime: Runtime;
    /** Signing keys: signs and verifies access tokens, publishes the JWKS. */
    keys: KeyStore;
    /** Delivers queued mail; started with the server, driven by hand in tests (`runOnce`). */
    outbox: OutboxWorker;
    /** Effective permissions of a subject in a tenant, cached and invalidated across processes. */
    access: AccessResolver;
    /** Sessions, users and API keys as authentication reads them, cached and invalidated the same way. */
    credentials: CredentialCache;
    /** Each person's tenant list (`GET /tenants`, `/auth/me`, sign-in), cached and invalidated the same way. */
    tenantLists: TaggedCache<UserTenant[]>;
    /** Which tenants' `last_active_at` this process wrote in the last minute (switching records it at most that often). */
    tenantActivity: OncePer;
    /** The licence in force (TENANTRY_LICENCE_FILE): licensed features and the tenant limit. */
    licence: LicenceStore;
  }
}
