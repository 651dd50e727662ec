import { Type } from 'typebox';
import type { FastifyTypebox } from '../platform/http/types.ts';

/**
 * What the portal needs before anyone signs in: which preset runs, in its own words (labels), what sign-up does
 * there and how long a deleted tenant can be restored, so pages say "MQTT tenants" or "Companies" and offer sign-up only where it is open.
 */
export async function portalRoutes(app: FastifyTypebox): Promise<void> {
  app.get(
    '/portal',
    {
      schema: {
        tags: ['portal'],
        summary: "The running preset's name, words and sign-up policy, for the web portal (no sign-in needed)",
        response: {
          200: Type.Object({
            preset: Type.String(),
            labels: Type.Object({ tenant: Type.String(), tenants: Type.String(), enterprise: Type.String(), approvals: Type.String() }),
            signup: Type.Union([Type.Literal('personal'), Type.Literal('enterprise'), Type.Literal('none')]),
            signupOpen: Type.Boolean({ description: 'Whether sign-up without an invitation is possible' }),
            singleRoot: Type.Boolean(),
            deletionGraceDays: Type.Integer({ minimum: 0, description: 'Days a deleted tenant stays restorable before it is purged; 0: purged at once' }),
          }),
        },
      },
    },
    async () => {
      const { preset } = app.services.access;
      return {
        preset: preset.name,
        labels: preset.labels,
        signup: preset.signup,
        signupOpen: preset.signup !== 'none' || app.services.config.openSignup,
        singleRoot: preset.tenants.singleRoot,
        deletionGraceDays: preset.policies.deletionGraceDays,
      };
    },
  );
}
