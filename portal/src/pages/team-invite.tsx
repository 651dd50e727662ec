import { Alert, Badge, Button, Group, Loader, Stack, Text } from '@mantine/core';
import { useMutation, useQuery } from '@tanstack/react-query';
import { useNavigate, useParams } from 'react-router';
import { api, unwrap } from '../api/client';
import { AuthCard, ErrorNotice } from '../components';
import { useMe, useResetSession } from '../session';

/**
 * Seed 000's `/team-invite/<token>`: the tenant, the roles and who invited; signed in with the invited address,
 * accept and land in the tenant; otherwise sign in, or sign up with the address filled in.
 */
export function TeamInvitePage() {
  const token = useParams().token ?? '';
  const navigate = useNavigate();
  const reset = useResetSession();
  const me = useMe();
  const preview = useQuery({ queryKey: ['invitation', token], queryFn: () => unwrap(api.GET('/api/v1/invitations/{token}', { params: { path: { token } } })) });
  const accept = useMutation({
    mutationFn: () => unwrap(api.POST('/api/v1/invitations/{token}/accept', { params: { path: { token } } })),
    onSuccess: async () => {
      await reset();
      void navigate('/');
    },
  });
  const here = `/team-invite/${token}`;
  return (
    <AuthCard title="You are invited">
      {preview.isPending && <Loader aria-label="Loading the invitation" />}
      {preview.isError && <ErrorNotice error={preview.error} title="This invitation cannot be used" />}
      {preview.data && (
        <Stack>
          <Text>
            {preview.data.inviterName ?? 'Someone'} invited <b>{preview.data.email}</b> to join <b>{preview.data.tenantName}</b> as
          </Text>
          <Group gap="xs">
            {preview.data.roles.map((role) => (
              <Badge key={role} variant="light">
                {role.replace(/_/g, ' ')}
              </Badge>
            ))}
          </Group>
          <Text size="sm" c="dimmed">
            The link works until {new Date(preview.data.expiresAt).toLocaleString()}.
          </Text>
          {accept.isError && <ErrorNotice error={accept.error} title="Could not accept" />}
          {me.data ? (
            me.data.user.email === preview.data.email ? (
              <Button onClick={() => accept.mutate()} loading={accept.isPending}>
                Accept and open {preview.data.tenantName}
              </Button>
            ) : (
              <Alert color="orange">
                You are signed in as {me.data.user.email}, but the invitation is for {preview.data.email}. Sign out and sign in with that address.
              </Alert>
            )
          ) : (
            <Group grow>
              <Button component="a" href={`/sign-up?invitation=${encodeURIComponent(token)}&next=${encodeURIComponent('/')}`}>
                Sign up
              </Button>
              <Button variant="default" component="a" href={`/sign-in?email=${encodeURIComponent(preview.data.email)}&next=${encodeURIComponent(here)}`}>
                Sign in
              </Button>
            </Group>
          )}
        </Stack>
      )}
    </AuthCard>
  );
}
