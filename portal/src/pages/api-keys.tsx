import { Alert, Badge, Button, Checkbox, Code, CopyButton, Group, Loader, Modal, Stack, Table, Text, TextInput, Title, VisuallyHidden } from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useState } from 'react';
import { api, unwrap } from '../api/client';
import type { paths } from '../api/schema';
import { ConfirmModal, ErrorNotice, fieldError } from '../components';
import { PermissionPicker, when } from '../permission-picker';
import { type Me, useMe } from '../session';

type ApiKey = paths['/api/v1/tenants/{tenantId}/api-keys']['get']['responses'][200]['content']['application/json']['apiKeys'][number];

/** The active tenant's API keys: list, create (the secret shown once), revoke. Needs `api_keys.manage`. */
export function ApiKeysPage() {
  const me = useMe().data as Me;
  const tenantId = me.activeTenantId ?? '';
  const keys = useQuery({
    queryKey: ['api-keys', tenantId],
    queryFn: async () => (await unwrap(api.GET('/api/v1/tenants/{tenantId}/api-keys', { params: { path: { tenantId } } }))).apiKeys,
  });
  const [creating, setCreating] = useState(false);
  const [secret, setSecret] = useState<{ name: string; secret: string } | null>(null);
  const [revoking, setRevoking] = useState<ApiKey | null>(null);

  return (
    <Stack>
      <Group justify="space-between" align="flex-start">
        <div>
          <Title order={2}>API keys</Title>
          <Text size="sm" c="dimmed">
            Keys let programs act in this tenant with the permissions you give them, never more than your own.
          </Text>
        </div>
        <Button onClick={() => setCreating(true)}>Create API key</Button>
      </Group>
      {keys.isPending && <Loader aria-label="Loading API keys" />}
      {keys.isError && <ErrorNotice error={keys.error} title="The API keys could not be loaded" />}
      {keys.data?.length === 0 && (
        <Alert color="gray" title="No API keys yet">
          Create one to let a program call the API on this tenant&apos;s behalf.
        </Alert>
      )}
      {keys.data !== undefined && keys.data.length > 0 && <KeyTable keys={keys.data} onRevoke={setRevoking} />}
      {creating && (
        <CreateKeyModal
          tenantId={tenantId}
          onClose={() => setCreating(false)}
          onCreated={(created) => {
            setCreating(false);
            setSecret(created);
          }}
        />
      )}
      <SecretModal shown={secret} onClose={() => setSecret(null)} />
      {revoking !== null && <RevokeModal tenantId={tenantId} apiKey={revoking} onClose={() => setRevoking(null)} />}
    </Stack>
  );
}

