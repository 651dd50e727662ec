import assert from 'node:assert/strict';
import type { LightMyRequestResponse } from 'fastify';
import type { TestApp } from './app.ts';
import { bearer } from './users.ts';

/** What every API key secret looks like (src/api-keys/credentials.ts). */
export const SECRET_SHAPE = /^tnty_t[a-z2-7]{15}_[a-z2-7]{20}_[a-z2-7]{59}$/;

export interface CreatedKey {
  id: string;
  secret: string;
  permissions: string[];
}

/** Creates an API key through the API as `token` (a person's access token or another key's secret). */
export async function createKey(t: TestApp, token: string, tenantId: string, permissions: string[], extra: { name?: string; expiresAt?: string } = {}): Promise<CreatedKey> {
  const res = await t.app.inject({
    method: 'POST',
    url: `/api/v1/tenants/${tenantId}/api-keys`,
    headers: bearer(token),
    payload: { name: extra.name ?? 'integration', permissions, ...(extra.expiresAt === undefined ? {} : { expiresAt: extra.expiresAt }) },
  });
  assert.equal(res.statusCode, 201, res.body);
  const body = res.json();
  return { id: body.id, secret: body.secret, permissions: body.permissions };
}

/** Exchanges a key for a machine token at POST /oauth/token (form-encoded, as most OAuth clients send it). */
export async function machineToken(t: TestApp, key: CreatedKey, scope?: string): Promise<string> {
  const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: key.id, client_secret: key.secret, ...(scope === undefined ? {} : { scope }) });
  const res = await t.app.inject({ method: 'POST', url: '/api/v1/oauth/token', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: form.toString() });
  assert.equal(res.statusCode, 200, res.body);
  return res.json().access_token;
}

/** An OAuth endpoint's error: `application/json` (RFC 6749 §5.2) carrying both the problem `code` and `error`. */
export function assertOAuthError(res: LightMyRequestResponse, status: number, error: string): void {
  assert.equal(res.statusCode, status, res.body);
  assert.match(String(res.headers['content-type']), /^application\/json/);
  assert.deepEqual([res.json().code, res.json().error], [error, error], res.body);
}
