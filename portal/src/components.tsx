import { Alert, Anchor, Box, Center, Paper, Stack, Text, Title } from '@mantine/core';
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
