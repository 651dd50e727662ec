import { Alert, Badge, Button, Card, Code, Drawer, Group, Loader, Select, SimpleGrid, Stack, Table, Text, TextInput, Title, VisuallyHidden } from '@mantine/core';
import { useInfiniteQuery, useQuery } from '@tanstack/react-query';
import { type FormEvent, useState } from 'react';
import { api, unwrap } from '../api/client';
import type { paths } from '../api/schema';
import { ErrorNotice } from '../components';
import { type Me, useMe, usePortalInfo } from '../session';

type AuditQuery = NonNullable<paths['/api/v1/tenants/{tenantId}/audit-events']['get']['parameters']['query']>;
type AuditEvent = paths['/api/v1/tenants/{tenantId}/audit-events']['get']['responses'][200]['content']['application/json']['events'][number];
type ActorType = NonNullable<AuditQuery['actorType']>;

interface Filters {
  action: string;
  actorType: string;
  actorId: string;
  from: string;
  to: string;
}
const NO_FILTERS: Filters = { action: '', actorType: '', actorId: '', from: '', to: '' };

/** The API's query from the form: dates are whole local days, `to` inclusive (the API's `until` is exclusive). */
function toQuery(f: Filters): Omit<AuditQuery, 'limit' | 'cursor'> {
  const q: Omit<AuditQuery, 'limit' | 'cursor'> = {};
  if (f.action.trim() !== '') q.action = f.action.trim();
  if (f.actorType !== '') q.actorType = f.actorType as ActorType;
  if (f.actorId.trim() !== '') q.actorId = f.actorId.trim();
  if (f.from !== '') q.since = new Date(`${f.from}T00:00:00`).toISOString();
  if (f.to !== '') {
    const end = new Date(`${f.to}T00:00:00`);
    end.setDate(end.getDate() + 1);
    q.until = end.toISOString();
  }
  return q;
}

function actorText(e: AuditEvent, me: Me): string {
  if (e.actor.type === 'system') return 'system';
  const who = e.actor.id === me.user.id ? 'you' : (e.actor.id ?? 'unknown');
  const kind = e.actor.type === 'api_key' ? `API key ${who}` : who;
  return e.actor.via === 'direct' ? kind : `${kind} (${e.actor.via.replace('_', ' ')})`;
}

function targetText(e: AuditEvent): string {
  if (e.target.type === null && e.target.id === null) return '—';
  return [e.target.type, e.target.id].filter((x) => x !== null).join(' ');
}

