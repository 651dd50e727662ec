import { useQuery, useQueryClient } from '@tanstack/react-query';
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

/** Which of `permissions` the signed-in person holds in `tenantId`: one POST /check batch. */
export function useAllowed(tenantId: string | null, permissions: readonly string[]) {
  return useQuery({
    queryKey: ['allowed', tenantId, [...permissions].sort().join(' ')],
    enabled: tenantId !== null && permissions.length > 0,
    queryFn: async () => {
      const result = await unwrap(api.POST('/api/v1/check', { body: { checks: permissions.map((permission) => ({ tenantId: tenantId ?? '', permission })) } }));
      const results = 'results' in result ? result.results : [result];
      return new Set(results.flatMap((r, i) => (r.allowed ? [permissions[i] ?? ''] : [])));
    },
  });
}
