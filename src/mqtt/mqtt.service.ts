import { type ApiKeyDeps, authenticateKeyId, authenticateSecret, type UsableKey } from '../api-keys/api-keys.service.ts';
import { findApiKeyTenant } from '../api-keys/api-keys.repository.ts';
import { looksLikeApiKeySecret, parseApiKeySecret } from '../api-keys/credentials.ts';
import type { AccessResolver } from '../permissions/access-resolver.ts';
import type { Config } from '../platform/config.ts';
import { readSystem } from '../platform/db/context.ts';
import { AppError } from '../platform/http/errors.ts';
import { isMachineToken, verifyAccessToken } from '../tokens/access-tokens.ts';
import type { KeyStore } from '../tokens/key-store.ts';
import { isDeviceClientId, type MqttAction, type MqttRights, topicAllowed } from './topics.ts';

/**
 * What deciding for a broker reads: keys (cached in `credentials.keys`), the permission resolver (cached), the signing
 * keys for machine tokens. On a warm cache a decision reads nothing from the database.
 */
export interface MqttDeps extends ApiKeyDeps {
  access: Pick<AccessResolver, 'forKey'>;
  keys: KeyStore;
  config: Pick<Config, 'publicUrl'>;
}

export type BrokerDecision = { allow: true; tenantId: string; keyId: string; rights: MqttRights } | { allow: false; reason: string };

/**
 * A client connecting: the MQTT username is the API key's id, the password the key's secret or a machine token minted
 * from it (client credentials), the client id the device's name (one topic level). Refused: an unusable key (revoked,
 * expired, tenant not active, the preset's key feature off), a password of another key, a machine token that carries
 * fewer MQTT rights than its key (topic checks see only the username, so a narrower token would widen on the broker),
 * and a key whose permissions give no MQTT right at all.
 */
export async function authenticateBrokerClient(deps: MqttDeps, client: { username: string; password: string; clientId: string }): Promise<BrokerDecision> {
  if (deps.preset.mqtt === null) return deny(`the ${deps.preset.name} preset gives API keys no MQTT rights`);
  if (!isDeviceClientId(client.clientId)) return deny('the client id must be one topic level: no "/", "+", "#" or leading "$"');
  try {
    const key = await keyOfPassword(deps, client);
    if (key === undefined) return deny('the password is not a credential of the key named by the username');
    const rights = await rightsOf(deps, key);
    if (key.scopedPermissions !== undefined) {
      const scoped = await rightsOf(deps, { ...key, permissions: key.scopedPermissions });
      if (scoped.publish !== rights.publish || scoped.subscribe !== rights.subscribe) return deny('a machine token must carry every MQTT permission of its key');
    }
    if (!rights.publish && !rights.subscribe) return deny(`the key holds neither ${deps.preset.mqtt.publish} nor ${deps.preset.mqtt.subscribe}`);
    return { allow: true, tenantId: key.tenantId, keyId: key.keyId, rights };
  } catch (error) {
    if (error instanceof AppError && error.spec.status < 500) return deny(error.message);
    throw error;
  }
}

/**
 * A connected client acting: publishing to, subscribing to, or receiving on `topic` (see `topicAllowed`). The key named
 * by the username is read again (cached), so a revoked key or a suspended tenant is refused at the next action.
 */
export async function authorizeBrokerAction(deps: MqttDeps, act: { username: string; clientId: string; topic: string; action: MqttAction }): Promise<BrokerDecision> {
  if (deps.preset.mqtt === null) return deny(`the ${deps.preset.name} preset gives API keys no MQTT rights`);
  try {
    const tenantId = await tenantOfKey(deps, act.username);
    if (tenantId === undefined) return deny('the username names no API key');
    const key = await authenticateKeyId(deps, tenantId, act.username, { recordUse: false });
    const rights = await rightsOf(deps, key);
    if (!topicAllowed(rights, tenantId, act.clientId, act.topic, act.action)) return deny(`${act.action} on ${act.topic} is outside what the key may use`);
    return { allow: true, tenantId, keyId: key.keyId, rights };
  } catch (error) {
    if (error instanceof AppError && error.spec.status < 500) return deny(error.message);
    throw error;
  }
}

/** The MQTT rights the key's permissions give in its tenant (after feature and status filters: the resolver's answer). */
export async function rightsOf(deps: Pick<MqttDeps, 'access' | 'preset'>, key: Pick<UsableKey, 'keyId' | 'tenantId' | 'permissions'>): Promise<MqttRights> {
  const mqtt = deps.preset.mqtt;
  if (mqtt === null) return { publish: false, subscribe: false };
  const { permissions } = await deps.access.forKey(key, key.tenantId);
  return { publish: permissions.has(mqtt.publish), subscribe: permissions.has(mqtt.subscribe) };
}

function deny(reason: string): BrokerDecision {
  return { allow: false, reason };
}

async function keyOfPassword(deps: MqttDeps, client: { username: string; password: string }): Promise<(UsableKey & { scopedPermissions?: string[] }) | undefined> {
  if (looksLikeApiKeySecret(client.password)) {
    if (parseApiKeySecret(client.password)?.keyId !== client.username) return undefined;
    return authenticateSecret(deps, client.password);
  }
  const claims = await verifyAccessToken(deps.keys, client.password, { issuer: deps.config.publicUrl, clock: deps.clock });
  if (!isMachineToken(claims) || claims.client_id !== client.username) return undefined;
  const key = await authenticateKeyId(deps, claims.tid, claims.client_id);
  const scope = new Set(claims.scope.split(' '));
  return { ...key, scopedPermissions: key.permissions.filter((p) => scope.has(p)) };
}

/** Key ids never move between tenants, so what was read once is remembered (bounded) for the process's life. */
const KEY_TENANTS_MAX = 100_000;
const keyTenants = new Map<string, string>();

export async function tenantOfKey(deps: Pick<MqttDeps, 'db'>, keyId: string): Promise<string | undefined> {
  const known = keyTenants.get(keyId);
  if (known !== undefined) return known;
  const tenantId = await readSystem(deps.db, (trx) => findApiKeyTenant(trx, keyId));
  if (tenantId === undefined) return undefined;
  if (keyTenants.size >= KEY_TENANTS_MAX) keyTenants.clear();
  keyTenants.set(keyId, tenantId);
  return tenantId;
}