function KeyTable({ keys, onRevoke }: { keys: ApiKey[]; onRevoke: (key: ApiKey) => void }) {
  return (
    <Table.ScrollContainer minWidth={820}>
      <Table verticalSpacing="sm" striped>
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Name</Table.Th>
            <Table.Th>Permissions</Table.Th>
            <Table.Th>Created</Table.Th>
            <Table.Th>Expires</Table.Th>
            <Table.Th>Last used</Table.Th>
            <Table.Th>Status</Table.Th>
            <Table.Th>
              <VisuallyHidden>Actions</VisuallyHidden>
            </Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {keys.map((k) => (
            <Table.Tr key={k.id}>
              <Table.Td>
                <Text fw={600} size="sm">
                  {k.name}
                </Text>
                <Text size="xs" c="dimmed">
                  <code>{k.id}</code>
                </Text>
              </Table.Td>
              <Table.Td>
                <Group gap={4}>
                  {k.permissions.map((p) => (
                    <Badge key={p} variant="outline" color="dark" tt="none" size="sm">
                      {p}
                    </Badge>
                  ))}
                </Group>
              </Table.Td>
              <Table.Td>
                <Text size="sm">{when(k.createdAt, '—')}</Text>
              </Table.Td>
              <Table.Td>
                <Text size="sm">{when(k.expiresAt, 'Never')}</Text>
              </Table.Td>
              <Table.Td>
                <Text size="sm">{when(k.lastUsedAt, 'Not yet')}</Text>
              </Table.Td>
              <Table.Td>
                {k.status === 'active' && (
                  <Badge variant="outline" color="green.9">
                    Active
                  </Badge>
                )}
                {k.status === 'expired' && (
                  <Badge variant="outline" color="dark">
                    Expired
                  </Badge>
                )}
                {k.status === 'revoked' && (
                  <>
                    <Badge variant="outline" color="red.9">
                      Revoked
                    </Badge>
                    <Text size="xs" c="dimmed">
                      {when(k.revokedAt, '')}
                    </Text>
                  </>
                )}
              </Table.Td>
              <Table.Td>
                {k.status !== 'revoked' && (
                  <Button size="xs" variant="outline" color="red.9" onClick={() => onRevoke(k)} aria-label={`Revoke ${k.name}`}>
                    Revoke
                  </Button>
                )}
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Table.ScrollContainer>
  );
}

function CreateKeyModal({ tenantId, onClose, onCreated }: { tenantId: string; onClose: () => void; onCreated: (created: { name: string; secret: string }) => void }) {
  const queries = useQueryClient();
  const [name, setName] = useState('');
  const [all, setAll] = useState(false);
  const [permissions, setPermissions] = useState<string[]>([]);
  const [expires, setExpires] = useState('');
  const [localError, setLocalError] = useState<string | null>(null);
  const create = useMutation({
    mutationFn: () =>
      unwrap(
        api.POST('/api/v1/tenants/{tenantId}/api-keys', {
          params: { path: { tenantId } },
          body: { name: name.trim(), permissions: all ? ['*'] : permissions, expiresAt: expires === '' ? null : new Date(`${expires}T23:59:59`).toISOString() },
        }),
      ),
    onSuccess: async (created) => {
      await queries.invalidateQueries({ queryKey: ['api-keys', tenantId] });
      onCreated({ name: created.name, secret: created.secret });
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (!all && permissions.length === 0) {
      setLocalError('Choose at least one permission, or all the permissions you hold.');
      return;
    }
    setLocalError(null);
    create.mutate();
  };
  const today = new Date().toISOString().slice(0, 10);
  return (
    <Modal closeButtonProps={{ 'aria-label': 'Close' }} opened onClose={onClose} title="Create an API key" size="lg">
      <form onSubmit={submit}>
        <Stack>
          <TextInput
            label="Name"
            description="What uses this key, so you recognise it later"
            required
            value={name}
            onChange={(e) => setName(e.currentTarget.value)}
            error={fieldError(create.error, 'name')}
            data-autofocus
          />
          <Checkbox
            label="All the permissions I hold"
            description="The key gets every permission you hold here now, listed in the key"
            checked={all}
            onChange={(e) => setAll(e.currentTarget.checked)}
          />
          <PermissionPicker tenantId={tenantId} label="Permissions" value={all ? [] : permissions} onChange={setPermissions} disabled={all} />
          <TextInput
            type="date"
            label="Expires on"
            description="Optional: leave empty for a key that does not expire"
            min={today}
            value={expires}
            onChange={(e) => setExpires(e.currentTarget.value)}
          />
          {localError !== null && (
            <Alert color="red" role="alert">
              {localError}
            </Alert>
          )}
          {create.isError && fieldError(create.error, 'name') === undefined && <ErrorNotice error={create.error} title="The key was not created" />}
          <Group justify="flex-end">
            <Button variant="default" onClick={onClose}>
              Cancel
            </Button>
            <Button type="submit" loading={create.isPending}>
              Create key
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}

/** The secret, once: when this closes it is gone from the page (and the API never shows it again). */
function SecretModal({ shown, onClose }: { shown: { name: string; secret: string } | null; onClose: () => void }) {
  return (
    <Modal closeButtonProps={{ 'aria-label': 'Close' }} opened={shown !== null} onClose={onClose} title="Your new API key" size="lg" closeOnClickOutside={false}>
      {shown !== null && (
        <Stack>
          <Alert color="yellow" title="Copy it now: you will not see it again" role="alert">
            This is the only time the secret of “{shown.name}” is shown. Store it somewhere safe; if it is lost, revoke the key and create another.
          </Alert>
          <Code block aria-label="API key secret" data-testid="api-key-secret" style={{ wordBreak: 'break-all', whiteSpace: 'pre-wrap' }}>
            {shown.secret}
          </Code>
          <Group justify="space-between">
            <CopyButton value={shown.secret}>
              {({ copied, copy }) => (
                <Button variant={copied ? 'filled' : 'light'} color={copied ? 'green.9' : undefined} onClick={copy}>
                  {copied ? 'Copied' : 'Copy secret'}
                </Button>
              )}
            </CopyButton>
            <Button onClick={onClose}>I have stored it</Button>
          </Group>
        </Stack>
      )}
    </Modal>
  );
}

function RevokeModal({ tenantId, apiKey, onClose }: { tenantId: string; apiKey: ApiKey; onClose: () => void }) {
  const queries = useQueryClient();
  const revoke = useMutation({
    mutationFn: () => unwrap(api.DELETE('/api/v1/tenants/{tenantId}/api-keys/{keyId}', { params: { path: { tenantId, keyId: apiKey.id } } })),
    onSuccess: async () => {
      await queries.invalidateQueries({ queryKey: ['api-keys', tenantId] });
      onClose();
    },
  });
  return (
    <ConfirmModal title={`Revoke “${apiKey.name}”?`} confirm="Revoke key" failed="The key was not revoked" action={revoke} onClose={onClose}>
      It and every token made from it stop working at once. This cannot be undone.
    </ConfirmModal>
  );
}
