import { defineErrors } from '../platform/http/errors.ts';

export const MqttErrors = defineErrors({
  BROKER_ENDPOINTS_OFF: { status: 404, code: 'mqtt_not_configured', title: 'The MQTT broker endpoints are off (TENANTRY_MQTT_BROKER_SECRET is unset)' },
  BROKER_UNAUTHENTICATED: { status: 401, code: 'broker_unauthenticated', title: 'Present the broker secret as a bearer token or a Basic password' },
});
