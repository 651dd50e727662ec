import { defineErrors } from '../platform/http/errors.ts';

export const WebhookErrors = defineErrors({
  WEBHOOK_NOT_FOUND: { status: 404, code: 'webhook_not_found', title: 'No such webhook endpoint' },
  DELIVERY_NOT_FOUND: { status: 404, code: 'delivery_not_found', title: 'No such delivery of this endpoint' },
  DELIVERY_PENDING: { status: 409, code: 'delivery_pending', title: 'The delivery is still being attempted' },
  URL_NOT_ALLOWED: { status: 422, code: 'webhook_url_not_allowed', title: 'Webhooks cannot be sent to this URL' },
  UNKNOWN_EVENT_TYPE: { status: 422, code: 'unknown_event_type', title: 'Not a webhook event type' },
});
