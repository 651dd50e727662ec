import { Alert, Badge, Button, Card, Group, Loader, Modal, MultiSelect, Select, Stack, Table, Text, TextInput, Title, VisuallyHidden } from '@mantine/core';
import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useState } from 'react';
import { useNavigate } from 'react-router';
import { api, ProblemError, unwrap } from '../api/client';
import type { paths } from '../api/schema';
import { ConfirmModal, ErrorNotice, fieldError } from '../components';
import { type Me, useAllowed, useMe, usePortalInfo, useResetSession } from '../session';

type Member = paths['/api/v1/tenants/{tenantId}/members']['get']['responses'][200]['content']['application/json']['members'][number];
type Invitation = paths['/api/v1/tenants/{tenantId}/invitations']['get']['responses'][200]['content']['application/json']['invitations'][number];
type Role = paths['/api/v1/tenants/{tenantId}/roles']['get']['responses'][200]['content']['application/json']['roles'][number];

const PERMISSIONS = ['members.invite', 'members.manage', 'tenant.transfer_ownership'] as const;
/** Mantine's default red for field errors is too faint on white for WCAG AA: a darker red, readable. */
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/** Sends a write and tells a done change (`done`) from one held for approval (`held`, a 202); a refusal throws. */
async function send(call: Promise<{ data?: unknown; error?: unknown; response: Response }>): Promise<'done' | 'held'> {
  const result = await call;
  await unwrap(Promise.resolve(result));
  return result.response.status === 202 ? 'held' : 'done';
}

const HELD = 'It waits for someone who may approve it (see Approvals). Nothing has changed yet.';

