import { Badge, Card, Group, Loader, Stack, Text, UnstyledButton } from '@mantine/core';
import { useMutation, useQuery } from '@tanstack/react-query';
import { useNavigate, useSearchParams } from 'react-router';
import { api, unwrap } from '../api/client';
import { AuthCard, ErrorNotice } from '../components';
import { usePortalInfo, useResetSession } from '../session';
import { safeNext } from './sign-in';

/** Seed 000's "Choose a tenant": every tenant you can enter, with your role in each. */
export function ChooseTenantPage() {
  const [params] = useSearchParams();
  const navigate = useNavigate();
  const reset = useResetSession();
  const labels = usePortalInfo().data?.labels;
  const tenants = useQuery({ queryKey: ['tenants'], queryFn: () => unwrap(api.GET('/api/v1/tenants')) });
  const choose = useMutation({
    mutationFn: (tenantId: string) => unwrap(api.POST('/api/v1/auth/active-tenant', { body: { tenantId } })),
    onSuccess: async () => {
      await reset();
      void navigate(safeNext(params.get('next')));
    },
  });
  return (
    <AuthCard title={`Choose a ${(labels?.tenant ?? 'tenant').toLowerCase()}`}>
      {tenants.isPending && <Loader aria-label="Loading" />}
      {tenants.isError && <ErrorNotice error={tenants.error} />}
      {choose.isError && <ErrorNotice error={choose.error} />}
      {tenants.data && tenants.data.tenants.length === 0 && <Text>You do not belong to any {(labels?.tenant ?? 'tenant').toLowerCase()} yet. Ask someone to invite you.</Text>}
      <Stack gap="sm">
        {tenants.data?.tenants
          .filter((t) => t.status !== 'pending_deletion')
          .map((t) => (
            <UnstyledButton key={t.id} onClick={() => choose.mutate(t.id)} disabled={choose.isPending}>
              <Card withBorder padding="sm">
                <Group justify="space-between" wrap="nowrap">
                  <div>
                    <Text fw={600}>{t.name}</Text>
                    <Text size="xs" c="dimmed">
                      {t.slug}
                    </Text>
                  </div>
                  <Group gap={4} justify="flex-end">
                    {t.roles.map((role) => (
                      <Badge key={role} variant="light" size="sm">
                        {role.replace(/_/g, ' ')}
                      </Badge>
                    ))}
                    {t.shadow && (
                      <Badge color="grape" size="sm">
                        operator
                      </Badge>
                    )}
                    {t.inherited && (
                      <Badge color="gray" size="sm">
                        inherited
                      </Badge>
                    )}
                    {t.status === 'suspended' && (
                      <Badge color="orange" size="sm">
                        suspended
                      </Badge>
                    )}
                  </Group>
                </Group>
              </Card>
            </UnstyledButton>
          ))}
      </Stack>
    </AuthCard>
  );
}
