import { Button, PasswordInput, Stack, TextInput } from '@mantine/core';
import { useMutation } from '@tanstack/react-query';
import { type FormEvent, useState } from 'react';
import { useNavigate, useSearchParams } from 'react-router';
import { api, unwrap } from '../api/client';
import { AuthCard, ErrorNotice, RouterAnchor } from '../components';
import { usePortalInfo, useResetSession } from '../session';

export function SignInPage() {
  const [params] = useSearchParams();
  const next = safeNext(params.get('next'));
  const navigate = useNavigate();
  const reset = useResetSession();
  const info = usePortalInfo().data;
  const [email, setEmail] = useState(params.get('email') ?? '');
  const [password, setPassword] = useState('');
  const signIn = useMutation({
    mutationFn: () => unwrap(api.POST('/api/v1/auth/login', { body: { email, password, useCookies: true } })),
    onSuccess: async (result) => {
      await reset();
      void navigate(result.needsTenantChoice && !next.startsWith('/team-invite') ? `/choose-tenant?next=${encodeURIComponent(next)}` : next);
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    signIn.mutate();
  };
  return (
    <AuthCard
      title="Sign in"
      footer={info?.signupOpen ? <RouterAnchor to={`/sign-up${next === '/' ? '' : `?next=${encodeURIComponent(next)}`}`}>No account yet? Sign up</RouterAnchor> : undefined}
    >
      <form onSubmit={submit} noValidate>
        <Stack>
          {signIn.isError && <ErrorNotice error={signIn.error} title="Could not sign in" />}
          <TextInput label="Email" type="email" autoComplete="email" required value={email} onChange={(e) => setEmail(e.currentTarget.value)} />
          <PasswordInput label="Password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.currentTarget.value)} />
          <Button type="submit" loading={signIn.isPending} disabled={email.trim() === '' || password === ''}>
            Sign in
          </Button>
          <RouterAnchor to="/forgot-password">Forgot your password?</RouterAnchor>
        </Stack>
      </form>
    </AuthCard>
  );
}

/** Only a path on this site may follow sign-in (never another origin). */
export function safeNext(next: string | null): string {
  return next?.startsWith('/') && !next.startsWith('//') ? next : '/';
}
