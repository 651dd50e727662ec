import { Alert, Badge, Button, Card, Code, Group, Loader, Modal, Stack, Tabs, Text, Textarea, Title } from '@mantine/core';
import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, type ReactNode, useEffect, useState } from 'react';
import { useSearchParams } from 'react-router';
import { api, explainProblem, ProblemError, unwrap } from '../api/client';
import type { paths } from '../api/schema';
import { type Me, useMe, usePortalInfo } from '../session';

type ApprovalRequest = paths['/api/v1/approval-requests']['get']['responses'][200]['content']['application/json']['approvalRequests'][number];
type Status = ApprovalRequest['status'];
type Decision = 'approve' | 'decline';

/** Filled badges in dark shades: white text on them passes WCAG AA. */
const STATUS_COLOUR: Record<Status, string> = {
  pending: 'blue.9',
  executed: 'teal.9',
  failed: 'red.9',
  declined: 'grape.9',
  cancelled: 'gray.7',
  expired: 'gray.7',
};

/** The refusals people meet here, in words; anything else as the API says it. */
function explainApproval(error: unknown, tenantWord: string): string {
  if (!(error instanceof ProblemError)) return explainProblem(error);
  switch (error.problem.code) {
    case 'approval_by_initiator':
      return 'You asked for this action yourself, so someone else has to decide it.';
    case 'approval_by_target':
      return 'This action is about you, so someone else has to decide it.';
    case 'approval_not_from_above':
      return `Only an administrator of a ${tenantWord} above this one can decide its requests.`;
    case 'forbidden':
      return `Deciding needs the right to decide requests (approvals.decide) in this ${tenantWord} or one above it.`;
    case 'approval_request_not_pending':
      return 'This request has already been decided, cancelled, or has expired.';
    case 'approval_not_initiator':
      return 'Only the person who asked for the action can cancel the request.';
    default:
      return explainProblem(error);
  }
}

/**
 * A person named in a request of `tenantId`: "you", or their name (else email) from that tenant's members, which a
 * decider may read; their id while unknown, or when they are no longer a member.
 */
function Person({ tenantId, userId, me }: { tenantId: string; userId: unknown; me: Me }) {
  const id = String(userId);
  const members = useQuery({
    queryKey: ['member-names', tenantId],
    enabled: id !== me.user.id,
    retry: false,
    staleTime: 60_000,
    queryFn: async () => {
      const page = await unwrap(api.GET('/api/v1/tenants/{tenantId}/members', { params: { path: { tenantId }, query: { limit: 100 } } }));
      return new Map(page.members.map((m) => [m.userId, m.name ?? m.email]));
    },
  });
  if (id === me.user.id) return <>you</>;
  return <>{members.data?.get(id) ?? id}</>;
}

/** What the request will do, in words. */
function Describe({ r, me }: { r: ApprovalRequest; me: Me }) {
  const who = <Person tenantId={r.tenantId} userId={r.params.userId} me={me} />;
  switch (r.action) {
    case 'member.remove_admin':
      return Array.isArray(r.params.roles) ? (
        <>
          Change the roles of administrator {who} to {r.params.roles.join(', ') || 'none'}
        </>
      ) : (
        <>Remove administrator {who}</>
      );
    case 'tenant.delete':
      return <>{r.params.includeDescendants === true ? 'Delete this company and everything below it' : 'Delete this company'}</>;
    case 'tenant.transfer_ownership':
      return <>Transfer ownership to {who}</>;
    case 'tenant.change_plan':
      return <>Change the plan to {String(r.params.plan)}</>;
    case 'role.update':
      return <>Change the role {String(r.params.key)}</>;
    default:
      return <>{r.action}</>;
  }
}

function when(iso: string | null): string {
  return iso === null ? '—' : new Date(iso).toLocaleString();
}

