import { isIP } from 'node:net';
import path from 'node:path';

/**
 * Everything Tenantry reads from its environment, parsed once at start-up.
 * SPEC 5.2 names the variables; anything not named there is prefixed TENANTRY_.
 */
export interface Config {
  port: number;
  host: string;
  /** PostgreSQL connection string; undefined selects the embedded PGlite engine. */
  databaseUrl: string | undefined;
  /** Where PGlite keeps its files when databaseUrl is unset. */
  dataDir: string;
  preset: string;
  publicUrl: string;
  mailUrl: string | undefined;
  licenceFile: string | undefined;
  adminEmail: string | undefined;
  adminPassword: string | undefined;
  redisUrl: string | undefined;
  logLevel: string;
  /** Largest request body accepted, in bytes. */
  bodyLimit: number;
  /** Proxies whose X-Forwarded-For is believed (addresses or CIDR ranges); none by default, so the header is ignored. */
  trustedProxies: string[];
  /** Requests per minute and client IP to each credential endpoint (sign-in, sign-up, reset, tokens). */
  authRateLimitPerMinute: number;
  /** Deepest tenant tree allowed (the root is level 1); undefined = the preset's `maxDepth` (7 in every built-in). */
  maxTreeDepth: number | undefined;
  /** How long an invitation link stays valid, in hours (SPEC 1: 48 h by default). */
  invitationTtlHours: number;
  /**
   * In presets whose sign-up creates no tenant (msp, company-tree: people join by invitation), whether people may
   * still sign up without an invitation; they get an account and no tenant until someone invites them.
   */
  openSignup: boolean;
  /** The single root's name and slug in presets with one (company-tree's Main Company), set at deployment. */
  rootTenantName: string | undefined;
  rootTenantSlug: string | undefined;
  /**
   * The secret MQTT brokers present to the broker endpoints (`/api/v1/mqtt/…`: EMQX, mosquitto-go-auth, VerneMQ), as
   * a bearer token or a Basic password; unset, those endpoints do not exist.
   */
  mqttBrokerSecret: string | undefined;
  /**
   * A Mosquitto 2 broker whose dynamic-security plugin Tenantry keeps in step with API keys and tenants:
   * `mqtt://<admin user>:<password>@host:port` of a client allowed on `$CONTROL/dynamic-security/#`.
   */
  mosquittoUrl: string | undefined;
  /** Whether webhook endpoints may point at private, loopback, link-local or metadata addresses (off: SSRF guard). */
  webhookAllowPrivate: boolean;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Env = Record<string, string | undefined>;

export function loadConfig(env: Env = process.env): Config {
  const port = integer(env, 'PORT', 3000, { min: 0, max: 65_535 });
  const host = nonEmpty(env.TENANTRY_HOST) ?? '0.0.0.0';
  const publicUrl = nonEmpty(env.TENANTRY_PUBLIC_URL) ?? `http://localhost:${port}`;
  try {
    new URL(publicUrl);
  } catch {
    throw new ConfigError(`TENANTRY_PUBLIC_URL is not a URL: ${publicUrl}`);
  }
  const databaseUrl = nonEmpty(env.DATABASE_URL);
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ConfigError('DATABASE_URL must start with postgres:// or postgresql://');
  }
  return {
    port,
    host,
    databaseUrl,
    dataDir: path.resolve(nonEmpty(env.TENANTRY_DATA_DIR) ?? './data'),
    preset: nonEmpty(env.TENANTRY_PRESET) ?? 'default',
    publicUrl: publicUrl.replace(/\/+$/, ''),
    mailUrl: nonEmpty(env.TENANTRY_MAIL_URL),
    licenceFile: nonEmpty(env.TENANTRY_LICENCE_FILE),
    adminEmail: nonEmpty(env.TENANTRY_ADMIN_EMAIL),
    adminPassword: nonEmpty(env.TENANTRY_ADMIN_PASSWORD),
    redisUrl: nonEmpty(env.REDIS_URL),
    logLevel: nonEmpty(env.TENANTRY_LOG_LEVEL) ?? 'info',
    bodyLimit: integer(env, 'TENANTRY_BODY_LIMIT', 1024 * 1024, { min: 1024, max: 64 * 1024 * 1024 }),
    trustedProxies: addressList(env, 'TENANTRY_TRUSTED_PROXIES'),
    authRateLimitPerMinute: integer(env, 'TENANTRY_AUTH_RATE_LIMIT', 30, { min: 1, max: 1_000_000 }),
    maxTreeDepth: nonEmpty(env.TENANTRY_MAX_TREE_DEPTH) === undefined ? undefined : integer(env, 'TENANTRY_MAX_TREE_DEPTH', 7, { min: 1, max: 32 }),
    invitationTtlHours: integer(env, 'TENANTRY_INVITATION_TTL_HOURS', 48, { min: 1, max: 24 * 365 }),
    openSignup: boolean(env, 'TENANTRY_OPEN_SIGNUP', false),
    rootTenantName: nonEmpty(env.TENANTRY_ROOT_TENANT_NAME),
    rootTenantSlug: slug(env, 'TENANTRY_ROOT_TENANT_SLUG'),
    mqttBrokerSecret: brokerSecret(env),
    mosquittoUrl: mosquittoUrl(env),
    webhookAllowPrivate: boolean(env, 'TENANTRY_WEBHOOK_ALLOW_PRIVATE', false),
  };
}

