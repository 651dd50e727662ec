import { Alert, Badge, Button, Group, Input, Loader, Modal, SegmentedControl, Stack, Table, Text, Textarea, TextInput, Title, VisuallyHidden } from '@mantine/core';
import { useMutation, useQueries, useQuery, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useId, useState } from 'react';
import { api, unwrap } from '../api/client';
import type { paths } from '../api/schema';
import { ConfirmModal, ErrorNotice, fieldError } from '../components';
import { PermissionPicker } from '../permission-picker';
import { type Me, useAllowed, useMe, usePortalInfo } from '../session';

type Role = paths['/api/v1/tenants/{tenantId}/roles']['get']['responses'][200]['content']['application/json']['roles'][number];
type Scope = Role['scope'];

const SCOPES: Array<{ value: Scope; label: string }> = [
  { value: 'tenant', label: 'Here only' },
  { value: 'tenant_and_descendants', label: 'Here and below' },
];

/** The roles usable in the active tenant: built-in, custom, inherited; custom ones defined here are editable with `roles.manage`. */
export function RolesPage() {
  const me = useMe().data as Me;
  const tenantWord = (usePortalInfo().data?.labels.tenant ?? 'tenant').toLowerCase();
  const tenantId = me.activeTenantId ?? '';
  const roles = useQuery({
    queryKey: ['roles', tenantId],
    queryFn: async () => (await unwrap(api.GET('/api/v1/tenants/{tenantId}/roles', { params: { path: { tenantId } } }))).roles,
  });
  const canManage = useAllowed(tenantId, ['roles.manage']).data?.has('roles.manage') === true;
  const [editing, setEditing] = useState<Role | 'new' | null>(null);
  const [deleting, setDeleting] = useState<Role | null>(null);
  const [held, setHeld] = useState<string | null>(null);
  const names = useTenantNames(me, roles.data ?? []);

  return (
    <Stack>
      <Group justify="space-between" align="flex-start">
        <div>
          <Title order={2}>Roles</Title>
          <Text size="sm" c="dimmed">
            The roles members can hold in this {tenantWord}. Assign them on the Members page.
          </Text>
        </div>
        {canManage && <Button onClick={() => setEditing('new')}>New role</Button>}
      </Group>
      {held !== null && (
        <Alert color="blue" title="Held for approval" role="status" withCloseButton closeButtonLabel="Dismiss" onClose={() => setHeld(null)}>
          {held}
        </Alert>
      )}
      {roles.isPending && <Loader aria-label="Loading roles" />}
      {roles.isError && <ErrorNotice error={roles.error} title="The roles could not be loaded" />}
      {roles.data?.length === 0 && (
        <Alert color="gray" title="No roles">
          This preset defines no roles.
        </Alert>
      )}
      {roles.data !== undefined && roles.data.length > 0 && (
        <Table verticalSpacing="sm" striped>
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Role</Table.Th>
              <Table.Th visibleFrom="sm">Kind</Table.Th>
              <Table.Th visibleFrom="sm">Applies</Table.Th>
              <Table.Th visibleFrom="sm">Permissions</Table.Th>
              <Table.Th>
                <VisuallyHidden>Actions</VisuallyHidden>
              </Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {roles.data.map((r) => {
              const inherited = !r.builtIn && r.definedIn !== tenantId;
              const editable = canManage && !r.builtIn && !inherited;
              const applies = r.scope === 'tenant' ? `This ${tenantWord} only` : `This ${tenantWord} and those below`;
              const kind = r.builtIn ? (
                <Badge variant="light">Built-in{r.isOwnerRole ? ' · owner' : ''}</Badge>
              ) : inherited ? (
                <Badge variant="outline" color="dark" tt="none">
                  Inherited from {names.get(r.definedIn ?? '') ?? r.definedIn}
                </Badge>
              ) : (
                <Badge variant="outline" color="teal.9">
                  Custom
                </Badge>
              );
              return (
                <Table.Tr key={r.key}>
                  <Table.Td>
                    <Text fw={600} size="sm">
                      {r.name}
                    </Text>
                    <Text size="xs" c="dimmed">
                      <code>{r.key}</code>
                      {r.description ? ` · ${r.description}` : ''}
                    </Text>
                    {/* On a phone the other columns fold in under the name. */}
                    <Stack hiddenFrom="sm" gap={4} mt={6} align="flex-start">
                      {kind}
                      <Text size="xs">
                        {applies} · {r.permissions.includes('*') ? 'all permissions' : `${r.permissions.length} permission${r.permissions.length === 1 ? '' : 's'}`}
                      </Text>
                    </Stack>
                  </Table.Td>
                  <Table.Td visibleFrom="sm">{kind}</Table.Td>
                  <Table.Td visibleFrom="sm">
                    <Text size="sm">{applies}</Text>
                  </Table.Td>
                  <Table.Td visibleFrom="sm">
                    <Text size="sm" title={r.permissions.join(', ')}>
                      {r.permissions.includes('*') ? 'All' : `${r.permissions.length}`}
                    </Text>
                    <Text size="xs" c="dimmed" lineClamp={2}>
                      {r.permissions.join(', ')}
                    </Text>
                  </Table.Td>
                  <Table.Td>
                    {editable && (
                      <Group gap="xs" wrap="nowrap">
                        <Button size="xs" variant="default" onClick={() => setEditing(r)} aria-label={`Edit ${r.name}`}>
                          Edit
                        </Button>
                        <Button size="xs" variant="outline" color="red.9" onClick={() => setDeleting(r)} aria-label={`Delete ${r.name}`}>
                          Delete
                        </Button>
                      </Group>
                    )}
                  </Table.Td>
                </Table.Tr>
              );
            })}
          </Table.Tbody>
        </Table>
      )}
      {editing !== null && (
        <RoleEditor
          tenantId={tenantId}
          role={editing === 'new' ? null : editing}
          tenantWord={tenantWord}
          onClose={() => setEditing(null)}
          onHeld={(message) => {
            setEditing(null);
            setHeld(message);
          }}
        />
      )}
      {deleting !== null && <DeleteRoleModal tenantId={tenantId} role={deleting} onClose={() => setDeleting(null)} />}
    </Stack>
  );
}

