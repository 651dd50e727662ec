import type { FastifyBaseLogger } from 'fastify';
import type { PasswordHashing } from './accounts/passwords.ts';
import { CredentialCache } from './auth/credential-cache.ts';
import { LicenceStore } from './licence/licence.ts';
import { OutboxWorker } from './mail/outbox.ts';
import type { MailTransport } from './mail/mail.types.ts';
import { createMailTransport } from './mail/transports.ts';
import type { UserTenant } from './members/memberships.repository.ts';
import { AccessResolver } from './permissions/access-resolver.ts';
import { MosquittoSync } from './mqtt/mosquitto-sync.ts';
import { WebhookWorkers } from './webhooks/webhooks.worker.ts';
import type { Clock } from './platform/clock.ts';
import type { Config } from './platform/config.ts';
import type { Db } from './platform/db/context.ts';
import type { Database } from './platform/db/database.ts';
import type { AppDeps } from './platform/deps.ts';
import { OncePer } from './platform/once-per.ts';
import { TaggedCache } from './platform/tagged-cache.ts';
import { writePlatformSettings } from './presets/apply.ts';
import type { Preset } from './presets/presets.ts';
import { TENANT_ACTIVITY_GRANULARITY_MS } from './tenants/tenants.repository.ts';
import { KeyStore } from './tokens/key-store.ts';

/**
 * What every feature is handed (`app.services`): built once, here, from the composition root's `AppDeps`. Each
 * feature's own `…Deps` type names the part it reads, so routes pass this bundle whole and tests build only that part.
 */
export interface Services {
  db: Db;
  database: Database;
  clock: Clock;
  config: Config;
  /** Roles, permissions, features, plans and policies (TENANTRY_PRESET). */
  preset: Preset;
  /** 32 bytes that encrypt secrets at rest (signing keys) and key HMACs (CSRF tokens). */
  secretKey: Buffer;
  /** argon2 parameters for new password hashes; absent means OWASP's (every deployment). */
  passwordHashing?: PasswordHashing;
  /** Signing keys: signs and verifies access tokens, publishes the JWKS. */
  keys: KeyStore;
  /** Delivers queued mail; started with the server, driven by hand in tests (`runOnce`). */
  outbox: OutboxWorker;
  /** Where the outbox sends mail. */
  mailTransport: MailTransport;
  /** The licence in force (TENANTRY_LICENCE_FILE): licensed features and the tenant limit. */
  licence: LicenceStore;
  /** Effective permissions of a subject in a tenant, cached and invalidated across processes. */
  access: AccessResolver;
  /** Sessions, users and API keys as authentication reads them, cached and invalidated the same way. */
  credentials: CredentialCache;
  /** Each person's tenant list (`GET /tenants`, `/auth/me`, sign-in), cached and invalidated the same way. */
  tenantLists: TaggedCache<UserTenant[]>;
  /** Which tenants' `last_active_at` this process wrote in the last minute (switching records it at most that often). */
  tenantActivity: OncePer;
  /** The Mosquitto broker kept in step with keys and tenants, when TENANTRY_MOSQUITTO_URL names one. */
  mosquitto?: MosquittoSync;
  /** Fans webhook events out to endpoints and delivers them; started with the server, driven by hand in tests. */
  webhooks: WebhookWorkers;
}

export function createServices(deps: AppDeps, logger: FastifyBaseLogger): Services {
  const db = deps.database.db;
  const mailTransport = deps.mailTransport ?? createMailTransport(deps.config.mailUrl, logger);
  let access: AccessResolver | undefined;
  const licence = new LicenceStore({
    path: deps.config.licenceFile,
    preset: deps.preset,
    now: () => deps.clock.now(),
    // The database enforces the tenant limit; the permission resolver applies the features.
    persist: (current) => writePlatformSettings(deps.database, { tenant_limit: current.tenantLimit === null ? '' : String(current.tenantLimit) }),
    onChange: () => access?.invalidate('*'),
  });
  access = new AccessResolver({ db, preset: deps.preset, licensedFeatures: () => licence.current.features });
  const services: Services = {
    db,
    database: deps.database,
    clock: deps.clock,
    config: deps.config,
    preset: deps.preset,
    secretKey: deps.secretKey,
    ...(deps.passwordHashing === undefined ? {} : { passwordHashing: deps.passwordHashing }),
    keys: new KeyStore({ db, secretKey: deps.secretKey, clock: deps.clock }),
    outbox: new OutboxWorker({ db, transport: mailTransport, clock: deps.clock, logger }),
    mailTransport,
    licence,
    access,
    credentials: new CredentialCache(),
    tenantLists: new TaggedCache<UserTenant[]>(50_000),
    tenantActivity: new OncePer(TENANT_ACTIVITY_GRANULARITY_MS),
    webhooks: new WebhookWorkers({ db, clock: deps.clock, secretKey: deps.secretKey, logger, allowPrivate: deps.config.webhookAllowPrivate }),
  };
  if (deps.config.mosquittoUrl !== undefined) services.mosquitto = new MosquittoSync({ url: deps.config.mosquittoUrl, deps: services, logger });
  return services;
}
