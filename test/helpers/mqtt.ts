import type { MqttClient } from 'mqtt';

/** Subscribes to `filter` and returns the granted QoS the SUBACK gave it (128, or 135 in MQTT 5: refused). */
export async function grantedQos(client: MqttClient, filter: string): Promise<number | undefined> {
  try {
    return (await client.subscribeAsync(filter, { qos: 1 }))[0]?.qos;
  } catch (error) {
    // mqtt.js rejects a SUBACK that refuses a filter; the packet says which code.
    const granted = (error as { packet?: { granted?: Array<number | { qos: number }> } }).packet?.granted?.[0];
    if (granted === undefined) throw error;
    return typeof granted === 'number' ? granted : granted.qos;
  }
}