/** Names for the tenants inherited roles come from: the ones the person belongs to, else looked up (id if hidden). */
function useTenantNames(me: Me, roles: Role[]): Map<string, string> {
  const ids = [...new Set(roles.flatMap((r) => (r.definedIn === null || r.definedIn === me.activeTenantId ? [] : [r.definedIn])))];
  const unknown = ids.filter((id) => me.authorization[id] === undefined);
  const looked = useQueries({
    queries: unknown.map((id) => ({
      queryKey: ['tenant', id],
      queryFn: () => unwrap(api.GET('/api/v1/tenants/{tenantId}', { params: { path: { tenantId: id } } })),
      retry: false,
    })),
  });
  const names = new Map<string, string>();
  for (const id of ids) {
    const known = me.authorization[id]?.name;
    if (known !== undefined) names.set(id, known);
  }
  looked.forEach((q, i) => {
    const id = unknown[i];
    if (q.data !== undefined && id !== undefined) names.set(id, q.data.name);
  });
  return names;
}

function RoleEditor({
  tenantId,
  role,
  tenantWord,
  onClose,
  onHeld,
}: {
  tenantId: string;
  role: Role | null;
  tenantWord: string;
  onClose: () => void;
  onHeld: (message: string) => void;
}) {
  const queries = useQueryClient();
  const [key, setKey] = useState(role?.key ?? '');
  const [name, setName] = useState(role?.name ?? '');
  const [description, setDescription] = useState(role?.description ?? '');
  const [scope, setScope] = useState<Scope>(role?.scope ?? 'tenant');
  const [permissions, setPermissions] = useState<string[]>(role?.permissions ?? []);
  const scopeLabel = useId();
  const save = useMutation({
    mutationFn: async () => {
      if (role === null) {
        await unwrap(
          api.POST('/api/v1/tenants/{tenantId}/roles', {
            params: { path: { tenantId } },
            body: { key, name: name.trim(), scope, permissions, ...(description.trim() === '' ? {} : { description: description.trim() }) },
          }),
        );
        return 'saved' as const;
      }
      const result = await unwrap(
        api.PATCH('/api/v1/tenants/{tenantId}/roles/{roleKey}', {
          params: { path: { tenantId, roleKey: role.key } },
          body: { name: name.trim(), scope, permissions, description: description.trim() === '' ? null : description.trim() },
        }),
      );
      return 'approvalRequest' in result ? ('held' as const) : ('saved' as const);
    },
    onSuccess: async (outcome) => {
      await queries.invalidateQueries({ queryKey: ['roles', tenantId] });
      if (outcome === 'held')
        onHeld(
          `The change to “${name.trim()}” takes members.manage away from people holding it, so it waits for someone who may approve it (see Approvals). Nothing has changed yet.`,
        );
      else onClose();
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    save.mutate();
  };
  const generic = save.isError && fieldError(save.error, 'key') === undefined && fieldError(save.error, 'name') === undefined;
  return (
    <Modal closeButtonProps={{ 'aria-label': 'Close' }} opened onClose={onClose} title={role === null ? 'New custom role' : `Edit “${role.name}”`} size="lg">
      <form onSubmit={submit}>
        <Stack>
          <TextInput
            label="Key"
            description="Lowercase letters, digits and underscores; it cannot change later"
            required
            disabled={role !== null}
            value={key}
            onChange={(e) => setKey(e.currentTarget.value)}
            pattern="[a-z][a-z0-9_]{0,62}"
            error={fieldError(save.error, 'key')}
            data-autofocus={role === null ? true : undefined}
          />
          <TextInput
            label="Name"
            required
            value={name}
            onChange={(e) => setName(e.currentTarget.value)}
            error={fieldError(save.error, 'name')}
            data-autofocus={role === null ? undefined : true}
          />
          <Textarea label="Description" description="Optional" autosize minRows={2} maxLength={500} value={description} onChange={(e) => setDescription(e.currentTarget.value)} />
          <Input.Wrapper label="Applies" labelElement="div" labelProps={{ id: scopeLabel }} description={`Where a member holding this role has its permissions`}>
            <SegmentedControl
              aria-labelledby={scopeLabel}
              mt={4}
              data={SCOPES.map((s) => ({ value: s.value, label: s.label }))}
              value={scope}
              onChange={(v) => setScope(v as Scope)}
              fullWidth
            />
          </Input.Wrapper>
          <Text size="xs" c="dimmed" mt={-8}>
            {scope === 'tenant' ? `Only in this ${tenantWord}.` : `In this ${tenantWord} and every one below it.`}
          </Text>
          <PermissionPicker tenantId={tenantId} label="Permissions" value={permissions} onChange={setPermissions} />
          {generic && <ErrorNotice error={save.error} title="The role was not saved" />}
          <Group justify="flex-end">
            <Button variant="default" onClick={onClose}>
              Cancel
            </Button>
            <Button type="submit" loading={save.isPending}>
              {role === null ? 'Create role' : 'Save role'}
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}

function DeleteRoleModal({ tenantId, role, onClose }: { tenantId: string; role: Role; onClose: () => void }) {
  const queries = useQueryClient();
  const remove = useMutation({
    mutationFn: () => unwrap(api.DELETE('/api/v1/tenants/{tenantId}/roles/{roleKey}', { params: { path: { tenantId, roleKey: role.key } } })),
    onSuccess: async () => {
      await queries.invalidateQueries({ queryKey: ['roles', tenantId] });
      onClose();
    },
  });
  return (
    <ConfirmModal title={`Delete “${role.name}”?`} confirm="Delete role" failed="The role was not deleted" action={remove} onClose={onClose}>
      The role disappears from this tenant and those below. It cannot be deleted while anyone holds it.
    </ConfirmModal>
  );
}
