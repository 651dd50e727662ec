import { Alert, Badge, Button, Card, Code, Flex, Group, Modal, MultiSelect, Select, SimpleGrid, Stack, Table, Text, TextInput, Title, VisuallyHidden } from '@mantine/core';
import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, type ReactNode, useId, useState } from 'react';
import { api, explainProblem, ProblemError, unwrap } from '../api/client';
import type { paths } from '../api/schema';
import { ErrorNotice, fieldError, PageWaiting } from '../components';
import { usePortalInfo } from '../session';
import { DeleteTenantModal, WHEN } from '../tenant-deletion';

/**
 * The platform operators' pages (seed 001): every tenant of the install, inviting people into any of them and setting
 * a person's default tenant, and the licence in force. The API answers `403 not_an_operator` to anyone else.
 */

type AdminTenantsPage = paths['/api/v1/admin/tenants']['get']['responses'][200]['content']['application/json'];
type AdminTenant = AdminTenantsPage['tenants'][number];
type Licence = paths['/api/v1/admin/licence']['get']['responses'][200]['content']['application/json'];

const SLUG = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const USER_ID = /^usr_[a-z2-7]{20}$/;
const DAY = new Intl.DateTimeFormat('en-GB', { day: '2-digit', month: '2-digit', year: '2-digit' });

/** Every tenant of the install, one page of the API after another (for pickers). */
function useAllTenants() {
  return useQuery({
    queryKey: ['admin-tenants', 'all'],
    queryFn: async () => {
      const all: AdminTenant[] = [];
      let cursor: string | undefined;
      do {
        const page: AdminTenantsPage = await unwrap(api.GET('/api/v1/admin/tenants', { params: { query: { limit: 500, ...(cursor === undefined ? {} : { cursor }) } } }));
        all.push(...page.tenants);
        cursor = page.nextCursor ?? undefined;
      } while (cursor !== undefined);
      return all;
    },
  });
}

function useLicence() {
  return useQuery({ queryKey: ['admin-licence'], queryFn: () => unwrap(api.GET('/api/v1/admin/licence')) });
}

function PageTitle({ children, intro }: { children: ReactNode; intro: ReactNode }) {
  return (
    <div>
      <Title order={2}>{children}</Title>
      <Text size="sm" c="dimmed">
        {intro}
      </Text>
    </div>
  );
}

const slugFrom = (name: string) =>
  name
    .toLowerCase()
    .normalize('NFKD')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63)
    .replace(/-+$/, '');

// ————————————————————————————————————————— Admin → Tenants —————————————————————————————————————————