/** The tenant's name (cached with the dashboard's query), its id until known. */
function TenantName({ tenantId }: { tenantId: string }) {
  const tenant = useQuery({ queryKey: ['tenant', tenantId], queryFn: () => unwrap(api.GET('/api/v1/tenants/{tenantId}', { params: { path: { tenantId } } })), retry: false });
  return <>{tenant.data?.name ?? tenantId}</>;
}

/**
 * Approval requests (seed 004): the inbox of what waits for my decision, across every tenant I decide for, and the
 * requests I made in the active tenant. `?request=` (the mailed link) highlights one.
 */
export function ApprovalsPage() {
  const me = useMe().data as Me;
  const labels = usePortalInfo().data?.labels;
  const tenantWord = (labels?.tenant ?? 'tenant').toLowerCase();
  const [search] = useSearchParams();
  const highlighted = search.get('request');
  const linkTenant = search.get('tenant');
  const [tab, setTab] = useState<string | null>('inbox');

  // The mailed link to the initiator (a decision) points at their own request: open "My requests" for it.
  const linked = useQuery({
    queryKey: ['approval', linkTenant, highlighted],
    enabled: highlighted !== null && linkTenant !== null,
    retry: false,
    queryFn: () => unwrap(api.GET('/api/v1/tenants/{tenantId}/approval-requests/{requestId}', { params: { path: { tenantId: linkTenant ?? '', requestId: highlighted ?? '' } } })),
  });
  useEffect(() => {
    if (linked.data !== undefined && linked.data.requestedBy === me.user.id) setTab('mine');
  }, [linked.data, me.user.id]);

  return (
    <Stack>
      <div>
        <Title order={2}>{labels?.approvals ?? 'Approvals'}</Title>
        <Text size="sm" c="dimmed">
          Sensitive actions wait here until someone above approves them.
        </Text>
      </div>
      <Tabs value={tab} onChange={setTab} keepMounted={false}>
        <Tabs.List>
          <Tabs.Tab value="inbox">To decide</Tabs.Tab>
          <Tabs.Tab value="mine">My requests</Tabs.Tab>
        </Tabs.List>
        <Tabs.Panel value="inbox" pt="md">
          <Inbox me={me} highlighted={highlighted} tenantWord={tenantWord} />
        </Tabs.Panel>
        <Tabs.Panel value="mine" pt="md">
          <MyRequests me={me} highlighted={highlighted} tenantWord={tenantWord} />
        </Tabs.Panel>
      </Tabs>
    </Stack>
  );
}

function Inbox({ me, highlighted, tenantWord }: { me: Me; highlighted: string | null; tenantWord: string }) {
  const queries = useQueryClient();
  const inbox = useInfiniteQuery({
    queryKey: ['approvals', 'inbox'],
    initialPageParam: undefined as string | undefined,
    queryFn: ({ pageParam }) =>
      unwrap(api.GET('/api/v1/approval-requests', { params: { query: { status: 'pending', limit: 50, ...(pageParam === undefined ? {} : { cursor: pageParam }) } } })),
    getNextPageParam: (last) => last.nextCursor ?? undefined,
  });
  const [deciding, setDeciding] = useState<{ request: ApprovalRequest; decision: Decision } | null>(null);
  const [done, setDone] = useState<string | null>(null);
  if (inbox.isPending) return <Loader aria-label="Loading" />;
  if (inbox.isError)
    return (
      <Alert color="red" title="The requests could not be loaded" role="alert">
        {explainApproval(inbox.error, tenantWord)}
      </Alert>
    );
  const list = inbox.data.pages.flatMap((p) => p.approvalRequests);
  return (
    <Stack>
      {done !== null && (
        <Alert color="teal" title="Done" withCloseButton closeButtonLabel="Dismiss" onClose={() => setDone(null)} role="status">
          {done}
        </Alert>
      )}
      {list.length === 0 && <Text>Nothing waits for your decision.</Text>}
      {list.map((r) => (
        <RequestCard key={r.id} request={r} me={me} highlighted={r.id === highlighted}>
          <Group gap="xs">
            <Button size="xs" onClick={() => setDeciding({ request: r, decision: 'approve' })}>
              Approve
            </Button>
            <Button size="xs" variant="default" onClick={() => setDeciding({ request: r, decision: 'decline' })}>
              Decline
            </Button>
          </Group>
        </RequestCard>
      ))}
      {inbox.hasNextPage && (
        <Group>
          <Button variant="default" onClick={() => void inbox.fetchNextPage()} loading={inbox.isFetchingNextPage}>
            Load more
          </Button>
        </Group>
      )}
      {deciding !== null && (
        <DecideModal
          {...deciding}
          me={me}
          tenantWord={tenantWord}
          onClose={() => setDeciding(null)}
          onDone={async (result) => {
            setDeciding(null);
            setDone(
              result.status === 'executed'
                ? 'Approved: the action has been carried out.'
                : result.status === 'failed'
                  ? `Approved, but the action was refused: ${outcomeText(result)}`
                  : 'Declined. The person who asked is told.',
            );
            await queries.invalidateQueries({ queryKey: ['approvals'] });
          }}
        />
      )}
    </Stack>
  );
}

