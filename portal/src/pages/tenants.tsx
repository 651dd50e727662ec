import {
  Alert,
  Badge,
  Button,
  Card,
  Group,
  Loader,
  Menu,
  Modal,
  Radio,
  Select,
  Stack,
  Table,
  Text,
  TextInput,
  Title,
  Tree,
  type TreeNodeData,
  useTree,
  VisuallyHidden,
} from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useMemo, useState } from 'react';
import { Link, useNavigate } from 'react-router';
import { api, explainProblem, ProblemError, unwrap } from '../api/client';
import type { paths } from '../api/schema';
import { ErrorNotice, fieldError } from '../components';
import { type Me, type PresetLabels, type TenantListItem, useChecks, useMe, usePortalInfo, useResetSession } from '../session';
import { settingsPath } from './settings';

type TreeTenant = paths['/api/v1/tenants/{tenantId}/tree']['get']['responses'][200]['content']['application/json']['tenants'][number];
type Notice = { title: string; text: string; switchTo?: { id: string; name: string } };

/** The API's slug rule (2–63 characters): checked here first so the person hears about it before anything is sent. */
const SLUG = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const DEFAULT_LABELS: PresetLabels = { tenant: 'Tenant', tenants: 'Tenants', enterprise: 'Organisation', approvals: 'Approvals' };

/** A suggested slug for a name: lowercase letters, digits and single dashes. */
function slugify(name: string): string {
  return name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63)
    .replace(/-+$/, '');
}

/** A preset's word inside a sentence: "Tenant" → "tenant", but "MQTT tenant" keeps its acronym. */
function lower(word: string): string {
  return word
    .split(' ')
    .map((w) => (/^[A-Z][A-Z0-9]/.test(w) ? w : w.toLowerCase()))
    .join(' ');
}

/** "a tenant", "an organisation", "an MQTT tenant" (an acronym is read letter by letter). */
function article(word: string): string {
  const vowel = /^[A-Z][A-Z0-9]/.test(word) ? /^[AEFHILMNORSX]/.test(word) : /^[aeiou]/i.test(word);
  return `${vowel ? 'an' : 'a'} ${word}`;
}

/** The listed tenants in tree order: each after the one above it (when that is listed too), siblings by name. */
function inTreeOrder(tenants: TenantListItem[]): TenantListItem[] {
  const ids = new Set(tenants.map((t) => t.id));
  const children = new Map<string | null, TenantListItem[]>();
  for (const t of tenants) {
    const above = t.parentId !== null && ids.has(t.parentId) ? t.parentId : null;
    children.set(above, [...(children.get(above) ?? []), t]);
  }
  const out: TenantListItem[] = [];
  const walk = (parent: string | null) => {
    for (const t of (children.get(parent) ?? []).toSorted((a, b) => a.name.localeCompare(b.name))) {
      out.push(t);
      walk(t.id);
    }
  };
  walk(null);
  return out;
}

/**
 * Where `node` may go: somewhere the person may create tenants, never under itself or anything below it (a cycle),
 * nor where it already is; or to the top when the installation allows more than one root.
 */
function placesFor(node: TreeTenant, nodes: TreeTenant[], destinations: string[], mayDetach: boolean): Array<string | null> {
  // The tree comes depth-first, so a tenant's descendants follow it, each after its parent.
  const below = new Set<string>([node.id]);
  for (const n of nodes) if (n.parentId !== null && below.has(n.parentId)) below.add(n.id);
  return [...destinations.filter((id) => !below.has(id) && id !== node.parentId), ...(mayDetach && node.parentId !== null ? [null] : [])];
}

function slugProblem(slug: string): string | undefined {
  if (slug.length === 0) return 'Enter a slug, like north-office.';
  if (slug.length < 2 || slug.length > 63) return 'A slug is 2 to 63 characters long.';
  if (!SLUG.test(slug)) return 'Use lowercase letters, digits and dashes only, starting and ending with a letter or digit.';
  return undefined;
}

