import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Verifies a Tenantry webhook delivery (Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature`
 * `v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">` under the endpoint's `whsec_` secret) and returns its event;
 * throws on a bad signature or a timestamp more than `toleranceSeconds` (default 300) from now. Pass the raw body.
 */
export function verifyTenantryWebhook<T = { type: string; timestamp: string; data: Record<string, unknown> }>(
  secret: string,
  body: string,
  headers: Record<string, string | string[] | undefined>,
  toleranceSeconds = 300,
): T {
  const header = (name: string) => {
    const value = headers[name] ?? headers[name.toLowerCase()];
    return Array.isArray(value) ? value[0] : value;
  };
  const id = header('webhook-id');
  const timestamp = header('webhook-timestamp');
  const signatures = header('webhook-signature');
  if (id === undefined || timestamp === undefined || signatures === undefined)
    throw new Error('not a Tenantry webhook: webhook-id, webhook-timestamp and webhook-signature are required');
  if (!/^\d+$/.test(timestamp) || Math.abs(Date.now() / 1000 - Number(timestamp)) > toleranceSeconds) throw new Error('the webhook timestamp is too old or too new');
  const key = Buffer.from(secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret, 'base64');
  const expected = createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest();
  const matches = signatures.split(' ').some((entry) => {
    const [version, signature] = entry.split(',');
    if (version !== 'v1' || signature === undefined) return false;
    const given = Buffer.from(signature, 'base64');
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
  if (!matches) throw new Error('the webhook signature does not match');
  return JSON.parse(body) as T;
}
