import { Type } from 'typebox';
import type { FastifyTypebox } from '../platform/http/types.ts';
import { type FeatureDeps, listFeatures, setFeatures } from './features.service.ts';
import { Problems, TenantId } from '../platform/http/schemas.ts';
import { authorize } from '../permissions/authorize.http.ts';

const TenantParams = Type.Object({ tenantId: TenantId });

const FeatureList = Type.Object({
  features: Type.Array(
    Type.Object({
      key: Type.String(),
      name: Type.String(),
      description: Type.Union([Type.String(), Type.Null()]),
      enabled: Type.Boolean({ description: 'Whether the feature is on in this tenant' }),
      default: Type.Boolean({ description: 'What a tenant without an override gets' }),
      licensed: Type.Boolean({ description: 'Whether the licence covers it; an unlicensed feature is off and cannot be turned on' }),
    }),
  ),
});

export async function featureRoutes(app: FastifyTypebox): Promise<void> {
  const deps: FeatureDeps = app.services;

  app.get(
    '/tenants/:tenantId/features',
    {
      schema: {
        tags: ['features'],
        summary: 'The features of the installation and whether each is on in this tenant',
        params: TenantParams,
        response: { 200: FeatureList, ...Problems },
      },
    },
    async (request) => {
      const { access } = await authorize(app, request, request.params.tenantId, 'tenant.read');
      return { features: await listFeatures(deps, access) };
    },
  );

  app.put(
    '/tenants/:tenantId/features',
    {
      schema: {
        tags: ['features'],
        summary: 'Turn features on or off for this tenant',
        description:
          'Only the features named change. Permissions that require a feature stop counting on the next request after it is turned off; no data is deleted. ' +
          'Turning on a feature the licence does not cover is `409 feature_not_licensed`.',
        params: TenantParams,
        body: Type.Object({ features: Type.Record(Type.String({ maxLength: 100 }), Type.Boolean(), { description: 'Feature key → on/off' }) }, { additionalProperties: false }),
        response: { 200: FeatureList, ...Problems },
      },
    },
    async (request) => {
      const caller = await authorize(app, request, request.params.tenantId, 'features.manage');
      return { features: await setFeatures(deps, caller, request.body.features) };
    },
  );
}
