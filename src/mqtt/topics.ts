/**
 * Seed 000's topic layout, the one rule every broker integration applies: a tenant's topics are `{tenantId}/…`, and a
 * device's own are `{tenantId}/{clientId}/…`. Pure functions; `mqtt.service.ts` decides who holds which right.
 */

/** What a credential may do on the broker, from its permissions in its tenant (the preset's `mqtt` section). */
export interface MqttRights {
  /** Publish, and subscribe, under its own client prefix: a device. */
  publish: boolean;
  /** Subscribe to (and receive) every topic of its tenant: a read-only subscriber. */
  subscribe: boolean;
}

export type MqttAction = 'publish' | 'subscribe' | 'receive';

/**
 * A client id that can name a device: one topic level (no `/`, `+`, `#`), not starting with `$`, no NUL, at most 128
 * characters (brokers accept 23 at least; MQTT 5 allows longer).
 */
export function isDeviceClientId(clientId: string): boolean {
  return clientId.length > 0 && clientId.length <= 128 && !/[/+#]/.test(clientId) && !clientId.includes('\u0000') && !clientId.startsWith('$');
}

/**
 * Whether `rights` in `tenantId` allow `action` on `topic` for the device `clientId`. For `subscribe` the topic is a
 * filter: wildcards are allowed only below the fixed prefix (`{tenantId}/{clientId}/#` for a device,
 * `{tenantId}/#` or `{tenantId}/+/status` for a subscriber), so `#`, `+/#` and another tenant's prefix are refused;
 * `receive` is a message delivered on a concrete topic (mosquitto-go-auth asks it per message). Topics starting with
 * `$` (`$SYS`, `$CONTROL`, `$share`) are never allowed.
 */
export function topicAllowed(rights: MqttRights, tenantId: string, clientId: string, topic: string, action: MqttAction): boolean {
  if (topic.length === 0 || topic.startsWith('$') || topic.includes('\u0000') || !isDeviceClientId(clientId)) return false;
  const levels = topic.split('/');
  if (action === 'publish' && levels.some((level) => level === '+' || level === '#')) return false;
  if (!validFilter(levels)) return false;
  const inTenant = levels[0] === tenantId && levels.length >= 2;
  const ownDevice = inTenant && levels[1] === clientId && levels.length >= 3;
  if (action === 'publish') return rights.publish && ownDevice;
  return (rights.publish && ownDevice) || (rights.subscribe && inTenant);
}

/** MQTT's filter rules: `#` only as the last level, and `+` and `#` only as whole levels. */
function validFilter(levels: readonly string[]): boolean {
  return levels.every((level, i) => (level.includes('#') ? level === '#' && i === levels.length - 1 : !level.includes('+') || level === '+'));
}
