import assert from 'node:assert/strict';
import type { LightMyRequestResponse } from 'fastify';
import type { TestApp } from './app.ts';

let counter = 0;

/** A fresh, valid address for this test process. */
export function uniqueEmail(prefix = 'user'): string {
  counter += 1;
  return `${prefix}.${process.pid}.${counter}@example.test`;
}

export const GOOD_PASSWORD = 'correct horse battery staple';

export interface SignedUp {
  email: string;
  password: string;
  userId: string;
  tenantId: string;
  accessToken: string;
  refreshToken: string;
}

/** Signs a new person up through the API and returns their credentials. */
export async function signUp(t: TestApp, overrides: { email?: string; password?: string; name?: string } = {}): Promise<SignedUp> {
  const email = overrides.email ?? uniqueEmail();
  const password = overrides.password ?? GOOD_PASSWORD;
  const res = await t.app.inject({
    method: 'POST',
    url: '/api/v1/auth/signup',
    payload: { email, password, ...(overrides.name ? { name: overrides.name } : {}) },
  });
  assert.equal(res.statusCode, 201, res.body);
  const body = res.json();
  return { email, password, userId: body.user.id, tenantId: body.tenant.id, accessToken: body.accessToken, refreshToken: body.refreshToken };
}

export function bearer(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}

export function assertProblem(res: LightMyRequestResponse, status: number, code: string): void {
  assert.equal(res.statusCode, status, res.body);
  assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
  assert.equal(res.json().code, code, res.body);
}
