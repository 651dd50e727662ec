import { Alert, Button, PasswordInput, Stack, TextInput } from '@mantine/core';
import { useMutation } from '@tanstack/react-query';
import { type FormEvent, useState } from 'react';
import { useSearchParams } from 'react-router';
import { api, unwrap } from '../api/client';
import { AuthCard, ErrorNotice, fieldError, RouterAnchor } from '../components';

export function ForgotPasswordPage() {
  const [email, setEmail] = useState('');
  const forgot = useMutation({ mutationFn: () => unwrap(api.POST('/api/v1/auth/password/forgot', { body: { email } })) });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    forgot.mutate();
  };
  return (
    <AuthCard title="Reset your password" footer={<RouterAnchor to="/sign-in">Back to sign in</RouterAnchor>}>
      {forgot.isSuccess ? (
        <Alert color="green">If an account uses {email}, a reset link is on its way. It works for an hour.</Alert>
      ) : (
        <form onSubmit={submit} noValidate>
          <Stack>
            {forgot.isError && <ErrorNotice error={forgot.error} />}
            <TextInput label="Email" type="email" autoComplete="email" required value={email} onChange={(e) => setEmail(e.currentTarget.value)} />
            <Button type="submit" loading={forgot.isPending} disabled={email.trim() === ''}>
              Send the reset link
            </Button>
          </Stack>
        </form>
      )}
    </AuthCard>
  );
}

/** The mailed link `/reset-password?token=…`. */
export function ResetPasswordPage() {
  const [params] = useSearchParams();
  const [password, setPassword] = useState('');
  const reset = useMutation({ mutationFn: () => unwrap(api.POST('/api/v1/auth/password/reset', { body: { token: params.get('token') ?? '', password } })) });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    reset.mutate();
  };
  return (
    <AuthCard title="Choose a new password" footer={<RouterAnchor to="/sign-in">Back to sign in</RouterAnchor>}>
      {reset.isSuccess ? (
        <Alert color="green" title="Password changed">
          Every session was signed out. <RouterAnchor to="/sign-in">Sign in</RouterAnchor> with the new password.
        </Alert>
      ) : (
        <form onSubmit={submit} noValidate>
          <Stack>
            {reset.isError && !fieldError(reset.error, 'password') && <ErrorNotice error={reset.error} />}
            <PasswordInput
              label="New password"
              autoComplete="new-password"
              required
              value={password}
              onChange={(e) => setPassword(e.currentTarget.value)}
              error={fieldError(reset.error, 'password')}
            />
            <Button type="submit" loading={reset.isPending} disabled={password.length < 10}>
              Change password
            </Button>
          </Stack>
        </form>
      )}
    </AuthCard>
  );
}
