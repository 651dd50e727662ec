import { Type } from 'typebox';
import type { FastifyTypebox } from '../platform/http/types.ts';
import { listAudit, verifyChain } from './audit.service.ts';
import { Nullable, pageOf, pageQuery, Problems, TenantId } from '../platform/http/schemas.ts';
import { authorize } from '../permissions/authorize.http.ts';

const TenantParams = Type.Object({ tenantId: TenantId });
const ActorType = Type.Union([Type.Literal('user'), Type.Literal('api_key'), Type.Literal('system')]);

const AuditEventSchema = Type.Object({
  id: Type.String(),
  seq: Type.Integer({ description: "Position in the tenant's chain, from 1" }),
  occurredAt: Type.String({ format: 'date-time' }),
  actor: Type.Object({
    type: ActorType,
    id: Nullable(Type.String()),
    via: Type.String({ description: '`direct`, `shadow` (operator access), `ancestor` (a role held above) or `platform_admin`' }),
  }),
  action: Type.String(),
  target: Type.Object({ type: Nullable(Type.String()), id: Nullable(Type.String()) }),
  before: Type.Unknown(),
  after: Type.Unknown(),
  requestId: Nullable(Type.String()),
  ip: Nullable(Type.String()),
  prevHash: Type.String(),
  hash: Type.String({ description: 'sha256 over the event and prevHash; see GET …/audit-events/verify' }),
});

/** SPEC 4, audit: the per-tenant trail with filters and cursor paging, and chain verification. Both need `audit.read`. */
export async function auditRoutes(app: FastifyTypebox): Promise<void> {
  const db = app.services.db;

  app.get(
    '/tenants/:tenantId/audit-events',
    {
      schema: {
        tags: ['audit'],
        summary: "The tenant's audit trail, newest first, in pages",
        description: 'Needs `audit.read`. Pass `nextCursor` back as `cursor` for the next page; filters combine with AND.',
        params: TenantParams,
        querystring: Type.Object(
          {
            action: Type.Optional(Type.String({ minLength: 1, maxLength: 100, description: 'An exact action (`member.added`) or a prefix ending in `.*` (`member.*`)' })),
            actorType: Type.Optional(ActorType),
            actorId: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
            targetType: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
            targetId: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
            since: Type.Optional(Type.String({ format: 'date-time', description: 'Inclusive' })),
            until: Type.Optional(Type.String({ format: 'date-time', description: 'Exclusive' })),
            ...pageQuery({ max: 200, byDefault: 50 }),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object(pageOf('events', AuditEventSchema)), ...Problems },
      },
    },
    async (request) => {
      const { tenantId } = request.params;
      await authorize(app, request, tenantId, 'audit.read');
      const { limit, cursor, since, until, ...filter } = request.query;
      return listAudit(
        db,
        tenantId,
        { ...filter, ...(since === undefined ? {} : { since: new Date(since) }), ...(until === undefined ? {} : { until: new Date(until) }) },
        {
          limit,
          ...(cursor === undefined ? {} : { cursor }),
        },
      );
    },
  );

  app.get(
    '/tenants/:tenantId/audit-events/verify',
    {
      schema: {
        tags: ['audit'],
        summary: "Recompute the tenant's hash chain and say whether it holds, and if not, where it breaks",
        description: 'Needs `audit.read`. Detects an event changed, removed or reordered after it was written (e.g. by direct database access).',
        params: TenantParams,
        response: {
          200: Type.Object({
            valid: Type.Boolean(),
            checked: Type.Integer(),
            head: Nullable(Type.Object({ seq: Type.Integer(), hash: Type.String() })),
            brokenAt: Nullable(Type.Object({ seq: Type.Integer(), reason: Type.String() })),
          }),
          ...Problems,
        },
      },
    },
    async (request) => {
      const { tenantId } = request.params;
      await authorize(app, request, tenantId, 'audit.read');
      return verifyChain(db, tenantId);
    },
  );
}