/** Seed 001: one table of every tenant, markers for where you are and the admin tenancy, the add row at the bottom. */
export function AdminTenantsPage() {
  const labels = usePortalInfo().data?.labels;
  const word = labels?.tenants ?? 'Tenants';
  const queries = useQueryClient();
  const tenants = useInfiniteQuery({
    queryKey: ['admin-tenants', 'pages'],
    initialPageParam: undefined as string | undefined,
    queryFn: ({ pageParam }) => unwrap(api.GET('/api/v1/admin/tenants', { params: { query: { limit: 100, ...(pageParam === undefined ? {} : { cursor: pageParam }) } } })),
    getNextPageParam: (last) => last.nextCursor ?? undefined,
  });
  const [confirming, setConfirming] = useState<{ tenant: AdminTenant; action: 'make-admin' | 'suspend' } | null>(null);
  const [deleting, setDeleting] = useState<AdminTenant | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const refresh = () =>
    Promise.all([
      queries.invalidateQueries({ queryKey: ['admin-tenants'] }),
      queries.invalidateQueries({ queryKey: ['admin-licence'] }),
      queries.invalidateQueries({ queryKey: ['me'] }),
    ]);

  const title = <PageTitle intro={`Every ${(labels?.tenant ?? 'tenant').toLowerCase()} of this installation. Platform operators only.`}>{`Admin · ${word}`}</PageTitle>;
  if (!tenants.isSuccess) return <PageWaiting title={title} query={tenants} label={`Loading ${word.toLowerCase()}`} />;
  const first = tenants.data.pages[0];
  const rows = tenants.data.pages.flatMap((p) => p.tenants);
  return (
    <Stack>
      {title}
      {notice !== null && (
        <Alert color="green" title="Done" role="status" withCloseButton closeButtonLabel="Dismiss" onClose={() => setNotice(null)}>
          {notice}
        </Alert>
      )}
      <Card withBorder padding={0}>
        <Group px="md" py="sm" justify="space-between" style={{ borderBottom: '1px solid var(--mantine-color-gray-3)' }}>
          <Text fw={700} aria-live="polite">
            Tenants in use: {first?.inUse ?? 0} / {first?.limit ?? '∞'}
          </Text>
        </Group>
        <Table.ScrollContainer minWidth={640}>
          <Table verticalSpacing="sm" horizontalSpacing="md" highlightOnHover aria-label={word}>
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Name</Table.Th>
                <Table.Th>Slug</Table.Th>
                <Table.Th>Created</Table.Th>
                <Table.Th>
                  <VisuallyHidden>Actions</VisuallyHidden>
                </Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {rows.map((t) => (
                <TenantRow key={t.id} tenant={t} onConfirm={(action) => setConfirming({ tenant: t, action })} onDelete={() => setDeleting(t)} />
              ))}
              {rows.length === 0 && (
                <Table.Tr>
                  <Table.Td colSpan={4}>
                    <Text size="sm">No {word.toLowerCase()} yet. Add the first below.</Text>
                  </Table.Td>
                </Table.Tr>
              )}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
        {tenants.hasNextPage && (
          <Group justify="center" py="sm">
            <Button variant="default" onClick={() => tenants.fetchNextPage()} loading={tenants.isFetchingNextPage}>
              Show more
            </Button>
          </Group>
        )}
        <AddTenantRow
          onAdded={async (name) => {
            setNotice(`${name} was added.`);
            await refresh();
          }}
        />
      </Card>
      {confirming !== null && (
        <ConfirmAction
          {...confirming}
          onClose={() => setConfirming(null)}
          onDone={async (text) => {
            setConfirming(null);
            setNotice(text);
            await refresh();
          }}
        />
      )}
      {deleting !== null && <DeleteTenantModal tenant={deleting} onClose={() => setDeleting(null)} onDeleted={refresh} />}
    </Stack>
  );
}

function TenantRow({ tenant: t, onConfirm, onDelete }: { tenant: AdminTenant; onConfirm: (action: 'make-admin' | 'suspend') => void; onDelete: () => void }) {
  const nameId = useId();
  const canDelete = !t.youAreHere && !t.isAdminTenancy && t.status !== 'pending_deletion';
  return (
    <Table.Tr>
      <Table.Td miw={220}>
        <Group gap="xs" wrap="wrap">
          <Text size="sm" fw={600} id={nameId}>
            {t.name}
          </Text>
          {t.youAreHere && (
            <Badge color="teal.9" variant="filled">
              YOU ARE HERE
            </Badge>
          )}
          {t.isAdminTenancy && (
            <Badge color="grape.9" variant="filled">
              ADMIN TENANCY
            </Badge>
          )}
          {t.status !== 'active' && (
            <Badge color="red.9" variant="outline">
              {t.status.replace('_', ' ')}
            </Badge>
          )}
        </Group>
      </Table.Td>
      <Table.Td>
        <Code>{t.slug}</Code>
      </Table.Td>
      <Table.Td>
        <time dateTime={t.createdAt} title={WHEN.format(new Date(t.createdAt))}>
          {DAY.format(new Date(t.createdAt))}
        </time>
      </Table.Td>
      <Table.Td>
        <Group gap="xs" justify="flex-end" wrap="nowrap">
          {!t.isAdminTenancy && t.status === 'active' && (
            <Button size="xs" variant="default" aria-describedby={nameId} onClick={() => onConfirm('make-admin')}>
              Make admin tenancy
            </Button>
          )}
          {!t.isAdminTenancy && t.status === 'active' && (
            <Button size="xs" variant="default" aria-describedby={nameId} onClick={() => onConfirm('suspend')}>
              Suspend
            </Button>
          )}
          {canDelete && (
            <Button size="xs" variant="outline" color="red.9" aria-describedby={nameId} onClick={onDelete}>
              Delete…
            </Button>
          )}
        </Group>
      </Table.Td>
    </Table.Tr>
  );
}

