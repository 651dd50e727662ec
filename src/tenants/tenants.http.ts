import type { FastifyInstance } from 'fastify';
import type { TenantListDeps } from './tenant-list.service.ts';

/** The app's: its database, preset, permission resolver and cache of lists. */
export function tenantListDeps(app: FastifyInstance): TenantListDeps {
  return { db: app.deps.database.db, preset: app.access.preset, accessTo: (subject, id) => app.access.forUser(subject, id), cache: app.tenantLists };
}