/** The active tenant's members and their roles; invitations; role changes, removal, leaving and ownership transfer. */
export function MembersPage() {
  const me = useMe().data as Me;
  const tenantWord = (usePortalInfo().data?.labels.tenant ?? 'tenant').toLowerCase();
  const tenantId = me.activeTenantId ?? '';
  const allowed = useAllowed(tenantId, PERMISSIONS).data;
  const canInvite = allowed?.has('members.invite') === true;
  const canManage = allowed?.has('members.manage') === true;
  const canTransfer = allowed?.has('tenant.transfer_ownership') === true;
  const members = useInfiniteQuery({
    queryKey: ['members', tenantId],
    initialPageParam: undefined as string | undefined,
    queryFn: ({ pageParam }) =>
      unwrap(api.GET('/api/v1/tenants/{tenantId}/members', { params: { path: { tenantId }, query: { limit: 100, ...(pageParam === undefined ? {} : { cursor: pageParam }) } } })),
    getNextPageParam: (last) => last.nextCursor ?? undefined,
  });
  const roles = useQuery({
    queryKey: ['roles', tenantId],
    queryFn: async () => (await unwrap(api.GET('/api/v1/tenants/{tenantId}/roles', { params: { path: { tenantId } } }))).roles,
  });
  const [editing, setEditing] = useState<Member | null>(null);
  const [removing, setRemoving] = useState<Member | null>(null);
  const [transferring, setTransferring] = useState(false);
  const [notice, setNotice] = useState<{ title: string; text: string } | null>(null);
  const roleNames = new Map((roles.data ?? []).map((r) => [r.key, r.name]));
  const list = members.data?.pages.flatMap((p) => p.members) ?? [];
  const held = (text: string) => setNotice({ title: 'Held for approval', text: `${text} ${HELD}` });

  return (
    <Stack>
      <Group justify="space-between" align="flex-start">
        <div>
          <Title order={2}>Members</Title>
          <Text size="sm" c="dimmed">
            The people in this {tenantWord} and the roles they hold.
          </Text>
        </div>
        {canTransfer && list.length > 1 && (
          <Button variant="default" onClick={() => setTransferring(true)}>
            Transfer ownership
          </Button>
        )}
      </Group>
      {notice !== null && (
        <Alert color="blue" title={notice.title} role="status" withCloseButton closeButtonLabel="Dismiss" onClose={() => setNotice(null)}>
          {notice.text}
        </Alert>
      )}
      {canInvite && <InviteForm tenantId={tenantId} roles={roles.data ?? []} onNotice={setNotice} />}
      <Card withBorder>
        <Title order={3} size="h5" mb="xs">
          Members
        </Title>
        {members.isPending && <Loader aria-label="Loading members" />}
        {members.isError && <ErrorNotice error={members.error} title="The members could not be loaded" />}
        {members.isSuccess && list.length === 0 && <Text size="sm">Nobody is a member here yet.</Text>}
        {list.length > 0 && (
          <Table.ScrollContainer minWidth={300}>
            <Table verticalSpacing="sm" striped>
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>Member</Table.Th>
                  <Table.Th visibleFrom="sm">Roles</Table.Th>
                  <Table.Th>
                    <VisuallyHidden>Actions</VisuallyHidden>
                  </Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {list.map((m) => {
                  const self = m.userId === me.user.id;
                  const who = m.name ?? m.email;
                  return (
                    <Table.Tr key={m.userId}>
                      <Table.Td>
                        <Text fw={600} size="sm">
                          {who}
                          {self && (
                            <Badge ml="xs" size="xs" variant="outline" color="dark">
                              You
                            </Badge>
                          )}
                        </Text>
                        <Text size="xs" c="dimmed" style={{ overflowWrap: 'anywhere' }}>
                          {m.name !== null && `${m.email} · `}joined {new Date(m.joinedAt).toLocaleDateString()}
                        </Text>
                        <RoleBadges roles={m.roles} roleNames={roleNames} hiddenFrom="sm" mt={4} />
                      </Table.Td>
                      <Table.Td visibleFrom="sm">
                        <RoleBadges roles={m.roles} roleNames={roleNames} />
                      </Table.Td>
                      <Table.Td>
                        <Group gap="xs" justify="flex-end">
                          {canManage && (
                            <Button size="xs" variant="default" onClick={() => setEditing(m)} aria-label={`Change roles of ${who}`}>
                              Change roles
                            </Button>
                          )}
                          {self ? (
                            <Button size="xs" variant="outline" color="red.9" onClick={() => setRemoving(m)} aria-label={`Leave this ${tenantWord}`}>
                              Leave
                            </Button>
                          ) : (
                            canManage && (
                              <Button size="xs" variant="outline" color="red.9" onClick={() => setRemoving(m)} aria-label={`Remove ${who}`}>
                                Remove
                              </Button>
                            )
                          )}
                        </Group>
                      </Table.Td>
                    </Table.Tr>
                  );
                })}
              </Table.Tbody>
            </Table>
          </Table.ScrollContainer>
        )}
        {members.hasNextPage && (
          <Button variant="default" mt="sm" onClick={() => members.fetchNextPage()} loading={members.isFetchingNextPage}>
            Show more members
          </Button>
        )}
      </Card>
      {canInvite && <PendingInvitations tenantId={tenantId} roleNames={roleNames} onNotice={setNotice} />}
      {editing !== null && (
        <RolesModal
          tenantId={tenantId}
          member={editing}
          roles={roles.data ?? []}
          onClose={() => setEditing(null)}
          onHeld={() => {
            setEditing(null);
            held(`The role change for ${editing.name ?? editing.email} takes members.manage away from someone who administers this ${tenantWord}.`);
          }}
        />
      )}
      {removing !== null && (
        <RemoveModal
          tenantId={tenantId}
          member={removing}
          self={removing.userId === me.user.id}
          tenantWord={tenantWord}
          onClose={() => setRemoving(null)}
          onHeld={() => {
            setRemoving(null);
            held(`Removing ${removing.name ?? removing.email}, who administers this ${tenantWord}, needs approval.`);
          }}
        />
      )}
      {transferring && (
        <TransferModal
          tenantId={tenantId}
          members={list.filter((m) => m.userId !== me.user.id)}
          tenantWord={tenantWord}
          onClose={() => setTransferring(false)}
          onDone={(outcome, to) => {
            setTransferring(false);
            if (outcome === 'held') held(`Transferring ownership to ${to} needs approval.`);
            else setNotice({ title: 'Ownership transferred', text: `${to} now owns this ${tenantWord}.` });
          }}
        />
      )}
    </Stack>
  );
}

function roleOptions(roles: Role[]) {
  return roles.map((r) => ({ value: r.key, label: r.name }));
}