/** The inline add row: Tenant name, Slug (suggested from the name until edited), Add tenant. */
function AddTenantRow({ onAdded }: { onAdded: (name: string) => Promise<void> }) {
  const [name, setName] = useState('');
  const [slug, setSlug] = useState('');
  const [slugEdited, setSlugEdited] = useState(false);
  const [invalid, setInvalid] = useState<{ name?: string; slug?: string }>({});
  const add = useMutation({
    mutationFn: (body: { name: string; slug: string }) => unwrap(api.POST('/api/v1/tenants', { body })),
    onSuccess: async (created) => {
      setName('');
      setSlug('');
      setSlugEdited(false);
      await onAdded(created.name);
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    const body = { name: name.trim(), slug: slug.trim() };
    const problems = {
      ...(body.name === '' ? { name: 'Enter a name.' } : {}),
      ...(SLUG.test(body.slug) && body.slug.length >= 2 ? {} : { slug: 'Use 2–63 lowercase letters, digits and dashes, starting and ending with a letter or digit.' }),
    };
    setInvalid(problems);
    if (Object.keys(problems).length === 0) add.mutate(body);
  };
  const error = add.error;
  const slugError = invalid.slug ?? fieldError(error, 'slug') ?? (error instanceof ProblemError && error.problem.code === 'slug_taken' ? explainProblem(error) : undefined);
  const nameError = invalid.name ?? fieldError(error, 'name');
  return (
    <form onSubmit={submit} noValidate aria-label="Add a tenant">
      <Stack gap="xs" px="md" py="sm" style={{ borderTop: '1px solid var(--mantine-color-gray-3)' }}>
        <Flex direction={{ base: 'column', sm: 'row' }} align={{ base: 'stretch', sm: 'flex-start' }} gap="sm">
          <TextInput
            label="Tenant name"
            value={name}
            onChange={(e) => {
              const next = e.currentTarget.value;
              setName(next);
              add.reset();
              if (!slugEdited) setSlug(slugFrom(next));
            }}
            error={nameError}
            autoComplete="off"
            style={{ flex: 1 }}
          />
          <TextInput
            label="Slug"
            value={slug}
            onChange={(e) => {
              setSlug(e.currentTarget.value);
              setSlugEdited(true);
              add.reset();
            }}
            error={slugError}
            autoComplete="off"
            style={{ flex: 1 }}
          />
          <Button type="submit" loading={add.isPending} mt={{ base: 0, sm: 25 }} style={{ alignSelf: 'flex-start' }}>
            Add tenant
          </Button>
        </Flex>
        {error !== null && slugError === undefined && nameError === undefined && <ErrorNotice error={error} title="The tenant was not added" />}
      </Stack>
    </form>
  );
}

/** Make admin tenancy / Suspend, each after a confirmation that says what it does. */
function ConfirmAction({
  tenant,
  action,
  onClose,
  onDone,
}: {
  tenant: AdminTenant;
  action: 'make-admin' | 'suspend';
  onClose: () => void;
  onDone: (text: string) => Promise<void>;
}) {
  const path = { params: { path: { tenantId: tenant.id } } };
  const run = useMutation({
    mutationFn: async () => {
      if (action === 'make-admin') await unwrap(api.POST('/api/v1/admin/tenants/{tenantId}/make-admin-tenancy', path));
      else await unwrap(api.POST('/api/v1/tenants/{tenantId}/suspend', { ...path, body: {} }));
    },
    onSuccess: () => onDone(action === 'make-admin' ? `${tenant.name} is now the admin tenancy.` : `${tenant.name} is suspended.`),
  });
  const makeAdmin = action === 'make-admin';
  return (
    <Modal opened onClose={onClose} closeButtonProps={{ 'aria-label': 'Close' }} title={makeAdmin ? `Make ${tenant.name} the admin tenancy?` : `Suspend ${tenant.name}?`}>
      <Stack>
        <Text size="sm">
          {makeAdmin
            ? 'From now on, its operator staff get a shadow membership in every tenant created afterwards. Existing tenants are unaffected.'
            : 'Its data is kept, but it becomes read-only: only its owners and those above it may enter, and its API keys stop working.'}
        </Text>
        {run.error !== null && <ErrorNotice error={run.error} />}
        <Group justify="flex-end">
          <Button variant="default" onClick={onClose}>
            Cancel
          </Button>
          <Button color={makeAdmin ? undefined : 'red.9'} loading={run.isPending} onClick={() => run.mutate()} data-autofocus>
            {makeAdmin ? 'Make admin tenancy' : 'Suspend'}
          </Button>
        </Group>
      </Stack>
    </Modal>
  );
}

/** Delete…: type the slug to confirm, then the API's report — rows wiped, people re-pointed or deleted, or the grace period. */
// ————————————————————————————————————————— Admin → Users —————————————————————————————————————————

/** Invite user (with a Tenant dropdown) and a person's default tenant. The API has no route listing every person. */
export function AdminUsersPage() {
  const tenants = useAllTenants();
  const title = <PageTitle intro="Invite people into any tenant and set a person's default tenant. Platform operators only.">Admin · Users</PageTitle>;
  if (!tenants.isSuccess) return <PageWaiting title={title} query={tenants} label="Loading tenants" />;
  const options = tenants.data.filter((t) => t.status === 'active').map((t) => ({ value: t.id, label: `${t.name} (${t.slug})` }));
  return (
    <Stack>
      {title}
      <Alert color="gray" title="No list of people here" role="note">
        Tenantry&apos;s API has no route that lists every person of the installation, so this page shows none rather than a partial one. To see who belongs to a tenant, switch into
        it and open Members.
      </Alert>
      <SimpleGrid cols={{ base: 1, md: 2 }}>
        <InviteUserCard options={options} />
        <DefaultTenantCard options={options} />
      </SimpleGrid>
    </Stack>
  );
}

function InviteUserCard({ options }: { options: Array<{ value: string; label: string }> }) {
  const [tenantId, setTenantId] = useState<string | null>(null);
  const [email, setEmail] = useState('');
  const [chosen, setChosen] = useState<string[]>([]);
  const [invalid, setInvalid] = useState<{ tenant?: string; email?: string; roles?: string }>({});
  const [sent, setSent] = useState<string | null>(null);
  const roles = useQuery({
    queryKey: ['roles', tenantId],
    enabled: tenantId !== null,
    queryFn: () => unwrap(api.GET('/api/v1/tenants/{tenantId}/roles', { params: { path: { tenantId: tenantId ?? '' } } })),
  });
  const invite = useMutation({
    mutationFn: (v: { tenantId: string; email: string; roles: string[] }) =>
      unwrap(api.POST('/api/v1/tenants/{tenantId}/invitations', { params: { path: { tenantId: v.tenantId } }, body: { email: v.email, roles: v.roles } })),
    onSuccess: (invitation, v) => {
      setSent(`Invitation sent to ${invitation.email} for ${options.find((o) => o.value === v.tenantId)?.label ?? 'the tenant'}.`);
      setEmail('');
      setChosen([]);
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    setSent(null);
    const trimmed = email.trim();
    const problems = {
      ...(tenantId === null ? { tenant: 'Choose a tenant.' } : {}),
      ...(EMAIL.test(trimmed) ? {} : { email: 'Enter an email address, like name@example.com.' }),
      ...(chosen.length === 0 ? { roles: 'Choose at least one role.' } : {}),
    };
    setInvalid(problems);
    if (Object.keys(problems).length === 0 && tenantId !== null) invite.mutate({ tenantId, email: trimmed, roles: chosen });
  };
  const apiError = invite.error;
  const emailError =
    invalid.email ??
    fieldError(apiError, 'email') ??
    (apiError instanceof ProblemError && apiError.problem.code === 'already_member' ? (apiError.problem.detail ?? apiError.problem.title) : undefined);
  const rolesError = invalid.roles ?? fieldError(apiError, 'roles');
  return (
    <Card withBorder component="form" onSubmit={submit} noValidate aria-labelledby="admin-invite-title">
      <Stack gap="sm">
        <Title order={3} size="h5" id="admin-invite-title">
          Invite user
        </Title>
        <Select
          label="Tenant"
          placeholder="Pick a tenant"
          data={options}
          value={tenantId}
          onChange={(v) => {
            setTenantId(v);
            setChosen([]);
          }}
          error={invalid.tenant}
          searchable
          nothingFoundMessage="No such tenant"
        />
        <TextInput label="Email" type="email" value={email} onChange={(e) => setEmail(e.currentTarget.value)} error={emailError} autoComplete="off" />
        <MultiSelect
          label="Roles"
          placeholder={tenantId === null ? 'Pick a tenant first' : chosen.length === 0 ? 'Pick roles' : undefined}
          data={(roles.data?.roles ?? []).map((r) => ({ value: r.key, label: r.name }))}
          value={chosen}
          onChange={setChosen}
          error={rolesError}
          disabled={tenantId === null || roles.isPending}
          searchable
        />
        {roles.isError && <ErrorNotice error={roles.error} title="The roles of that tenant could not be read" />}
        {apiError !== null && emailError === undefined && rolesError === undefined && <ErrorNotice error={apiError} title="The invitation was not sent" />}
        {sent !== null && (
          <Alert color="green" title="Invitation sent" role="status">
            {sent}
          </Alert>
        )}
        <Group>
          <Button type="submit" loading={invite.isPending}>
            Send invitation
          </Button>
        </Group>
      </Stack>
    </Card>
  );
}

function DefaultTenantCard({ options }: { options: Array<{ value: string; label: string }> }) {
  const [userId, setUserId] = useState('');
  const [tenantId, setTenantId] = useState<string | null>(null);
  const [invalid, setInvalid] = useState<{ user?: string; tenant?: string }>({});
  const set = useMutation({
    mutationFn: (v: { userId: string; tenantId: string }) =>
      unwrap(api.PUT('/api/v1/admin/users/{userId}/default-tenant', { params: { path: { userId: v.userId } }, body: { tenantId: v.tenantId } })),
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    set.reset();
    const id = userId.trim();
    const problems = {
      ...(USER_ID.test(id) ? {} : { user: 'Enter a user id, like usr_ followed by 20 letters and digits.' }),
      ...(tenantId === null ? { tenant: 'Choose a tenant.' } : {}),
    };
    setInvalid(problems);
    if (Object.keys(problems).length === 0 && tenantId !== null) set.mutate({ userId: id, tenantId });
  };
  const notMember = set.error instanceof ProblemError && set.error.problem.code === 'member_not_found';
  return (
    <Card withBorder component="form" onSubmit={submit} noValidate aria-labelledby="default-tenant-title">
      <Stack gap="sm">
        <Title order={3} size="h5" id="default-tenant-title">
          Default tenant
        </Title>
        <Text size="sm" c="dimmed">
          Where a person lands after signing in. They must already belong to the tenant. Making it the admin tenancy makes them operator staff.
        </Text>
        <TextInput label="User id" value={userId} onChange={(e) => setUserId(e.currentTarget.value)} error={invalid.user} autoComplete="off" placeholder="usr_…" />
        <Select
          label="Default tenant"
          placeholder="Pick a tenant"
          data={options}
          value={tenantId}
          onChange={setTenantId}
          error={invalid.tenant}
          searchable
          nothingFoundMessage="No such tenant"
        />
        {set.error !== null &&
          (notMember ? (
            <Alert color="red" title="Not a member" role="alert">
              That person does not belong to this tenant. Invite them into it first.
            </Alert>
          ) : (
            <ErrorNotice error={set.error} title="The default tenant was not set" />
          ))}
        {set.isSuccess && (
          <Alert color="green" title="Default tenant set" role="status">
            {set.data.userId} now lands in {options.find((o) => o.value === set.data.defaultTenantId)?.label ?? set.data.defaultTenantId}.
          </Alert>
        )}
        <Group>
          <Button type="submit" loading={set.isPending}>
            Set default tenant
          </Button>
        </Group>
      </Stack>
    </Card>
  );
}

// ————————————————————————————————————————— Admin → Licence —————————————————————————————————————————

/** The licence in force: who it is for, the tenant limit and use, which features it covers, the file and its error. */
export function AdminLicencePage() {
  const licence = useLicence();
  const title = <PageTitle intro="The platform-wide licence in force. Platform operators only.">Admin · Licence</PageTitle>;
  if (!licence.isSuccess) return <PageWaiting title={title} query={licence} label="Loading the licence" />;
  const l: Licence = licence.data;
  return (
    <Stack>
      {title}
      {l.fileError !== null && (
        <Alert color="red" title="The licence file is not in force" role="alert">
          {l.fileError}. The previous licence stays in force until the file is fixed.
        </Alert>
      )}
      <SimpleGrid cols={{ base: 1, sm: 3 }}>
        <Stat label="Licensee" value={l.licensee ?? (l.source === null ? 'Unlicensed install' : '—')} />
        <Stat label="Tenants in use" value={`${l.tenantsInUse} / ${l.tenantLimit ?? '∞'}`} />
        <Stat label="Tenant limit" value={l.tenantLimit === null ? 'None' : String(l.tenantLimit)} />
      </SimpleGrid>
      <Card withBorder>
        <Stack gap={4}>
          <Text size="sm">
            <b>File:</b>{' '}
            {l.source === null ? 'none configured (TENANTRY_LICENCE_FILE is not set): every feature is licensed and there is no tenant limit.' : <Code>{l.source}</Code>}
          </Text>
          <Text size="sm">
            <b>Loaded:</b> <time dateTime={l.loadedAt}>{WHEN.format(new Date(l.loadedAt))}</time>
          </Text>
        </Stack>
      </Card>
      <Card withBorder>
        <Title order={3} size="h5" mb="xs">
          Features
        </Title>
        {l.features.length === 0 ? (
          <Text size="sm">This preset has no optional features.</Text>
        ) : (
          <Table aria-label="Licensed features">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Feature</Table.Th>
                <Table.Th>Key</Table.Th>
                <Table.Th>Licensed</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {l.features.map((f) => (
                <Table.Tr key={f.key}>
                  <Table.Td>{f.name}</Table.Td>
                  <Table.Td>
                    <Code>{f.key}</Code>
                  </Table.Td>
                  <Table.Td>
                    {f.licensed ? (
                      <Badge color="teal.9" variant="filled">
                        Yes
                      </Badge>
                    ) : (
                      <Badge color="gray.8" variant="outline">
                        No
                      </Badge>
                    )}
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        )}
      </Card>
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
