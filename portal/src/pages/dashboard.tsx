import { Badge, Card, Group, Loader, SimpleGrid, Stack, Table, Text, Title } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import { api, unwrap } from '../api/client';
import { ErrorNotice } from '../components';
import { type Me, type PresetLabels, useMe, usePortalInfo } from '../session';

/** The active tenant at a glance: name, id, kind, status, plan and usage, members, features. */
export function DashboardPage() {
  const me = useMe().data as Me;
  const labels = usePortalInfo().data?.labels;
  const tenantId = me.activeTenantId ?? '';
  const path = { params: { path: { tenantId } } };
  const tenant = useQuery({ queryKey: ['tenant', tenantId], queryFn: () => unwrap(api.GET('/api/v1/tenants/{tenantId}', path)) });
  const plan = useQuery({ queryKey: ['plan', tenantId], queryFn: () => unwrap(api.GET('/api/v1/tenants/{tenantId}/plan', path)), retry: false });
  const features = useQuery({ queryKey: ['features', tenantId], queryFn: () => unwrap(api.GET('/api/v1/tenants/{tenantId}/features', path)), retry: false });
  if (tenant.isPending) return <Loader aria-label="Loading" />;
  if (tenant.isError) return <ErrorNotice error={tenant.error} />;
  const t = tenant.data;
  return (
    <Stack>
      <Group justify="space-between" align="flex-start">
        <div>
          <Title order={2}>{t.name}</Title>
          <Text size="sm" c="dimmed">
            {labels?.tenant ?? 'Tenant'} id <code>{t.id}</code> · slug <code>{t.slug}</code>
          </Text>
        </div>
        <Group gap="xs">
          <Badge variant="outline" color={t.status === 'active' ? 'dark' : 'red.9'}>
            {t.status.replace('_', ' ')}
          </Badge>
          <Badge variant="light">{t.kind}</Badge>
          {t.isAdminTenancy && <Badge color="grape">Admin tenancy</Badge>}
        </Group>
      </Group>
      <SimpleGrid cols={{ base: 1, sm: 3 }}>
        <Stat label="Members" value={String(t.memberCount)} />
        <Stat label="Plan" value={plan.data?.plan?.name ?? (plan.isError ? '—' : (t.plan ?? 'No plan'))} />
        <Stat label="Your roles" value={me.authorization[tenantId]?.roles.join(', ') || 'inherited'} />
      </SimpleGrid>
      {plan.data?.plan && (
        <Card withBorder>
          <Title order={3} size="h5" mb="xs">
            Usage
          </Title>
          <Table>
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Resource</Table.Th>
                <Table.Th>In use</Table.Th>
                <Table.Th>Limit</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {Object.entries(plan.data.usage).map(([resource, used]) => (
                <Table.Tr key={resource}>
                  <Table.Td>{resourceName(resource, labels)}</Table.Td>
                  <Table.Td>{String(used)}</Table.Td>
                  <Table.Td>{String((plan.data.plan?.limits as Record<string, number | null> | undefined)?.[resource] ?? '∞')}</Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Card>
      )}
      {features.data && (
        <Card withBorder>
          <Title order={3} size="h5" mb="xs">
            Features
          </Title>
          <Group gap="xs">
            {features.data.features.map((f) => (
              <Badge key={f.key} color={f.enabled ? 'indigo' : 'gray'} variant={f.enabled ? 'light' : 'outline'}>
                {f.name}
                {f.enabled ? '' : ' (off)'}
              </Badge>
            ))}
            {features.data.features.length === 0 && <Text size="sm">This preset has no optional features.</Text>}
          </Group>
        </Card>
      )}
    </Stack>
  );
}

function Stat({ label, value }: { label: string; value: string }) {
  return (
    <Card withBorder>
      <Text size="xs" c="dimmed" tt="uppercase" fw={700}>
        {label}
      </Text>
      <Text size="xl" fw={700}>
        {value}
      </Text>
    </Card>
  );
}

/** A plan's limited resources in words (the API's keys are camelCase identifiers). */
export function resourceName(resource: string, labels: PresetLabels | undefined): string {
  const names: Record<string, string> = {
    members: 'Members',
    pendingInvitations: 'Pending invitations',
    childTenants: `${labels?.tenants ?? 'Tenants'} below this one`,
    apiKeys: 'API keys',
  };
  return names[resource] ?? resource;
}