/** Every tenant a change of the tree may alter: lists, the tree, the session's authorization, the plan's usage. */
async function refreshAfterTreeChange(queries: ReturnType<typeof useQueryClient>, tenantId: string) {
  await Promise.all([
    queries.invalidateQueries({ queryKey: ['tenants'] }),
    queries.invalidateQueries({ queryKey: ['tenant-tree', tenantId] }),
    queries.invalidateQueries({ queryKey: ['tenant'] }),
    queries.invalidateQueries({ queryKey: ['me'] }),
    queries.invalidateQueries({ queryKey: ['allowed'] }),
    queries.invalidateQueries({ queryKey: ['plan'] }),
  ]);
}

/** Issue 12's Tenants page: the tenants you can enter, the tree below the active one, creating, moving, switching. */
export function TenantsPage() {
  const me = useMe().data as Me;
  const info = usePortalInfo().data;
  const labels = info?.labels ?? DEFAULT_LABELS;
  const tenantWord = lower(labels.tenant);
  const tenantsWord = lower(labels.tenants);
  const tenantId = me.activeTenantId ?? '';
  const navigate = useNavigate();
  const reset = useResetSession();

  const list = useQuery({ queryKey: ['tenants'], queryFn: () => unwrap(api.GET('/api/v1/tenants')) });
  const tree = useQuery({
    queryKey: ['tenant-tree', tenantId],
    queryFn: async () => (await unwrap(api.GET('/api/v1/tenants/{tenantId}/tree', { params: { path: { tenantId } } }))).tenants,
  });
  const roles = useQuery({
    queryKey: ['roles', tenantId],
    queryFn: async () => (await unwrap(api.GET('/api/v1/tenants/{tenantId}/roles', { params: { path: { tenantId } } }))).roles,
    retry: false,
  });
  const roleNames = new Map((roles.data ?? []).map((r) => [r.key, r.name]));

  const mine = useMemo(() => inTreeOrder(list.data?.tenants ?? []), [list.data]);
  const nodes = tree.data ?? [];
  const byId = new Map<string, { name: string; slug: string; parentId: string | null }>([...mine.map((t) => [t.id, t] as const), ...nodes.map((n) => [n.id, n] as const)]);
  const activeNode = nodes.find((n) => n.depth === 0);
  const activeName = activeNode?.name ?? me.authorization[tenantId]?.name ?? '';
  const parentId = activeNode?.parentId ?? null;
  const parent = parentId === null ? undefined : byId.get(parentId);

  // Where new tenants may go (children of anything listed or in the tree) and which of the tree's tenants may move.
  const places = [...new Set([...nodes.map((n) => n.id), ...mine.filter((t) => t.status === 'active').map((t) => t.id)])];
  const pairs: Array<[string, string]> = [
    ...places.map((id): [string, string] => [id, 'tenants.create_child']),
    ...(parentId === null ? [] : [[parentId, 'tenants.create_child'] as [string, string]]),
    ...nodes.map((n): [string, string] => [n.id, 'tenant.delete']),
  ];
  const allowed = useChecks(tenantId, pairs, tree.isSuccess && list.isSuccess).data;
  const may = (id: string, permission: string) => allowed?.has(`${id} ${permission}`) === true;
  const canChild = may(tenantId, 'tenants.create_child');
  const canSibling = parentId !== null && may(parentId, 'tenants.create_child');
  const destinations = places.filter((id) => may(id, 'tenants.create_child'));
  const mayDetach = info?.singleRoot !== true || me.user.platformRole === 'super_admin';
  const movable = nodes.filter((n) => may(n.id, 'tenant.delete') && placesFor(n, nodes, destinations, mayDetach).length > 0);

  const [creating, setCreating] = useState(false);
  const [moving, setMoving] = useState(false);
  const [notice, setNotice] = useState<Notice | null>(null);

  const switchTo = useMutation({
    mutationFn: (id: string) => unwrap(api.POST('/api/v1/auth/active-tenant', { body: { tenantId: id } })),
    onSuccess: async () => {
      await reset();
      void navigate('/');
    },
  });

  return (
    <Stack>
      <Group justify="space-between" align="flex-start">
        <div>
          <Title order={2}>{labels.tenants}</Title>
          <Text size="sm" c="dimmed">
            Every {tenantWord} you can enter, and the tree below the one you are working in.
          </Text>
        </div>
        {(canChild || canSibling) && <Button onClick={() => setCreating(true)}>New {tenantWord}</Button>}
      </Group>
      {notice !== null && (
        <Alert color="blue" title={notice.title} role="status" withCloseButton closeButtonLabel="Dismiss" onClose={() => setNotice(null)}>
          <Stack gap="xs" align="flex-start">
            <Text size="sm">{notice.text}</Text>
            {notice.switchTo !== undefined && (
              <Button size="xs" variant="default" onClick={() => notice.switchTo && switchTo.mutate(notice.switchTo.id)} loading={switchTo.isPending}>
                Switch to {notice.switchTo.name}
              </Button>
            )}
          </Stack>
        </Alert>
      )}
      {switchTo.error !== null && <ErrorNotice error={switchTo.error} title={`You are still in ${activeName}`} />}

      <Card withBorder>
        <Title order={3} size="h5" mb="xs">
          Your {tenantsWord}
        </Title>
        {list.isPending && <Loader aria-label={`Loading your ${tenantsWord}`} />}
        {list.isError && <ErrorNotice error={list.error} title={`Your ${tenantsWord} could not be loaded`} />}
        {list.isSuccess && mine.length === 0 && <Text size="sm">You do not belong to any {tenantWord} yet. Ask someone to invite you.</Text>}
        {mine.length > 0 && (
          <Table.ScrollContainer minWidth={300}>
            <Table verticalSpacing="sm" striped>
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>{labels.tenant}</Table.Th>
                  <Table.Th visibleFrom="sm">Your roles</Table.Th>
                  <Table.Th visibleFrom="sm">Status</Table.Th>
                  <Table.Th>
                    <VisuallyHidden>Actions</VisuallyHidden>
                  </Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {mine.map((t) => {
                  const here = t.id === tenantId;
                  const above = t.parentId === null ? undefined : byId.get(t.parentId);
                  return (
                    <Table.Tr key={t.id} aria-current={here ? 'true' : undefined}>
                      <Table.Td>
                        <Group gap={6} wrap="wrap">
                          <Text fw={600} size="sm" style={{ overflowWrap: 'anywhere' }}>
                            {t.name}
                          </Text>
                          {here && (
                            <Badge size="xs" variant="filled" color="indigo.8">
                              You are here
                            </Badge>
                          )}
                        </Group>
                        <Text size="xs" c="dimmed" style={{ overflowWrap: 'anywhere' }}>
                          {t.slug}
                          {above !== undefined && ` · in ${above.name}`}
                        </Text>
                        <Group gap={4} mt={4} hiddenFrom="sm">
                          <RoleBadges tenant={t} roleNames={roleNames} byId={byId} />
                          <StatusBadge status={t.status} />
                        </Group>
                      </Table.Td>
                      <Table.Td visibleFrom="sm">
                        <Group gap={4}>
                          <RoleBadges tenant={t} roleNames={roleNames} byId={byId} />
                        </Group>
                      </Table.Td>
                      <Table.Td visibleFrom="sm">
                        <StatusBadge status={t.status} />
                      </Table.Td>
                      <Table.Td>
                        <Group gap="xs" justify="flex-end" wrap="nowrap">
                          {!here && t.status !== 'pending_deletion' && (
                            <Button
                              size="xs"
                              variant="default"
                              onClick={() => switchTo.mutate(t.id)}
                              loading={switchTo.isPending && switchTo.variables === t.id}
                              aria-label={`Switch to ${t.name}`}
                            >
                              Switch
                            </Button>
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
      </Card>

      <Card withBorder>
        <Group justify="space-between" align="flex-start" mb="xs">
          <div>
            <Title order={3} size="h5">
              {activeName === '' ? 'The tree' : `${activeName} and below`}
            </Title>
            {parent !== undefined && (
              <Text size="xs" c="dimmed">
                Part of {parent.name}
              </Text>
            )}
          </div>
          <Group gap="xs">
            {nodes.length > 0 && (
              <Menu position="bottom-end" withinPortal>
                <Menu.Target>
                  <Button size="xs" variant="default">
                    Settings of…
                  </Button>
                </Menu.Target>
                <Menu.Dropdown>
                  {nodes.map((n) => (
                    <Menu.Item key={n.id} component={Link} to={settingsPath(n.id, tenantId)} pl={8 + n.depth * 12}>
                      {n.name}
                    </Menu.Item>
                  ))}
                </Menu.Dropdown>
              </Menu>
            )}
            {movable.length > 0 && (
              <Button size="xs" variant="default" onClick={() => setMoving(true)}>
                Move {article(tenantWord)}
              </Button>
            )}
          </Group>
        </Group>
        {tree.isPending && <Loader aria-label="Loading the tree" />}
        {tree.isError && <ErrorNotice error={tree.error} title="The tree could not be loaded" />}
        {tree.isSuccess && <SubtreeView nodes={nodes} activeId={tenantId} label={`${activeName} and the ${tenantsWord} below it`} />}
        {tree.isSuccess && nodes.length <= 1 && (
          <Text size="sm" mt="xs">
            No {tenantsWord} below {activeName} yet.
          </Text>
        )}
      </Card>

      {creating && (
        <CreateModal
          activeId={tenantId}
          activeName={activeName}
          parent={parentId === null || parent === undefined ? undefined : { id: parentId, name: parent.name, isRoot: parent.parentId === null }}
          canChild={canChild}
          canSibling={canSibling}
          labels={labels}
          onClose={() => setCreating(false)}
          onCreated={(created, where) => {
            setCreating(false);
            setNotice({
              title: `${labels.tenant} created`,
              text: `${created.name} now sits ${where === 'child' ? 'below' : 'beside'} ${activeName}. You own it.`,
              switchTo: { id: created.id, name: created.name },
            });
          }}
        />
      )}
      {moving && (
        <MoveModal
          activeId={tenantId}
          nodes={nodes}
          movable={movable}
          destinations={destinations}
          names={byId}
          mayDetach={mayDetach}
          labels={labels}
          onClose={() => setMoving(false)}
          onMoved={(what, where) => {
            setMoving(false);
            setNotice({ title: `${labels.tenant} moved`, text: `${what} now sits ${where}, with everything below it.` });
          }}
        />
      )}
    </Stack>
  );
}

/** The active tenant and everything below it as a tree: arrow keys move and open, Space opens or closes a branch. */
function SubtreeView({ nodes, activeId, label }: { nodes: TreeTenant[]; activeId: string; label: string }) {
  const data = useMemo(() => {
    const children = new Map<string | null, TreeTenant[]>();
    for (const n of nodes) children.set(n.parentId, [...(children.get(n.parentId) ?? []), n]);
    const build = (n: TreeTenant): TreeNodeData => {
      const below = (children.get(n.id) ?? []).toSorted((a, b) => a.name.localeCompare(b.name)).map(build);
      return { value: n.id, label: n.name, ...(below.length > 0 ? { children: below } : {}) };
    };
    const root = nodes.find((n) => n.depth === 0);
    return root === undefined ? [] : [build(root)];
  }, [nodes]);
  const byId = useMemo(() => new Map(nodes.map((n) => [n.id, n])), [nodes]);
  // Every branch open unless the person closed it, so a new tenant shows at once wherever it lands.
  const [collapsed, setCollapsed] = useState<ReadonlySet<string>>(new Set());
  const expandedState = useMemo(() => Object.fromEntries(nodes.map((n) => [n.id, !collapsed.has(n.id)])), [nodes, collapsed]);
  const tree = useTree({ expandedState, onExpandedStateChange: (state) => setCollapsed(new Set(Object.keys(state).filter((k) => state[k] === false))) });
  return (
    <Tree
      data={data}
      tree={tree}
      aria-label={label}
      levelOffset="lg"
      withLines
      renderNode={({ node, expanded, hasChildren, elementProps }) => {
        const t = byId.get(node.value);
        if (t === undefined) return null;
        return (
          <div {...elementProps} data-slug={t.slug}>
            <Group gap="xs" wrap="nowrap" align="flex-start" py={4}>
              <Text size="sm" c="dimmed" w={12} aria-hidden style={{ flexShrink: 0 }}>
                {hasChildren ? (expanded ? '▾' : '▸') : '•'}
              </Text>
              <div style={{ minWidth: 0 }}>
                <Group gap={6} wrap="wrap">
                  <Text size="sm" fw={600} style={{ overflowWrap: 'anywhere' }}>
                    {t.name}
                  </Text>
                  <StatusBadge status={t.status} />
                  {t.id === activeId && (
                    <Badge size="xs" variant="filled" color="indigo.8">
                      You are here
                    </Badge>
                  )}
                </Group>
                <Text size="xs" c="dimmed" style={{ overflowWrap: 'anywhere' }}>
                  {t.slug}
                </Text>
              </div>
            </Group>
          </div>
        );
      }}
    />
  );
}

function StatusBadge({ status }: { status: string }) {
  if (status === 'suspended')
    return (
      <Badge size="xs" variant="outline" color="orange.9">
        Suspended
      </Badge>
    );
  if (status === 'pending_deletion')
    return (
      <Badge size="xs" variant="outline" color="red.9">
        Pending deletion
      </Badge>
    );
  return (
    <Badge size="xs" variant="outline" color="green.9">
      Active
    </Badge>
  );
}

function RoleBadges({ tenant, roleNames, byId }: { tenant: TenantListItem; roleNames: Map<string, string>; byId: Map<string, { name: string }> }) {
  const from = tenant.inheritedFrom === null ? undefined : byId.get(tenant.inheritedFrom);
  return (
    <>
      {tenant.roles.map((r) => (
        <Badge key={r} variant="light" size="sm" tt="none" maw="none">
          {roleNames.get(r) ?? r.replace(/_/g, ' ')}
        </Badge>
      ))}
      {tenant.inherited && (
        <Badge variant="outline" color="dark" size="sm" tt="none" maw="none">
          {from === undefined ? 'From above' : `From ${from.name}`}
        </Badge>
      )}
      {tenant.shadow && (
        <Badge variant="outline" color="grape.9" size="sm" tt="none">
          Operator access
        </Badge>
      )}
      {tenant.roles.length === 0 && !tenant.inherited && !tenant.shadow && <Text size="sm">None</Text>}
    </>
  );
}

type Where = 'child' | 'sibling';

/** A new tenant below the active one, or beside it under the same parent; the creator owns it. */
function CreateModal({
  activeId,
  activeName,
  parent,
  canChild,
  canSibling,
  labels,
  onClose,
  onCreated,
}: {
  activeId: string;
  activeName: string;
  parent: { id: string; name: string; isRoot: boolean } | undefined;
  canChild: boolean;
  canSibling: boolean;
  labels: PresetLabels;
  onClose: () => void;
  onCreated: (created: { id: string; name: string }, where: Where) => void;
}) {
  const queries = useQueryClient();
  const tenantWord = lower(labels.tenant);
  const [where, setWhere] = useState<Where>(canChild ? 'child' : 'sibling');
  const [name, setName] = useState('');
  const [slug, setSlug] = useState('');
  const [slugEdited, setSlugEdited] = useState(false);
  const [invalid, setInvalid] = useState<{ name?: string; slug?: string }>({});
  const parentId = where === 'child' ? activeId : (parent?.id ?? null);
  const create = useMutation({
    mutationFn: (body: { name: string; slug: string; parentId: string }) => unwrap(api.POST('/api/v1/tenants', { body })),
    onSuccess: async (created) => {
      await refreshAfterTreeChange(queries, activeId);
      onCreated(created, where);
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    const trimmed = name.trim();
    const problems = {
      ...(trimmed.length === 0 ? { name: 'Enter a name.' } : trimmed.length > 200 ? { name: 'A name is at most 200 characters.' } : {}),
      ...(slugProblem(slug) === undefined ? {} : { slug: slugProblem(slug) }),
    };
    setInvalid(problems);
    if (Object.keys(problems).length === 0 && parentId !== null) create.mutate({ name: trimmed, slug, parentId });
  };
  const problem = create.error instanceof ProblemError ? create.error.problem : undefined;
  const slugError = invalid.slug ?? fieldError(create.error, 'slug') ?? (problem?.code === 'slug_taken' ? (problem.detail ?? problem.title) : undefined);
  const nameError = invalid.name ?? fieldError(create.error, 'name');
  const parentWord = parent?.isRoot === true ? labels.enterprise : labels.tenant;
  return (
    <Modal closeButtonProps={{ 'aria-label': 'Close' }} opened onClose={onClose} title={`New ${tenantWord}`}>
      <form onSubmit={submit} noValidate>
        <Stack>
          {canChild && canSibling && parent !== undefined ? (
            <Radio.Group label="Where" value={where} onChange={(v) => setWhere(v === 'sibling' ? 'sibling' : 'child')}>
              <Stack gap="xs" mt={4}>
                <Radio value="child" label={`Below ${activeName}`} description={`${article(tenantWord).replace(/^a/, 'A')} inside this one`} />
                <Radio value="sibling" label={`Beside ${activeName}`} description={`Also in the ${lower(parentWord)} ${parent.name}`} />
              </Stack>
            </Radio.Group>
          ) : (
            <Text size="sm">{where === 'child' ? `It goes below ${activeName}.` : `It goes beside ${activeName}, in the ${lower(parentWord)} ${parent?.name ?? ''}.`}</Text>
          )}
          <TextInput
            label="Name"
            value={name}
            onChange={(e) => {
              const next = e.currentTarget.value;
              setName(next);
              if (!slugEdited) setSlug(slugify(next));
            }}
            error={nameError}
            autoComplete="off"
            data-autofocus
          />
          <TextInput
            label="Slug"
            description="Lowercase letters, digits and dashes, 2 to 63 characters; it cannot be changed later."
            value={slug}
            onChange={(e) => {
              setSlug(e.currentTarget.value);
              setSlugEdited(true);
            }}
            error={slugError}
            autoComplete="off"
            spellCheck={false}
          />
          {create.error !== null && slugError === undefined && nameError === undefined && <ErrorNotice error={create.error} title={`The ${tenantWord} was not created`} />}
          <Group justify="flex-end">
            <Button variant="default" onClick={onClose}>
              Cancel
            </Button>
            <Button type="submit" loading={create.isPending}>
              Create
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}

const ROOT = 'root';

/** Moves a tenant of the tree (and everything below it) under another parent; the API says why when it may not. */
function MoveModal({
  activeId,
  nodes,
  movable,
  destinations,
  names,
  mayDetach,
  labels,
  onClose,
  onMoved,
}: {
  activeId: string;
  nodes: TreeTenant[];
  movable: TreeTenant[];
  destinations: string[];
  names: Map<string, { name: string; slug: string }>;
  mayDetach: boolean;
  labels: PresetLabels;
  onClose: () => void;
  onMoved: (what: string, where: string) => void;
}) {
  const queries = useQueryClient();
  const tenantWord = lower(labels.tenant);
  const [nodeId, setNodeId] = useState<string | null>(movable.find((n) => n.depth > 0)?.id ?? movable[0]?.id ?? null);
  const [target, setTarget] = useState<string | null>(null);
  const [invalid, setInvalid] = useState<{ node?: string; target?: string }>({});
  const node = nodes.find((n) => n.id === nodeId);
  const label = (id: string) => {
    const t = names.get(id);
    return t === undefined ? id : `${t.name} (${t.slug})`;
  };
  const options = (node === undefined ? [] : placesFor(node, nodes, destinations, mayDetach)).map((id) =>
    id === null ? { value: ROOT, label: `Nowhere: make it a top-level ${tenantWord}` } : { value: id, label: label(id) },
  );
  const move = useMutation({
    mutationFn: (body: { id: string; parentId: string | null }) =>
      unwrap(api.PATCH('/api/v1/tenants/{tenantId}', { params: { path: { tenantId: body.id } }, body: { parentId: body.parentId } })),
    onSuccess: async (_moved, body) => {
      await refreshAfterTreeChange(queries, activeId);
      onMoved(node?.name ?? body.id, body.parentId === null ? `at the top, with no ${tenantWord} above it` : `under ${names.get(body.parentId)?.name ?? body.parentId}`);
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    const problems = {
      ...(node === undefined ? { node: `Choose the ${tenantWord} to move.` } : {}),
      ...(target === null || !options.some((o) => o.value === target) ? { target: 'Choose where it goes.' } : {}),
    };
    setInvalid(problems);
    if (Object.keys(problems).length === 0 && node !== undefined && target !== null) move.mutate({ id: node.id, parentId: target === ROOT ? null : target });
  };
  const refusal = move.error instanceof ProblemError ? move.error.problem : undefined;
  const now = node?.parentId === null || node === undefined ? undefined : names.get(node.parentId);
  return (
    <Modal closeButtonProps={{ 'aria-label': 'Close' }} opened onClose={onClose} title={`Move ${article(tenantWord)}`}>
      <form onSubmit={submit} noValidate>
        <Stack>
          <Text size="sm">
            Everything below it moves with it. Taking {article(tenantWord)} from its parent needs owner-level authority over it from above: a role held in {article(tenantWord)}{' '}
            higher up.
          </Text>
          <Select
            label={`${labels.tenant} to move`}
            description={node === undefined ? undefined : node.parentId === null ? `Now at the top` : `Now in ${now?.name ?? `${article(tenantWord)} you cannot see`}`}
            data={movable.map((n) => ({ value: n.id, label: `${n.name} (${n.slug})` }))}
            value={nodeId}
            onChange={(v) => {
              setNodeId(v);
              setTarget(null);
              move.reset();
            }}
            error={invalid.node}
            allowDeselect={false}
            searchable
            data-autofocus
          />
          <Select
            label="New parent"
            placeholder={options.length === 0 ? `Nowhere you may create ${article(tenantWord)}` : 'Choose where it goes'}
            data={options}
            value={target}
            onChange={(v) => {
              setTarget(v);
              move.reset();
            }}
            error={invalid.target}
            disabled={options.length === 0}
            searchable
          />
          {move.error !== null && (
            <Alert color="red" title={`${node?.name ?? `The ${tenantWord}`} was not moved`} role="alert">
              {explainProblem(move.error)}
              {refusal?.status === 403 && refusal.permission === 'tenant.delete' && (
                <Text size="sm" mt="xs">
                  Ask an owner of {article(tenantWord)} above {node?.name ?? 'it'} to move it.
                </Text>
              )}
            </Alert>
          )}
          <Group justify="flex-end">
            <Button variant="default" onClick={onClose}>
              Cancel
            </Button>
            <Button type="submit" loading={move.isPending} disabled={options.length === 0}>
              Move
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}