function DecideModal({
  request,
  decision,
  me,
  tenantWord,
  onClose,
  onDone,
}: {
  request: ApprovalRequest;
  decision: Decision;
  me: Me;
  tenantWord: string;
  onClose: () => void;
  onDone: (r: ApprovalRequest) => Promise<void>;
}) {
  const [note, setNote] = useState('');
  const decide = useMutation({
    mutationFn: () => {
      const params = { path: { tenantId: request.tenantId, requestId: request.id } };
      const body = note.trim() === '' ? {} : { note: note.trim() };
      return unwrap(
        decision === 'approve'
          ? api.POST('/api/v1/tenants/{tenantId}/approval-requests/{requestId}/approve', { params, body })
          : api.POST('/api/v1/tenants/{tenantId}/approval-requests/{requestId}/decline', { params, body }),
      );
    },
    onSuccess: onDone,
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    decide.mutate();
  };
  const verb = decision === 'approve' ? 'Approve' : 'Decline';
  return (
    <Modal opened onClose={onClose} title={`${verb} this request?`} closeButtonProps={{ 'aria-label': 'Close' }}>
      <form onSubmit={submit}>
        <Stack>
          <Text size="sm">
            <Describe r={request} me={me} />.
          </Text>
          {decision === 'approve' && <Text size="sm">It runs now, as the person who asked for it.</Text>}
          <Textarea
            label="Note (optional)"
            description="Kept with the decision and shown to the person who asked"
            maxLength={500}
            autosize
            minRows={2}
            value={note}
            onChange={(e) => setNote(e.currentTarget.value)}
          />
          {decide.isError && (
            <Alert color="red" title={`Could not ${verb.toLowerCase()}`} role="alert">
              {explainApproval(decide.error, tenantWord)}
            </Alert>
          )}
          <Group justify="flex-end">
            <Button variant="default" onClick={onClose}>
              Back
            </Button>
            <Button type="submit" color={decision === 'approve' ? undefined : 'red.9'} loading={decide.isPending}>
              {verb}
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}

function outcomeText(r: ApprovalRequest): string {
  const o = r.outcome as { detail?: unknown; title?: unknown; code?: unknown } | null;
  if (o === null) return 'no reason given';
  return String(o.detail ?? o.title ?? o.code ?? JSON.stringify(o));
}

function MyRequests({ me, highlighted, tenantWord }: { me: Me; highlighted: string | null; tenantWord: string }) {
  const queries = useQueryClient();
  const tenantId = me.activeTenantId ?? '';
  const mine = useInfiniteQuery({
    queryKey: ['approvals', 'tenant', tenantId],
    initialPageParam: undefined as string | undefined,
    queryFn: ({ pageParam }) =>
      unwrap(
        api.GET('/api/v1/tenants/{tenantId}/approval-requests', {
          params: { path: { tenantId }, query: { limit: 50, ...(pageParam === undefined ? {} : { cursor: pageParam }) } },
        }),
      ),
    getNextPageParam: (last) => last.nextCursor ?? undefined,
  });
  const cancel = useMutation({
    mutationFn: (r: ApprovalRequest) =>
      unwrap(api.POST('/api/v1/tenants/{tenantId}/approval-requests/{requestId}/cancel', { params: { path: { tenantId: r.tenantId, requestId: r.id } } })),
    onSuccess: () => queries.invalidateQueries({ queryKey: ['approvals'] }),
  });
  if (mine.isPending) return <Loader aria-label="Loading" />;
  if (mine.isError)
    return (
      <Alert color="red" title="Your requests could not be loaded" role="alert">
        {explainApproval(mine.error, tenantWord)}
      </Alert>
    );
  // A decider's listing holds everyone's requests here and below: keep only mine.
  const list = mine.data.pages.flatMap((p) => p.approvalRequests).filter((r) => r.requestedBy === me.user.id);
  return (
    <Stack>
      {cancel.isError && (
        <Alert color="red" title="Could not cancel" role="alert">
          {explainApproval(cancel.error, tenantWord)}
        </Alert>
      )}
      {list.length === 0 && <Text>You have not asked for anything here{mine.hasNextPage ? ' recently' : ''}.</Text>}
      {list.map((r) => (
        <RequestCard key={r.id} request={r} me={me} highlighted={r.id === highlighted}>
          {r.status === 'pending' && (
            <Group>
              <Button size="xs" variant="default" color="red" onClick={() => cancel.mutate(r)} loading={cancel.isPending && cancel.variables?.id === r.id}>
                Cancel request
              </Button>
            </Group>
          )}
        </RequestCard>
      ))}
      {mine.hasNextPage && (
        <Group>
          <Button variant="default" onClick={() => void mine.fetchNextPage()} loading={mine.isFetchingNextPage}>
            Load more
          </Button>
        </Group>
      )}
    </Stack>
  );
}

function RequestCard({ request: r, me, highlighted, children }: { request: ApprovalRequest; me: Me; highlighted: boolean; children?: ReactNode }) {
  const [node, setNode] = useState<HTMLDivElement | null>(null);
  useEffect(() => {
    if (highlighted && node !== null) node.scrollIntoView({ block: 'center' });
  }, [highlighted, node]);
  return (
    <Card
      ref={setNode}
      withBorder
      aria-current={highlighted ? 'true' : undefined}
      data-request={r.id}
      style={highlighted ? { borderColor: 'var(--mantine-color-indigo-8)', borderWidth: 2, background: 'var(--mantine-color-indigo-0)' } : undefined}
    >
      <Stack gap={6}>
        <Group justify="space-between" align="flex-start" wrap="wrap" gap="xs">
          <Text fw={600}>
            <Describe r={r} me={me} />
          </Text>
          <Group gap={6}>
            {highlighted && (
              <Badge variant="outline" color="indigo.9">
                From your link
              </Badge>
            )}
            <Badge color={STATUS_COLOUR[r.status]}>{r.status}</Badge>
          </Group>
        </Group>
        <Text size="sm" c="dimmed">
          <TenantName tenantId={r.tenantId} /> · asked by <Person tenantId={r.tenantId} userId={r.requestedBy} me={me} /> on {when(r.createdAt)}
          {r.status === 'pending' ? ` · expires ${when(r.expiresAt)}` : ` · decided ${when(r.decidedAt)}`}
        </Text>
        <Text size="sm">
          Action <Code>{r.action}</Code> with <Code>{JSON.stringify(r.params)}</Code>
        </Text>
        {r.note !== null && <Text size="sm">Note from the decider: “{r.note}”</Text>}
        {r.status === 'failed' && (
          <Text size="sm" c="red.9">
            The action was refused when approved: {outcomeText(r)}
          </Text>
        )}
        {children}
      </Stack>
    </Card>
  );
}
