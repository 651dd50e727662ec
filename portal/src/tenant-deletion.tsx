import { Alert, Anchor, Button, Card, Checkbox, Code, Group, List, Modal, Stack, Table, Text, TextInput } from '@mantine/core';
import { useMutation } from '@tanstack/react-query';
import { type FormEvent, useState } from 'react';
import { Link } from 'react-router';
import { PortalPaths } from '../../src/platform/links';
import { api, unwrap } from './api/client';
import type { paths } from './api/schema';
import { ErrorNotice } from './components';
import { usePortalInfo } from './session';

/**
 * Deleting a tenant, from Admin → Tenants or from its Settings: typing the slug, then the report of what happened
 * (held for approval, pending deletion until a date, or the rows wiped per table).
 */

type DeleteResult = paths['/api/v1/tenants/{tenantId}']['delete']['responses'][200]['content']['application/json'];
type HeldForApproval = paths['/api/v1/tenants/{tenantId}']['delete']['responses'][202]['content']['application/json'];

/** What the dialog needs to know of the tenant; `below`: how many tenants under it go with it. */
export interface DeletableTenant {
  id: string;
  name: string;
  slug: string;
  below?: number;
}

export const WHEN = new Intl.DateTimeFormat('en-GB', { dateStyle: 'medium', timeStyle: 'short' });

export function DeleteTenantModal({ tenant, onClose, onDeleted }: { tenant: DeletableTenant; onClose: () => void; onDeleted: () => Promise<unknown> }) {
  const [typed, setTyped] = useState('');
  const [withBelow, setWithBelow] = useState(false);
  const graceDays = usePortalInfo().data?.deletionGraceDays ?? 0;
  const below = tenant.below ?? 0;
  const remove = useMutation({
    mutationFn: () =>
      unwrap<DeleteResult | HeldForApproval>(
        api.DELETE('/api/v1/tenants/{tenantId}', {
          params: { path: { tenantId: tenant.id } },
          body: { confirm: typed.trim(), ...(withBelow ? { includeDescendants: true } : {}) },
        }),
      ),
    onSuccess: () => onDeleted(),
  });
  const matches = typed.trim() === tenant.slug;
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (matches) remove.mutate();
  };
  return (
    <Modal opened onClose={onClose} closeButtonProps={{ 'aria-label': 'Close' }} title={remove.isSuccess ? `${tenant.name}: deletion report` : `Delete ${tenant.name}?`} size="lg">
      {remove.isSuccess ? (
        <Stack>
          <DeletionReport result={remove.data} />
          <Group justify="flex-end">
            <Button onClick={onClose} data-autofocus>
              Close
            </Button>
          </Group>
        </Stack>
      ) : (
        <form onSubmit={submit} noValidate>
          <Stack>
            {graceDays > 0 ? (
              <Alert color="orange" title={`Restorable for ${graceDays} days`} role="note">
                The tenant closes at once: nobody can enter it and its API keys stop. It can be restored until it is purged {graceDays} days from now; then every row scoped to it
                is destroyed, people who belonged only to it are deleted, and others are re-pointed to another of their tenants.
              </Alert>
            ) : (
              <Alert color="red" title="This cannot be undone" role="note">
                Every row scoped to this tenant is permanently destroyed. People who belonged only to it are deleted; others have it removed and, where it was their default, are
                re-pointed to another of their tenants.
              </Alert>
            )}
            {below > 0 && (
              <Checkbox
                label={`Also delete the ${below} ${below === 1 ? 'tenant' : 'tenants'} below it`}
                description="Without this, a tenant with tenants below it is not deleted."
                checked={withBelow}
                onChange={(e) => setWithBelow(e.currentTarget.checked)}
              />
            )}
            <TextInput
              label={`Type the slug, ${tenant.slug}, to confirm`}
              value={typed}
              onChange={(e) => setTyped(e.currentTarget.value)}
              autoComplete="off"
              data-autofocus
              error={typed !== '' && !matches ? 'That is not the slug.' : undefined}
            />
            {remove.error !== null && <ErrorNotice error={remove.error} title="The tenant was not deleted" />}
            <Group justify="flex-end">
              <Button variant="default" onClick={onClose}>
                Cancel
              </Button>
              <Button type="submit" color="red.9" disabled={!matches} loading={remove.isPending}>
                Delete tenant
              </Button>
            </Group>
          </Stack>
        </form>
      )}
    </Modal>
  );
}

export function DeletionReport({ result }: { result: DeleteResult | HeldForApproval }) {
  if ('approvalRequest' in result)
    return (
      <Alert color="blue" title="Held for approval" role="status">
        Nothing is deleted until a decider approves request <Code>{result.approvalRequest.id}</Code> (until {WHEN.format(new Date(result.approvalRequest.expiresAt))}). Follow it in{' '}
        <Anchor underline="always" component={Link} to={PortalPaths.approvals}>
          Approvals
        </Anchor>
        .
      </Alert>
    );
  if (result.status === 'pending_deletion')
    return (
      <Alert color="orange" title="Pending deletion" role="status">
        {result.tenants.length === 1 ? 'The tenant is' : `${result.tenants.length} tenants are`} pending deletion and will be purged after{' '}
        {result.purgeAfter === undefined ? 'the grace period' : WHEN.format(new Date(result.purgeAfter))}. Until then it can be restored; nothing has been wiped yet.
      </Alert>
    );
  return (
    <Stack gap="sm" role="status">
      <Text fw={700}>Deleted. Here is what was removed:</Text>
      {(result.purged ?? []).map((p) => {
        const tables = Object.entries(p.removed).filter(([, n]) => n > 0);
        const total = tables.reduce((sum, [, n]) => sum + n, 0);
        return (
          <Card withBorder key={p.tenantId}>
            <List size="sm" mb="xs">
              <List.Item>
                {total} row{total === 1 ? '' : 's'} wiped
              </List.Item>
              <List.Item>
                {p.usersRepointed} {p.usersRepointed === 1 ? 'person' : 'people'} re-pointed to another tenant
              </List.Item>
              <List.Item>
                {p.usersDeleted} {p.usersDeleted === 1 ? 'person' : 'people'} deleted (they belonged to nothing else)
              </List.Item>
            </List>
            {tables.length > 0 && (
              <Table withTableBorder verticalSpacing={4} aria-label="Rows wiped per table">
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th>Table</Table.Th>
                    <Table.Th ta="right">Rows wiped</Table.Th>
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {tables.map(([table, n]) => (
                    <Table.Tr key={table}>
                      <Table.Td>
                        <Code>{table}</Code>
                      </Table.Td>
                      <Table.Td ta="right">{n}</Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            )}
          </Card>
        );
      })}
    </Stack>
  );
}
