import { keepPreviousData, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, ProblemError, unwrap } from './api/client';
import type { paths } from './api/schema';

export type Me = paths['/api/v1/auth/me']['get']['responses'][200]['content']['application/json'];
export type PortalInfo = paths['/api/v1/portal']['get']['responses'][200]['content']['application/json'];
export type TenantDetails = paths['/api/v1/tenants/{tenantId}']['get']['responses'][200]['content']['application/json'];
export type TenantListItem = paths['/api/v1/tenants']['get']['responses'][200]['content']['application/json']['tenants'][number];

/** The preset's words and sign-up policy; needed before anyone signs in. */
export function usePortalInfo() {
  return useQuery({ queryKey: ['portal'], queryFn: () => unwrap(api.GET('/api/v1/portal')), staleTime: Number.POSITIVE_INFINITY });
}

/** The signed-in person (null when nobody is), their active tenant and the authorization object. */
export function useMe() {
  return useQuery({
    queryKey: ['me'],
    queryFn: async (): Promise<Me | null> => {
      try {
        return await unwrap(api.GET('/api/v1/auth/me'));
      } catch (error) {
        if (error instanceof ProblemError && error.problem.status === 401) return null;
        throw error;
      }
    },
  });
}

/**
 * After signing in, switching or signing out: everything cached belonged to the previous tenant or person. Reset (not
 * just removed), so pages already showing refetch for the new tenant at once.
 */
export function useResetSession() {
  const queries = useQueryClient();
  return () => queries.resetQueries({ predicate: (q) => q.queryKey[0] !== 'portal' });
}

export type PresetLabels = PortalInfo['labels'];

/** The API's limit on one /check batch. */
const MAX_CHECKS = 100;

/**
 * Which (tenant, permission) pairs the signed-in person holds, as "tenantId permission" strings: one POST /check
 * batch for the whole page (more only past the API's 100 checks). Cached under ['allowed', activeTenantId, …], so
 * invalidating ['allowed'] (or one tenant's) asks again after a change of roles or of the tree.
 */
export function useChecks(activeTenantId: string | null, pairs: ReadonlyArray<readonly [string, string]>, enabled = true) {
  const wanted = [...new Set(pairs.map(([tenantId, permission]) => `${tenantId} ${permission}`))].sort();
  return useQuery({
    queryKey: ['allowed', activeTenantId, wanted.join(',')],
    enabled: enabled && activeTenantId !== null && wanted.length > 0,
    placeholderData: keepPreviousData,
    queryFn: async () => {
      const allowed = new Set<string>();
      for (let i = 0; i < wanted.length; i += MAX_CHECKS) {
        const checks = wanted.slice(i, i + MAX_CHECKS).map((pair) => {
          const [tenantId = '', permission = ''] = pair.split(' ');
          return { tenantId, permission };
        });
        const result = await unwrap(api.POST('/api/v1/check', { body: { checks } }));
        for (const r of 'results' in result ? result.results : []) if (r.allowed) allowed.add(`${r.tenantId} ${r.permission}`);
      }
      return allowed;
    },
  });
}

/** Which of `permissions` the signed-in person holds in `tenantId` (a page about one tenant). */
export function useAllowed(tenantId: string | null, permissions: readonly string[]) {
  const checks = useChecks(tenantId, tenantId === null ? [] : permissions.map((p) => [tenantId, p] as const));
  const data = checks.data === undefined ? undefined : new Set(permissions.filter((p) => checks.data.has(`${tenantId} ${p}`)));
  return { ...checks, data };
}
