import { Button, PasswordInput, Stack, Text, TextInput } from '@mantine/core';
import { useMutation } from '@tanstack/react-query';
import { type FormEvent, useState } from 'react';
import { useNavigate, useSearchParams } from 'react-router';
import { api, unwrap } from '../api/client';
import { AuthCard, ErrorNotice, fieldError } from '../components';
import { useResetSession } from '../session';

/** The one-time link `npm start` prints on a fresh install: creates the platform operator and signs them in. */
export function SetupPage() {
  const [params] = useSearchParams();
  const navigate = useNavigate();
  const reset = useResetSession();
  const [email, setEmail] = useState('');
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const setup = useMutation({
    mutationFn: () =>
      unwrap(api.POST('/api/v1/setup', { body: { token: params.get('token') ?? '', email, password, useCookies: true, ...(name.trim() ? { name: name.trim() } : {}) } })),
    onSuccess: async () => {
      await reset();
      // Seed 001: the operator starts where operators work, the table of every tenant.
      void navigate('/admin/tenants');
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    setup.mutate();
  };
  return (
    <AuthCard title="Set up Tenantry">
      <Text size="sm" c="dimmed">
        Create the platform operator: the account that administers every tenant of this installation. This link works once.
      </Text>
      <form onSubmit={submit} noValidate>
        <Stack>
          {setup.isError && !fieldError(setup.error, 'password') && !fieldError(setup.error, 'email') && <ErrorNotice error={setup.error} title="Setup failed" />}
          <TextInput
            label="Email"
            type="email"
            autoComplete="email"
            required
            value={email}
            onChange={(e) => setEmail(e.currentTarget.value)}
            error={fieldError(setup.error, 'email')}
          />
          <TextInput label="Your name" autoComplete="name" value={name} onChange={(e) => setName(e.currentTarget.value)} />
          <PasswordInput
            label="Password"
            autoComplete="new-password"
            required
            value={password}
            onChange={(e) => setPassword(e.currentTarget.value)}
            error={fieldError(setup.error, 'password')}
          />
          <Button type="submit" loading={setup.isPending} disabled={email.trim() === '' || password.length < 10}>
            Create the operator
          </Button>
        </Stack>
      </form>
    </AuthCard>
  );
}
