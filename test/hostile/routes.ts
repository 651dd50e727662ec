import { readFileSync } from 'node:fs';
import { uniqueEmail } from '../helpers/users.ts';

/** The route inventory of the hostile tests: the committed OpenAPI document (drift-tested against the app). */

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface TenantRoute {
  method: Method;
  /** As in the document: `/api/v1/tenants/{tenantId}/…`. */
  path: string;
  hasBody: boolean;
}

export const WRITES: ReadonlySet<string> = new Set(['POST', 'PUT', 'PATCH']);

/** Every tenant-scoped route of the API (`/tenants/{tenantId}…`). */
export function tenantRoutes(): TenantRoute[] {
  const doc = JSON.parse(readFileSync(new URL('../../docs/openapi.json', import.meta.url), 'utf8')) as { paths: Record<string, Record<string, { requestBody?: unknown }>> };
  return Object.entries(doc.paths)
    .filter(([path]) => path.startsWith('/api/v1/tenants/{tenantId}'))
    .flatMap(([path, ops]) => Object.entries(ops).map(([method, op]) => ({ method: method.toUpperCase() as Method, path, hasBody: op.requestBody !== undefined })));
}

/**
 * A valid request body for each tenant-scoped write route — what its schema needs, so the request reaches
 * authorization. `userId` is a person the body names (a member to add, change or hand the tenant to), `slug` the
 * tenant's slug where a body confirms it.
 */
export function writeBody(route: TenantRoute, names: { userId: string; slug: string }): object | undefined {
  const bodies: Record<string, object> = {
    'POST /api/v1/tenants/{tenantId}/members': { userId: names.userId, roles: ['member'] },
    'PATCH /api/v1/tenants/{tenantId}/members/{userId}': { roles: ['viewer'] },
    'POST /api/v1/tenants/{tenantId}/transfer-ownership': { userId: names.userId, confirm: names.slug },
    'POST /api/v1/tenants/{tenantId}/invitations': { email: uniqueEmail('smuggled'), roles: ['member'] },
    'PATCH /api/v1/tenants/{tenantId}': { name: 'Taken over' },
    'DELETE /api/v1/tenants/{tenantId}': { confirm: names.slug },
    'POST /api/v1/tenants/{tenantId}/suspend': { reason: 'hostile' },
    'POST /api/v1/tenants/{tenantId}/resume': {},
    'POST /api/v1/tenants/{tenantId}/roles': { key: 'intruder', name: 'Intruder', scope: 'tenant', permissions: ['tenant.read'] },
    'PATCH /api/v1/tenants/{tenantId}/roles/{roleKey}': { permissions: ['tenant.read', 'members.manage'] },
    'PUT /api/v1/tenants/{tenantId}/features': { features: { api_keys: false } },
    'PUT /api/v1/tenants/{tenantId}/plan': { plan: 'pro' },
    'POST /api/v1/tenants/{tenantId}/api-keys': { name: 'intruder', permissions: ['tenant.read'] },
    'POST /api/v1/tenants/{tenantId}/webhooks': { url: 'https://203.0.113.66/intruder' },
    'PATCH /api/v1/tenants/{tenantId}/webhooks/{webhookId}': { url: 'https://203.0.113.66/intruder', enabled: false },
    'POST /api/v1/tenants/{tenantId}/approval-requests/{requestId}/approve': {},
    'POST /api/v1/tenants/{tenantId}/approval-requests/{requestId}/decline': {},
  };
  return bodies[`${route.method} ${route.path}`];
}