/** The configuration with secrets masked, for `tenantry doctor` and start-up logs. */
export function describeConfig(config: Config): Record<string, unknown> {
  return {
    ...config,
    databaseUrl: config.databaseUrl === undefined ? undefined : maskUrlPassword(config.databaseUrl),
    mailUrl: config.mailUrl === undefined ? undefined : maskUrlPassword(config.mailUrl),
    redisUrl: config.redisUrl === undefined ? undefined : maskUrlPassword(config.redisUrl),
    adminPassword: config.adminPassword === undefined ? undefined : '********',
    mqttBrokerSecret: config.mqttBrokerSecret === undefined ? undefined : '********',
    mosquittoUrl: config.mosquittoUrl === undefined ? undefined : maskUrlPassword(config.mosquittoUrl),
  };
}

function brokerSecret(env: Env): string | undefined {
  const secret = nonEmpty(env.TENANTRY_MQTT_BROKER_SECRET);
  if (secret !== undefined && secret.length < 24) throw new ConfigError('TENANTRY_MQTT_BROKER_SECRET must be at least 24 characters (brokers present it on every decision)');
  return secret;
}

function mosquittoUrl(env: Env): string | undefined {
  const raw = nonEmpty(env.TENANTRY_MOSQUITTO_URL);
  if (raw === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError('TENANTRY_MOSQUITTO_URL is not a URL');
  }
  if (!['mqtt:', 'mqtts:', 'ws:', 'wss:'].includes(url.protocol)) throw new ConfigError('TENANTRY_MOSQUITTO_URL must start with mqtt://, mqtts://, ws:// or wss://');
  if (url.username === '' || url.password === '') throw new ConfigError('TENANTRY_MOSQUITTO_URL must carry the dynamic-security admin user and password');
  return raw;
}

function maskUrlPassword(raw: string): string {
  try {
    const url = new URL(raw);
    if (url.password) url.password = '********';
    return url.toString();
  } catch {
    return '(unparsable URL)';
  }
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

function integer(env: Env, name: string, fallback: number, range: { min: number; max: number }): number {
  const raw = nonEmpty(env[name]);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < range.min || value > range.max) {
    throw new ConfigError(`${name} must be an integer from ${range.min} to ${range.max}, got "${raw}"`);
  }
  return value;
}

function boolean(env: Env, name: string, fallback: boolean): boolean {
  const raw = nonEmpty(env[name])?.toLowerCase();
  if (raw === undefined) return fallback;
  if (raw === 'true' || raw === '1' || raw === 'yes') return true;
  if (raw === 'false' || raw === '0' || raw === 'no') return false;
  throw new ConfigError(`${name} must be true or false, got "${env[name]}"`);
}

function slug(env: Env, name: string): string | undefined {
  const raw = nonEmpty(env[name]);
  if (raw !== undefined && !/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/.test(raw)) {
    throw new ConfigError(`${name} must be lowercase letters, digits and dashes (2–63 characters), got "${raw}"`);
  }
  return raw;
}

/** A comma-separated list of IP addresses and CIDR ranges (`10.0.0.0/8`); anything else stops the start. */
function addressList(env: Env, name: string): string[] {
  const entries = (nonEmpty(env[name]) ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  for (const entry of entries) {
    const [address, bits, extra] = entry.split('/');
    const version = isIP(address ?? '');
    const prefix = bits === undefined ? undefined : Number(bits);
    if (version === 0 || extra !== undefined || (prefix !== undefined && !(Number.isInteger(prefix) && prefix >= 0 && prefix <= (version === 4 ? 32 : 128)))) {
      throw new ConfigError(`${name}: "${entry}" is not an IP address or CIDR range`);
    }
  }
  return entries;
}
