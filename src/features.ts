import { accountRoutes } from './accounts/accounts.routes.ts';
import { adminRoutes } from './admin/admin.routes.ts';
import { apiKeyRoutes } from './api-keys/api-keys.routes.ts';
import { approvalRoutes } from './approvals/approvals.routes.ts';
import { auditRoutes } from './audit/audit.routes.ts';
import { setupRoutes } from './accounts/setup.routes.ts';
import { authRoutes } from './auth/auth.routes.ts';
import { checkRoutes } from './check/check.routes.ts';
import { aliasRoutes } from './compat/aliases.routes.ts';
import { featureRoutes } from './features/features.routes.ts';
import { healthRoutes } from './health/health.routes.ts';
import { invitationRoutes } from './invitations/invitations.routes.ts';
import { memberRoutes } from './members/members.routes.ts';
import { mqttRoutes } from './mqtt/mqtt.routes.ts';
import { webhookRoutes } from './webhooks/webhooks.routes.ts';
import { oauthRoutes } from './oauth/oauth.routes.ts';
import { planRoutes } from './plans/plans.routes.ts';
import { portalRoutes } from './portal/portal.routes.ts';
import type { FastifyTypebox } from './platform/http/types.ts';
import { roleRoutes } from './roles/roles.routes.ts';
import { tenantRoutes } from './tenants/tenants.routes.ts';
import { wellKnownRoutes } from './tokens/well-known.routes.ts';

export interface Feature {
  name: string;
  /** Mounted under this prefix: `/api/v1` for the API, '' for operational endpoints. */
  prefix: '' | '/api/v1';
  routes: (app: FastifyTypebox) => Promise<void>;
}

/** Every capability the server exposes. A new capability is a folder under src/ and one line here. */
export const features: readonly Feature[] = [
  { name: 'health', prefix: '', routes: healthRoutes },
  { name: 'well-known', prefix: '', routes: wellKnownRoutes },
  { name: 'auth', prefix: '/api/v1', routes: authRoutes },
  { name: 'accounts', prefix: '/api/v1', routes: accountRoutes },
  { name: 'setup', prefix: '/api/v1', routes: setupRoutes },
  { name: 'members', prefix: '/api/v1', routes: memberRoutes },
  { name: 'invitations', prefix: '/api/v1', routes: invitationRoutes },
  { name: 'check', prefix: '/api/v1', routes: checkRoutes },
  { name: 'tenants', prefix: '/api/v1', routes: tenantRoutes },
  { name: 'roles', prefix: '/api/v1', routes: roleRoutes },
  { name: 'features', prefix: '/api/v1', routes: featureRoutes },
  { name: 'plans', prefix: '/api/v1', routes: planRoutes },
  { name: 'api-keys', prefix: '/api/v1', routes: apiKeyRoutes },
  { name: 'oauth', prefix: '/api/v1', routes: oauthRoutes },
  { name: 'audit', prefix: '/api/v1', routes: auditRoutes },
  { name: 'approvals', prefix: '/api/v1', routes: approvalRoutes },
  { name: 'admin', prefix: '/api/v1', routes: adminRoutes },
  { name: 'mqtt', prefix: '/api/v1', routes: mqttRoutes },
  { name: 'webhooks', prefix: '/api/v1', routes: webhookRoutes },
  { name: 'portal', prefix: '/api/v1', routes: portalRoutes },
  // Last: a preset's aliases forward to the routes above.
  { name: 'compat', prefix: '', routes: aliasRoutes },
];