/** The active tenant's audit trail: filters, keyset paging, each event's before/after, JSON export, chain check. */
export function AuditPage() {
  const me = useMe().data as Me;
  const tenantWord = (usePortalInfo().data?.labels.tenant ?? 'tenant').toLowerCase();
  const tenantId = me.activeTenantId ?? '';
  const [form, setForm] = useState<Filters>(NO_FILTERS);
  const [filters, setFilters] = useState<Filters>(NO_FILTERS);
  const [open, setOpen] = useState<AuditEvent | null>(null);
  const query = toQuery(filters);
  const events = useInfiniteQuery({
    queryKey: ['audit', tenantId, query],
    initialPageParam: undefined as string | undefined,
    queryFn: ({ pageParam }) =>
      unwrap(
        api.GET('/api/v1/tenants/{tenantId}/audit-events', {
          params: { path: { tenantId }, query: { ...query, limit: 50, ...(pageParam === undefined ? {} : { cursor: pageParam }) } },
        }),
      ),
    getNextPageParam: (last) => last.nextCursor ?? undefined,
  });
  const list = events.data?.pages.flatMap((p) => p.events) ?? [];

  const apply = (event: FormEvent) => {
    event.preventDefault();
    setFilters(form);
  };
  const clear = () => {
    setForm(NO_FILTERS);
    setFilters(NO_FILTERS);
  };
  const exportRows = () => {
    const blob = new Blob([JSON.stringify({ tenantId, filters: query, exportedAt: new Date().toISOString(), events: list }, null, 2)], { type: 'application/json' });
    const url = URL.createObjectURL(blob);
    const a = document.createElement('a');
    a.href = url;
    a.download = `audit-${tenantId}-${new Date().toISOString().slice(0, 10)}.json`;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  };
  const set = (key: keyof Filters) => (value: string) => setForm((f) => ({ ...f, [key]: value }));

  return (
    <Stack>
      <Group justify="space-between" align="flex-start">
        <div>
          <Title order={2}>Audit log</Title>
          <Text size="sm" c="dimmed">
            Everything done in this {tenantWord}, newest first, in a tamper-evident chain.
          </Text>
        </div>
        <Group gap="xs">
          <ChainBadge tenantId={tenantId} />
          <Button variant="default" onClick={exportRows} disabled={list.length === 0}>
            Export
          </Button>
        </Group>
      </Group>
      <Card withBorder component="form" onSubmit={apply} aria-label="Filters">
        <SimpleGrid cols={{ base: 1, sm: 2, md: 5 }}>
          <TextInput label="Action" placeholder="e.g. member.*" value={form.action} onChange={(e) => set('action')(e.currentTarget.value)} />
          <Select
            label="Actor type"
            data={[
              { value: '', label: 'Any' },
              { value: 'user', label: 'Person' },
              { value: 'api_key', label: 'API key' },
              { value: 'system', label: 'System' },
            ]}
            value={form.actorType}
            onChange={(v) => set('actorType')(v ?? '')}
            allowDeselect={false}
          />
          <TextInput label="Actor id" placeholder="user or key id" value={form.actorId} onChange={(e) => set('actorId')(e.currentTarget.value)} />
          <TextInput label="From" type="date" value={form.from} onChange={(e) => set('from')(e.currentTarget.value)} />
          <TextInput label="To" type="date" value={form.to} onChange={(e) => set('to')(e.currentTarget.value)} />
        </SimpleGrid>
        <Group mt="md" gap="xs">
          <Button type="submit">Apply filters</Button>
          <Button variant="default" onClick={clear}>
            Clear
          </Button>
        </Group>
      </Card>
      {events.isPending && <Loader aria-label="Loading" />}
      {events.isError && <ErrorNotice error={events.error} title="The audit log could not be loaded" />}
      {events.isSuccess && list.length === 0 && <Text>No events match these filters.</Text>}
      {list.length > 0 && (
        <Table.ScrollContainer minWidth={720}>
          <Table striped highlightOnHover>
            <Table.Thead>
              <Table.Tr>
                <Table.Th>#</Table.Th>
                <Table.Th>When</Table.Th>
                <Table.Th>Action</Table.Th>
                <Table.Th>Actor</Table.Th>
                <Table.Th>Target</Table.Th>
                <Table.Th>
                  <VisuallyHidden>Details</VisuallyHidden>
                </Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {list.map((e) => (
                <Table.Tr key={e.id}>
                  <Table.Td>{e.seq}</Table.Td>
                  <Table.Td>{new Date(e.occurredAt).toLocaleString()}</Table.Td>
                  <Table.Td>
                    <Code>{e.action}</Code>
                  </Table.Td>
                  <Table.Td>{actorText(e, me)}</Table.Td>
                  <Table.Td>{targetText(e)}</Table.Td>
                  <Table.Td>
                    <Button size="compact-sm" variant="subtle" onClick={() => setOpen(e)}>
                      Details
                    </Button>
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      )}
      {events.hasNextPage && (
        <Group>
          <Button variant="default" onClick={() => void events.fetchNextPage()} loading={events.isFetchingNextPage}>
            Load more
          </Button>
        </Group>
      )}
      <Drawer
        opened={open !== null}
        onClose={() => setOpen(null)}
        position="right"
        size="lg"
        title={open === null ? '' : `Event #${open.seq}: ${open.action}`}
        closeButtonProps={{ 'aria-label': 'Close' }}
      >
        {open !== null && <EventDetails event={open} me={me} />}
      </Drawer>
    </Stack>
  );
}

function EventDetails({ event: e, me }: { event: AuditEvent; me: Me }) {
  const rows: Array<[string, string]> = [
    ['When', new Date(e.occurredAt).toLocaleString()],
    ['Actor', actorText(e, me)],
    ['Target', targetText(e)],
    ['Request id', e.requestId ?? '—'],
    ['IP address', e.ip ?? '—'],
    ['Hash', e.hash],
    ['Previous hash', e.prevHash],
  ];
  return (
    <Stack>
      <Table>
        <Table.Tbody>
          {rows.map(([k, v]) => (
            <Table.Tr key={k}>
              <Table.Th scope="row" w={130}>
                {k}
              </Table.Th>
              <Table.Td style={{ wordBreak: 'break-all' }}>{v}</Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
      <div>
        <Title order={3} size="h5" mb={4}>
          Before
        </Title>
        <Code block>{JSON.stringify(e.before ?? null, null, 2)}</Code>
      </div>
      <div>
        <Title order={3} size="h5" mb={4}>
          After
        </Title>
        <Code block>{JSON.stringify(e.after ?? null, null, 2)}</Code>
      </div>
    </Stack>
  );
}

/** GET …/audit-events/verify as a badge: the whole chain re-hashed on the server. */
function ChainBadge({ tenantId }: { tenantId: string }) {
  const verify = useQuery({
    queryKey: ['audit-verify', tenantId],
    retry: false,
    queryFn: () => unwrap(api.GET('/api/v1/tenants/{tenantId}/audit-events/verify', { params: { path: { tenantId } } })),
  });
  if (verify.isPending)
    return (
      <Badge variant="outline" color="dark" size="lg" leftSection={<Loader size={10} color="dark" aria-hidden />}>
        Verifying chain
      </Badge>
    );
  if (verify.isError)
    return (
      <Badge variant="outline" color="red.9" size="lg" title="The chain could not be checked">
        Chain not checked
      </Badge>
    );
  const v = verify.data;
  if (v.valid)
    return (
      <Badge color="teal.9" size="lg">
        Chain verified · {v.checked} events
      </Badge>
    );
  return (
    <Alert color="red" title="The audit chain is broken" role="alert" p="xs">
      At event #{v.brokenAt?.seq ?? '?'}: {v.brokenAt?.reason ?? 'unknown'}
    </Alert>
  );
}
