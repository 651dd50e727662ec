import { Alert, Anchor, Box, Button, Center, Group, Loader, Modal, Paper, Stack, Text, Title } from '@mantine/core';
import type { UseMutationResult } from '@tanstack/react-query';
import type { ReactNode } from 'react';
import { explainProblem, ProblemError } from './api/client';

/** A failed request in words from its problem document. */
export function ErrorNotice({ error, title }: { error: unknown; title?: string }) {
  return (
    <Alert color="red" title={title ?? (error instanceof ProblemError && error.problem.code === 'not_an_operator' ? 'Operators only' : 'That did not work')} role="alert">
      {explainProblem(error)}
    </Alert>
  );
}

/**
 * A question before an action that is not taken back: Cancel has the focus, the red button runs `action`, and a
 * refusal is shown in the dialog under `failed`. What happens on success is the action's own `onSuccess`.
 */
export function ConfirmModal({
  title,
  children,
  confirm,
  failed,
  action,
  onClose,
}: {
  title: string;
  children: ReactNode;
  confirm: string;
  failed: string;
  action: UseMutationResult<unknown, Error, void>;
  onClose: () => void;
}) {
  return (
    <Modal closeButtonProps={{ 'aria-label': 'Close' }} opened onClose={onClose} title={title}>
      <Stack>
        <Text size="sm">{children}</Text>
        {action.isError && <ErrorNotice error={action.error} title={failed} />}
        <Group justify="flex-end">
          <Button variant="default" onClick={onClose} data-autofocus>
            Cancel
          </Button>
          <Button color="red.9" onClick={() => action.mutate()} loading={action.isPending}>
            {confirm}
          </Button>
        </Group>
      </Stack>
    </Modal>
  );
}

/** A page's title over its loader, or over the error, while the query the page shows has not succeeded. */
export function PageWaiting({ title, query, label }: { title: ReactNode; query: { isError: boolean; error: unknown }; label: string }) {
  return (
    <Stack>
      {title}
      {query.isError ? <ErrorNotice error={query.error} /> : <Loader aria-label={label} />}
    </Stack>
  );
}

/** The API's `detail` for one field of a 4xx, to show next to that field. */
export function fieldError(error: unknown, field: string): string | undefined {
  if (!(error instanceof ProblemError)) return undefined;
  const hit = error.problem.errors?.find((e) => e.path === `/${field}`);
  if (hit !== undefined) return hit.message;
  const code = error.problem.code;
  if (field === 'email' && (code === 'invalid_email' || code === 'email_taken')) return error.problem.detail ?? error.problem.title;
  if (field === 'password' && code === 'weak_password') return error.problem.detail ?? error.problem.title;
  return undefined;
}

/** The frame of the pages people meet before signing in. */
export function AuthCard({ title, children, footer }: { title: string; children: ReactNode; footer?: ReactNode }) {
  return (
    <Center mih="100vh" p="md" bg="gray.0">
      <Box w="100%" maw={420}>
        <Text fw={700} c="indigo.7" ta="center" mb="sm">
          Tenantry
        </Text>
        <Paper withBorder shadow="sm" p="xl" radius="md">
          <Stack gap="md">
            <Title order={1} size="h3">
              {title}
            </Title>
            {children}
          </Stack>
        </Paper>
        {footer && (
          <Text ta="center" size="sm" mt="md">
            {footer}
          </Text>
        )}
      </Box>
    </Center>
  );
}

export function RouterAnchor({ to, children }: { to: string; children: ReactNode }) {
  return (
    <Anchor href={to} size="sm">
      {children}
    </Anchor>
  );
}
