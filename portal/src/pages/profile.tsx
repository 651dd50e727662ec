import { Alert, Badge, Button, Card, Group, Stack, Text, TextInput, Title } from '@mantine/core';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useState } from 'react';
import { api, unwrap } from '../api/client';
import type { paths } from '../api/schema';
import { ErrorNotice, fieldError } from '../components';
import { DataEditor } from '../data-editor';
import { type Me, useMe } from '../session';

type MeUpdate = NonNullable<paths['/api/v1/auth/me']['patch']['requestBody']>['content']['application/json'];

/** The signed-in person: their name, email and its verification, their `data` object, and a way to a new password. */
export function ProfilePage() {
  const me = useMe().data as Me;
  return (
    <Stack>
      <div>
        <Title order={2}>Your profile</Title>
        <Text size="sm" c="dimmed">
          One account for every tenant you belong to. Member since {new Date(me.user.createdAt).toLocaleDateString()}.
        </Text>
      </div>
      <AccountCard me={me} />
      <DataCard me={me} />
      <PasswordCard email={me.user.email} />
    </Stack>
  );
}

/** PATCH /auth/me, then the cached person is the answer. */
function useUpdateMe() {
  const queries = useQueryClient();
  return useMutation({
    mutationFn: (body: MeUpdate) => unwrap(api.PATCH('/api/v1/auth/me', { body })),
    onSuccess: () => queries.invalidateQueries({ queryKey: ['me'] }),
  });
}

function AccountCard({ me }: { me: Me }) {
  const [name, setName] = useState(me.user.name ?? '');
  const update = useUpdateMe();
  const resend = useMutation({ mutationFn: () => unwrap(api.POST('/api/v1/auth/verify-email/resend', { body: {} })) });
  const tooLong = name.length > 200 ? 'At most 200 characters' : undefined;
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (tooLong === undefined) update.mutate({ name: name.trim() === '' ? null : name.trim() });
  };
  return (
    <Card withBorder component="form" onSubmit={submit} aria-labelledby="profile-account">
      <Title order={3} size="h5" id="profile-account" mb="sm">
        Account
      </Title>
      <Stack gap="sm" maw={520}>
        <TextInput
          label="Name"
          description="Shown to the people in your tenants"
          value={name}
          onChange={(e) => setName(e.currentTarget.value)}
          error={tooLong ?? fieldError(update.error, 'name')}
          autoComplete="name"
        />
        {update.isError && fieldError(update.error, 'name') === undefined && <ErrorNotice error={update.error} title="Your name was not saved" />}
        <Group>
          <Button type="submit" loading={update.isPending} disabled={name === (me.user.name ?? '')}>
            Save name
          </Button>
          {update.isSuccess && (
            <Text size="sm" role="status">
              Saved.
            </Text>
          )}
        </Group>
        <div>
          <Text size="sm" fw={700} component="h4">
            Email
          </Text>
          <Group gap="xs">
            <Text size="sm">{me.user.email}</Text>
            {me.user.emailVerified ? (
              <Badge variant="outline" color="green.9" size="sm">
                Verified
              </Badge>
            ) : (
              <Badge variant="outline" color="red.9" size="sm">
                Not verified
              </Badge>
            )}
          </Group>
        </div>
        {!me.user.emailVerified && (
          <Group gap="xs">
            <Button variant="default" size="xs" onClick={() => resend.mutate()} loading={resend.isPending} disabled={resend.isSuccess}>
              Send the verification link again
            </Button>
            {resend.isSuccess && (
              <Text size="sm" role="status">
                Sent: open the link in the mail to {me.user.email}.
              </Text>
            )}
          </Group>
        )}
        {resend.isError && <ErrorNotice error={resend.error} title="The link was not sent" />}
      </Stack>
    </Card>
  );
}

function DataCard({ me }: { me: Me }) {
  const update = useUpdateMe();
  const save = useMutation({ mutationFn: (data: Record<string, unknown>) => update.mutateAsync({ data }) });
  return (
    <DataEditor
      title="Your data"
      intro="A JSON object the applications built on this service keep about you (preferences, a phone number, …). It is in every token issued to you."
      saved={me.user.data}
      save={save}
      failed="Your data was not saved"
    />
  );
}

function PasswordCard({ email }: { email: string }) {
  const send = useMutation({ mutationFn: () => unwrap(api.POST('/api/v1/auth/password/forgot', { body: { email } })) });
  return (
    <Card withBorder aria-labelledby="profile-password">
      <Title order={3} size="h5" id="profile-password">
        Password
      </Title>
      <Text size="sm" c="dimmed" mb="sm">
        To choose a new password, we mail you a link that works for an hour; setting it signs you out everywhere, here too.
      </Text>
      {send.isSuccess ? (
        <Alert color="green" title="Link sent" role="status">
          Open the link in the mail to {email} to choose a new password.
        </Alert>
      ) : (
        <Group>
          <Button variant="default" onClick={() => send.mutate()} loading={send.isPending}>
            Mail me a password link
          </Button>
        </Group>
      )}
      {send.isError && <ErrorNotice error={send.error} title="The link was not sent" />}
    </Card>
  );
}
