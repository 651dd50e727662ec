import { Alert, Button, PasswordInput, Stack, TextInput } from '@mantine/core';
import { useMutation, useQuery } from '@tanstack/react-query';
import { type FormEvent, useState } from 'react';
import { useNavigate, useSearchParams } from 'react-router';
import { api, unwrap } from '../api/client';
import { AuthCard, ErrorNotice, fieldError, RouterAnchor } from '../components';
import { usePortalInfo, useResetSession } from '../session';
import { safeNext } from './sign-in';

/**
 * Sign-up, as the preset's policy has it: a personal tenant to name, an organisation and its first tenant
 * (mqtt-portal), or only through an invitation (msp, company-tree). From an invitation link the invited address is
 * filled in and the person lands in the inviting tenant.
 */
export function SignUpPage() {
  const [params] = useSearchParams();
  const invitation = params.get('invitation') ?? undefined;
  const navigate = useNavigate();
  const reset = useResetSession();
  const info = usePortalInfo().data;
  const preview = useQuery({
    queryKey: ['invitation', invitation],
    queryFn: () => unwrap(api.GET('/api/v1/invitations/{token}', { params: { path: { token: invitation ?? '' } } })),
    enabled: invitation !== undefined,
  });
  const [email, setEmail] = useState(params.get('email') ?? '');
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [tenantName, setTenantName] = useState('');
  const [organizationName, setOrganizationName] = useState('');
  const invitedEmail = preview.data?.email;
  const signUp = useMutation({
    mutationFn: () =>
      unwrap(
        api.POST('/api/v1/auth/signup', {
          body: {
            email: invitedEmail ?? email,
            password,
            useCookies: true,
            ...(name.trim() ? { name: name.trim() } : {}),
            ...(invitation !== undefined ? { invitationToken: invitation } : {}),
            ...(invitation === undefined && tenantName.trim() ? { tenantName: tenantName.trim() } : {}),
            ...(invitation === undefined && organizationName.trim() ? { organizationName: organizationName.trim() } : {}),
          },
        }),
      ),
    onSuccess: async () => {
      await reset();
      void navigate(safeNext(params.get('next')));
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    signUp.mutate();
  };
  if (info !== undefined && !info.signupOpen && invitation === undefined) {
    return (
      <AuthCard title="Sign-up is by invitation" footer={<RouterAnchor to="/sign-in">Back to sign in</RouterAnchor>}>
        <Alert color="blue">People join this deployment by invitation. Open the link in the invitation you were sent, or ask an administrator.</Alert>
      </AuthCard>
    );
  }
  const tooShort = password.length > 0 && password.length < 10;
  return (
    <AuthCard
      title={preview.data ? `Join ${preview.data.tenantName}` : 'Create your account'}
      footer={<RouterAnchor to={`/sign-in${invitation ? `?next=${encodeURIComponent(`/team-invite/${invitation}`)}` : ''}`}>Already have an account? Sign in</RouterAnchor>}
    >
      <form onSubmit={submit} noValidate>
        <Stack>
          {preview.isError && <ErrorNotice error={preview.error} title="This invitation cannot be used" />}
          {signUp.isError && !fieldError(signUp.error, 'email') && !fieldError(signUp.error, 'password') && <ErrorNotice error={signUp.error} title="Could not sign up" />}
          <TextInput
            label="Email"
            type="email"
            autoComplete="email"
            required
            value={invitedEmail ?? email}
            readOnly={invitedEmail !== undefined}
            description={invitedEmail !== undefined ? 'The address the invitation was sent to' : undefined}
            onChange={(e) => setEmail(e.currentTarget.value)}
            error={fieldError(signUp.error, 'email')}
          />
          <TextInput label="Your name" autoComplete="name" value={name} onChange={(e) => setName(e.currentTarget.value)} />
          <PasswordInput
            label="Password"
            autoComplete="new-password"
            required
            description="At least 10 characters; a few words are easy to remember"
            value={password}
            onChange={(e) => setPassword(e.currentTarget.value)}
            error={tooShort ? 'At least 10 characters' : fieldError(signUp.error, 'password')}
          />
          {invitation === undefined && info?.signup === 'enterprise' && (
            <TextInput
              label={`${info.labels.enterprise} name`}
              description="Your organisation"
              value={organizationName}
              onChange={(e) => setOrganizationName(e.currentTarget.value)}
            />
          )}
          {invitation === undefined && info?.signup !== 'none' && (
            <TextInput
              label={`${info?.signup === 'enterprise' ? `First ${info.labels.tenant.toLowerCase()}` : `${info?.labels.tenant ?? 'Tenant'}`} name`}
              description="You can rename it later"
              value={tenantName}
              onChange={(e) => setTenantName(e.currentTarget.value)}
            />
          )}
          <Button type="submit" loading={signUp.isPending} disabled={(invitedEmail ?? email).trim() === '' || password.length < 10 || preview.isError}>
            {preview.data ? 'Create account and join' : 'Create account'}
          </Button>
        </Stack>
      </form>
    </AuthCard>
  );
}
