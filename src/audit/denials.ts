import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import { AuthErrors } from '../auth/auth.errors.ts';
import { actorOf } from '../auth/principal.ts';
import { enterTenantContext, inTransaction } from '../platform/db/context.ts';
import { AppError } from '../platform/http/errors.ts';
import { appendAuditEvent } from './audit.repository.ts';

/**
 * A refusal is an event too (ASVS 5.0 V16.3.2): every `403 forbidden` inside a tenant — a permission the caller lacks
 * there, a role above their own, a member they may not touch — is appended to that tenant's trail as `access.denied`,
 * naming the route and, where one is missing, the permission. Only where the caller can see the tenant (a 403, never a
 * 404), so nobody can write into the trail of a tenant they cannot reach.
 *
 * Written after the refused request's own transaction has rolled back, in a transaction of its own that notifies no
 * cache: the event changes nothing anyone's access depends on. If writing it fails, the refusal is still answered.
 */
export const denialAudit = fp(
  async (app: FastifyInstance) => {
    app.addHook('onError', async (request, _reply, error) => {
      if (!(error instanceof AppError) || error.spec !== AuthErrors.FORBIDDEN) return;
      const tenantId = (request.params as { tenantId?: unknown } | undefined)?.tenantId;
      const principal = request.principal;
      if (typeof tenantId !== 'string' || principal === null) return;
      const permission = typeof error.extras.permission === 'string' ? error.extras.permission : null;
      try {
        await inTransaction(app.services.db, async (trx) => {
          await enterTenantContext(trx, tenantId);
          await appendAuditEvent(
            trx,
            { ...actorOf(principal), requestId: request.id, ip: request.ip },
            {
              tenantId,
              action: 'access.denied',
              targetType: 'route',
              targetId: `${request.method} ${request.routeOptions.url ?? request.url}`,
              after: { permission, reason: error.message },
            },
            app.services.clock.now(),
          );
        });
      } catch (cause) {
        request.log.error({ err: cause, tenantId }, 'could not record a refusal in the audit trail');
      }
    });
  },
  { name: 'tenantry-denial-audit', dependencies: ['tenantry-authentication'] },
);
