import { Alert, Button, Loader, Stack, Text } from '@mantine/core';
import { useMutation } from '@tanstack/react-query';
import { useEffect } from 'react';
import { useSearchParams } from 'react-router';
import { api, unwrap } from '../api/client';
import { AuthCard, ErrorNotice } from '../components';

/** The mailed link `/verify-email?token=…[&invitation=…]`: verifies at once, then offers the way on. */
export function VerifyEmailPage() {
  const [params] = useSearchParams();
  const token = params.get('token') ?? '';
  const invitation = params.get('invitation') ?? undefined;
  const verify = useMutation({
    mutationFn: () => unwrap(api.POST('/api/v1/auth/verify-email', { body: { token, ...(invitation ? { invitationToken: invitation } : {}) } })),
  });
  const { mutate } = verify;
  useEffect(() => {
    if (token !== '') mutate();
  }, [token, mutate]);
  return (
    <AuthCard title="Verify your email">
      {token === '' && <Alert color="red">This link has no token. Open the link from the email exactly as it arrived.</Alert>}
      {verify.isPending && (
        <Stack align="center">
          <Loader aria-label="Verifying" />
        </Stack>
      )}
      {verify.isError && <ErrorNotice error={verify.error} title="The link did not work" />}
      {verify.isSuccess && (
        <Stack>
          <Alert color="green" title="Email verified">
            {verify.data.user.email} is verified.
          </Alert>
          {verify.data.invitation ? (
            <>
              <Text>You are invited to {verify.data.invitation.tenantName}.</Text>
              <Button component="a" href={`/team-invite/${invitation}`}>
                Continue to the invitation
              </Button>
            </>
          ) : (
            <Button component="a" href="/">
              Continue
            </Button>
          )}
        </Stack>
      )}
    </AuthCard>
  );
}