/** Invite by email with roles; inviting an address with a pending invitation renews it. */
function InviteForm({ tenantId, roles, onNotice }: { tenantId: string; roles: Role[]; onNotice: (n: { title: string; text: string }) => void }) {
  const queries = useQueryClient();
  const [email, setEmail] = useState('');
  const [chosen, setChosen] = useState<string[]>([]);
  const [invalid, setInvalid] = useState<{ email?: string; roles?: string }>({});
  const invite = useMutation({
    mutationFn: (body: { email: string; roles: string[] }) => unwrap(api.POST('/api/v1/tenants/{tenantId}/invitations', { params: { path: { tenantId } }, body })),
    onSuccess: async (invitation) => {
      onNotice({ title: 'Invitation sent', text: `Invitation sent to ${invitation.email}.` });
      setEmail('');
      setChosen([]);
      await queries.invalidateQueries({ queryKey: ['invitations', tenantId] });
      await queries.invalidateQueries({ queryKey: ['plan', tenantId] });
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    const trimmed = email.trim();
    const problems = {
      ...(EMAIL.test(trimmed) ? {} : { email: 'Enter an email address, like name@example.com.' }),
      ...(chosen.length === 0 ? { roles: 'Choose at least one role.' } : {}),
    };
    setInvalid(problems);
    if (Object.keys(problems).length === 0) invite.mutate({ email: trimmed, roles: chosen });
  };
  const apiError = invite.error;
  const emailError =
    invalid.email ??
    fieldError(apiError, 'email') ??
    (apiError instanceof ProblemError && apiError.problem.code === 'already_member' ? (apiError.problem.detail ?? apiError.problem.title) : undefined);
  const rolesError = invalid.roles ?? fieldError(apiError, 'roles');
  return (
    <Card withBorder component="form" onSubmit={submit} noValidate aria-labelledby="invite-title">
      <Title order={3} size="h5" mb="xs" id="invite-title">
        Invite someone
      </Title>
      <Stack gap="sm">
        <Group align="flex-start" grow preventGrowOverflow={false} wrap="wrap">
          <TextInput label="Email" type="email" value={email} onChange={(e) => setEmail(e.currentTarget.value)} error={emailError} miw={220} autoComplete="off" />
          <MultiSelect
            label="Roles"
            placeholder={chosen.length === 0 ? 'Pick roles' : undefined}
            data={roleOptions(roles)}
            value={chosen}
            onChange={setChosen}
            error={rolesError}
            miw={220}
            searchable
          />
        </Group>
        {apiError !== null && emailError === undefined && rolesError === undefined && <ErrorNotice error={apiError} title="The invitation was not sent" />}
        <Group>
          <Button type="submit" loading={invite.isPending}>
            Send invitation
          </Button>
        </Group>
      </Stack>
    </Card>
  );
}

/** Pending (and expired) invitations: resend renews the link, revoke withdraws it. */
function PendingInvitations({ tenantId, roleNames, onNotice }: { tenantId: string; roleNames: Map<string, string>; onNotice: (n: { title: string; text: string }) => void }) {
  const queries = useQueryClient();
  const invitations = useQuery({
    queryKey: ['invitations', tenantId],
    queryFn: async () => {
      const get = (status: 'pending' | 'expired') => unwrap(api.GET('/api/v1/tenants/{tenantId}/invitations', { params: { path: { tenantId }, query: { status, limit: 200 } } }));
      const [pending, expired] = await Promise.all([get('pending'), get('expired')]);
      return [...pending.invitations, ...expired.invitations];
    },
  });
  const after = async () => {
    await queries.invalidateQueries({ queryKey: ['invitations', tenantId] });
    await queries.invalidateQueries({ queryKey: ['plan', tenantId] });
  };
  const revoke = useMutation({
    mutationFn: (inv: Invitation) => unwrap(api.DELETE('/api/v1/tenants/{tenantId}/invitations/{invitationId}', { params: { path: { tenantId, invitationId: inv.id } } })),
    onSuccess: async (_data, inv) => {
      onNotice({ title: 'Invitation revoked', text: `The link sent to ${inv.email} no longer works.` });
      await after();
    },
  });
  const resend = useMutation({
    mutationFn: (inv: Invitation) => unwrap(api.POST('/api/v1/tenants/{tenantId}/invitations', { params: { path: { tenantId } }, body: { email: inv.email, roles: inv.roles } })),
    onSuccess: async (_data, inv) => {
      onNotice({ title: 'Invitation sent again', text: `${inv.email} has a new link; the old one no longer works.` });
      await after();
    },
  });
  const failed = revoke.error ?? resend.error;
  return (
    <Card withBorder>
      <Title order={3} size="h5" mb="xs">
        Pending invitations
      </Title>
      {invitations.isPending && <Loader aria-label="Loading invitations" />}
      {invitations.isError && <ErrorNotice error={invitations.error} title="The invitations could not be loaded" />}
      {failed !== null && <ErrorNotice error={failed} />}
      {invitations.data?.length === 0 && <Text size="sm">No invitations are waiting for an answer.</Text>}
      {invitations.data !== undefined && invitations.data.length > 0 && (
        <Table.ScrollContainer minWidth={300}>
          <Table verticalSpacing="sm" striped>
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Email</Table.Th>
                <Table.Th visibleFrom="sm">Roles</Table.Th>
                <Table.Th>
                  <VisuallyHidden>Actions</VisuallyHidden>
                </Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {invitations.data.map((inv) => (
                <Table.Tr key={inv.id}>
                  <Table.Td>
                    <Text size="sm" style={{ overflowWrap: 'anywhere' }}>
                      {inv.email}
                    </Text>
                    <RoleBadges roles={inv.roles} roleNames={roleNames} hiddenFrom="sm" mt={4} />
                    {inv.status === 'expired' ? (
                      <Badge color="red.9" variant="outline" size="xs">
                        Expired
                      </Badge>
                    ) : (
                      <Text size="xs" c="dimmed">
                        Pending until {new Date(inv.expiresAt).toLocaleString()}
                      </Text>
                    )}
                  </Table.Td>
                  <Table.Td visibleFrom="sm">
                    <RoleBadges roles={inv.roles} roleNames={roleNames} />
                  </Table.Td>
                  <Table.Td>
                    <Group gap="xs" justify="flex-end">
                      <Button
                        size="xs"
                        variant="default"
                        onClick={() => resend.mutate(inv)}
                        loading={resend.isPending && resend.variables?.id === inv.id}
                        aria-label={`Resend to ${inv.email}`}
                      >
                        Resend
                      </Button>
                      <Button
                        size="xs"
                        variant="outline"
                        color="red.9"
                        onClick={() => revoke.mutate(inv)}
                        loading={revoke.isPending && revoke.variables?.id === inv.id}
                        aria-label={`Revoke ${inv.email}`}
                      >
                        Revoke
                      </Button>
                    </Group>
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      )}
    </Card>
  );
}

/** Everything a membership change may alter: the list, counts, and (for yourself) your own roles and permissions. */
async function refreshAfterMemberChange(queries: ReturnType<typeof useQueryClient>, tenantId: string) {
  await Promise.all([
    queries.invalidateQueries({ queryKey: ['members', tenantId] }),
    queries.invalidateQueries({ queryKey: ['tenant', tenantId] }),
    queries.invalidateQueries({ queryKey: ['plan', tenantId] }),
    queries.invalidateQueries({ queryKey: ['me'] }),
    queries.invalidateQueries({ queryKey: ['allowed', tenantId] }),
  ]);
}

function RolesModal({ tenantId, member, roles, onClose, onHeld }: { tenantId: string; member: Member; roles: Role[]; onClose: () => void; onHeld: () => void }) {
  const queries = useQueryClient();
  const [chosen, setChosen] = useState<string[]>(member.roles);
  const [invalid, setInvalid] = useState<string | undefined>();
  const save = useMutation({
    mutationFn: () => send(api.PATCH('/api/v1/tenants/{tenantId}/members/{userId}', { params: { path: { tenantId, userId: member.userId } }, body: { roles: chosen } })),
    onSuccess: async (outcome) => {
      await refreshAfterMemberChange(queries, tenantId);
      if (outcome === 'held') onHeld();
      else onClose();
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    const problem = chosen.length === 0 ? 'Choose at least one role. To take every role away, remove the member.' : undefined;
    setInvalid(problem);
    if (problem === undefined) save.mutate();
  };
  const rolesError = invalid ?? fieldError(save.error, 'roles');
  return (
    <Modal closeButtonProps={{ 'aria-label': 'Close' }} opened onClose={onClose} title={`Roles of ${member.name ?? member.email}`}>
      <form onSubmit={submit} noValidate>
        <Stack>
          <MultiSelect label="Roles" data={roleOptions(roles)} value={chosen} onChange={setChosen} error={rolesError} searchable data-autofocus />
          {save.error !== null && rolesError === undefined && <ErrorNotice error={save.error} title="The roles were not changed" />}
          <Group justify="flex-end">
            <Button variant="default" onClick={onClose}>
              Cancel
            </Button>
            <Button type="submit" loading={save.isPending}>
              Save roles
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}

function RemoveModal({
  tenantId,
  member,
  self,
  tenantWord,
  onClose,
  onHeld,
}: {
  tenantId: string;
  member: Member;
  self: boolean;
  tenantWord: string;
  onClose: () => void;
  onHeld: () => void;
}) {
  const queries = useQueryClient();
  const reset = useResetSession();
  const navigate = useNavigate();
  const who = member.name ?? member.email;
  const remove = useMutation({
    mutationFn: () => send(api.DELETE('/api/v1/tenants/{tenantId}/members/{userId}', { params: { path: { tenantId, userId: member.userId } } })),
    onSuccess: async (outcome) => {
      if (outcome === 'held') return onHeld();
      if (self) {
        // Leave the signed-in frame first: refetched with no active tenant, it would redirect on its own
        // (to /choose-tenant?next=/members), racing this navigation.
        void navigate('/choose-tenant');
        await reset();
        return;
      }
      await refreshAfterMemberChange(queries, tenantId);
      onClose();
    },
  });
  return (
    <ConfirmModal
      title={self ? `Leave this ${tenantWord}?` : `Remove ${who}?`}
      confirm={self ? 'Leave' : 'Remove'}
      failed={self ? 'You have not left' : 'Nobody was removed'}
      action={remove}
      onClose={onClose}
    >
      {self
        ? `You lose access to this ${tenantWord} at once; someone who manages members would have to invite you back.`
        : `${who} loses access to this ${tenantWord} at once. Their account itself stays.`}
    </ConfirmModal>
  );
}

/** Hands the tenant to another member; the person types the tenant's slug to confirm. */
function TransferModal({
  tenantId,
  members,
  tenantWord,
  onClose,
  onDone,
}: {
  tenantId: string;
  members: Member[];
  tenantWord: string;
  onClose: () => void;
  onDone: (outcome: 'done' | 'held', to: string) => void;
}) {
  const queries = useQueryClient();
  const tenant = useQuery({ queryKey: ['tenant', tenantId], queryFn: () => unwrap(api.GET('/api/v1/tenants/{tenantId}', { params: { path: { tenantId } } })) });
  const [userId, setUserId] = useState<string | null>(null);
  const [confirm, setConfirm] = useState('');
  const [invalid, setInvalid] = useState<{ userId?: string; confirm?: string }>({});
  const target = members.find((m) => m.userId === userId);
  const transfer = useMutation({
    mutationFn: () => send(api.POST('/api/v1/tenants/{tenantId}/transfer-ownership', { params: { path: { tenantId } }, body: { userId: userId ?? '', confirm } })),
    onSuccess: async (outcome) => {
      await refreshAfterMemberChange(queries, tenantId);
      onDone(outcome, target?.name ?? target?.email ?? 'The member');
    },
  });
  const slug = tenant.data?.slug;
  const submit = (event: FormEvent) => {
    event.preventDefault();
    const problems = {
      ...(target === undefined ? { userId: 'Choose the member who will own it.' } : {}),
      ...(slug !== undefined && confirm !== slug ? { confirm: `Type ${slug} here to confirm.` } : {}),
    };
    setInvalid(problems);
    if (Object.keys(problems).length === 0) transfer.mutate();
  };
  const apiError = transfer.error instanceof ProblemError ? transfer.error.problem : undefined;
  const confirmError = invalid.confirm ?? (apiError?.code === 'confirmation_mismatch' ? (apiError.detail ?? apiError.title) : fieldError(transfer.error, 'confirm'));
  const userError =
    invalid.userId ?? (apiError?.code === 'member_not_found' || apiError?.code === 'already_owner' ? (apiError.detail ?? apiError.title) : fieldError(transfer.error, 'userId'));
  return (
    <Modal closeButtonProps={{ 'aria-label': 'Close' }} opened onClose={onClose} title="Transfer ownership">
      <form onSubmit={submit} noValidate>
        <Stack>
          <Text size="sm">The member you choose becomes the owner of this {tenantWord}. If you own it directly, you take their former roles and keep your others.</Text>
          <Select
            label="New owner"
            placeholder="Choose a member"
            data={members.map((m) => ({ value: m.userId, label: m.name === null ? m.email : `${m.name} (${m.email})` }))}
            value={userId}
            onChange={setUserId}
            error={userError}
            searchable
            data-autofocus
          />
          {tenant.isError && <ErrorNotice error={tenant.error} />}
          <TextInput
            label={slug === undefined ? 'Type the slug to confirm' : `Type ${slug} to confirm`}
            value={confirm}
            onChange={(e) => setConfirm(e.currentTarget.value)}
            error={confirmError}
            autoComplete="off"
            spellCheck={false}
          />
          {transfer.error !== null && confirmError === undefined && userError === undefined && <ErrorNotice error={transfer.error} title="Ownership was not transferred" />}
          <Group justify="flex-end">
            <Button variant="default" onClick={onClose}>
              Cancel
            </Button>
            <Button type="submit" color="red.9" loading={transfer.isPending} disabled={slug === undefined}>
              Transfer ownership
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}

function RoleBadges({ roles, roleNames, ...box }: { roles: string[]; roleNames: Map<string, string>; hiddenFrom?: 'sm'; mt?: number }) {
  return (
    <Group gap={4} {...box}>
      {roles.map((r) => (
        <Badge key={r} variant="light" tt="none" maw="none">
          {roleNames.get(r) ?? r}
        </Badge>
      ))}
      {roles.length === 0 && <Text size="sm">None</Text>}
    </Group>
  );
}
