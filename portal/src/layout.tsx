import { Alert, AppShell, Avatar, Badge, Burger, Button, Center, Group, Loader, Menu, NavLink, Text, Title, UnstyledButton, VisuallyHidden } from '@mantine/core';
import { useDisclosure } from '@mantine/hooks';
import { useMutation } from '@tanstack/react-query';
import { useEffect } from 'react';
import { Link, Navigate, Outlet, useLocation, useNavigate } from 'react-router';
import { api, unwrap, whenSignedOut } from './api/client';
import { ErrorNotice } from './components';
import { NAV } from './nav';
import { type Me, useAllowed, useMe, usePortalInfo, useResetSession } from './session';

/** Pages behind sign-in: nobody signed in goes to /sign-in, remembering the page (and comes back to it). */
export function RequireSignIn() {
  const me = useMe();
  const location = useLocation();
  const navigate = useNavigate();
  useEffect(() => {
    whenSignedOut(() => navigate(`/sign-in?next=${encodeURIComponent(window.location.pathname + window.location.search)}`));
  }, [navigate]);
  if (me.isPending) return <FullPageLoader />;
  if (me.isError) return <ErrorNotice error={me.error} />;
  if (me.data === null) return <Navigate to={`/sign-in?next=${encodeURIComponent(location.pathname + location.search)}`} replace />;
  return <Outlet />;
}

export function FullPageLoader() {
  return (
    <Center h="100vh">
      <Loader aria-label="Loading" />
    </Center>
  );
}

/** The signed-in frame: header with the tenant switcher and the user menu, the navigation, the page. */
export function AppLayout() {
  const me = useMe().data as Me;
  const info = usePortalInfo().data;
  const location = useLocation();
  const [opened, { toggle, close }] = useDisclosure();
  // On a phone, the drawer closes once a page is chosen: the effect runs when the path changes.
  // biome-ignore lint/correctness/useExhaustiveDependencies: the path is the trigger, not an input
  useEffect(close, [location.pathname]);
  if (me.activeTenantId === null) {
    const here = location.pathname + location.search;
    return <Navigate to={here === '/' ? '/choose-tenant' : `/choose-tenant?next=${encodeURIComponent(here)}`} replace />;
  }
  const active = me.authorization[me.activeTenantId];
  return (
    <AppShell header={{ height: 60 }} navbar={{ width: 240, breakpoint: 'sm', collapsed: { mobile: !opened } }} padding="md">
      <AppShell.Header>
        <Group h="100%" px="md" justify="space-between" wrap="nowrap">
          <Group gap="sm" wrap="nowrap">
            <Burger opened={opened} onClick={toggle} hiddenFrom="sm" size="sm" aria-label="Toggle navigation" />
            <Title order={1} size="h4">
              Tenantry
            </Title>
            {me.showTenantSwitcher ? (
              <TenantSwitcher me={me} label={info?.labels.tenant ?? 'Tenant'} />
            ) : (
              <Text size="sm" c="dimmed" visibleFrom="xs">
                {active?.name}
              </Text>
            )}
          </Group>
          <UserMenu me={me} />
        </Group>
      </AppShell.Header>
      <AppShell.Navbar p="sm" aria-label="Main">
        <Navigation me={me} />
      </AppShell.Navbar>
      <AppShell.Main>
        {active?.status === 'suspended' && (
          <Alert color="orange" title={`This ${(info?.labels.tenant ?? 'tenant').toLowerCase()} is suspended`} mb="md" role="alert">
            Its data is kept, but it is read-only until someone above it resumes it. Its API keys are refused meanwhile.
          </Alert>
        )}
        <Outlet />
      </AppShell.Main>
    </AppShell>
  );
}

/** The navigation: the pages this person may use in the active tenant, in the preset's words. */
function Navigation({ me }: { me: Me }) {
  const labels = usePortalInfo().data?.labels;
  const location = useLocation();
  const permissions = [...new Set(NAV.flatMap((item) => (item.permission === undefined ? [] : [item.permission])))];
  const allowed = useAllowed(me.activeTenantId, permissions).data;
  const shown = NAV.filter(
    (item) => (item.operator !== true || me.user.platformRole === 'super_admin') && (item.permission === undefined || allowed?.has(item.permission) === true),
  );
  return (
    <>
      {shown.map((item) => (
        <NavLink key={item.path} component={Link} to={item.path} label={labels === undefined ? '' : item.label(labels)} active={location.pathname === item.path} />
      ))}
    </>
  );
}

/** Seed 000's header switcher: every tenant you can enter (shadow ones marked), your role in each. */
function TenantSwitcher({ me, label }: { me: Me; label: string }) {
  const reset = useResetSession();
  const navigate = useNavigate();
  const switchTo = useMutation({
    mutationFn: (tenantId: string) => unwrap(api.POST('/api/v1/auth/active-tenant', { body: { tenantId } })),
    onSuccess: async () => {
      await reset();
      void navigate('/');
    },
  });
  const active = me.activeTenantId === null ? undefined : me.authorization[me.activeTenantId];
  return (
    <Menu position="bottom-start" withinPortal>
      <Menu.Target>
        <Button
          variant="default"
          size="xs"
          rightSection="▾"
          loading={switchTo.isPending}
          maw={{ base: 170, sm: 320 }}
          aria-label={`Switch ${label.toLowerCase()}: ${active?.name ?? ''}`}
        >
          <Text size="sm" truncate>
            {active?.name ?? `Choose a ${label.toLowerCase()}`}
          </Text>
        </Button>
      </Menu.Target>
      <Menu.Dropdown>
        <Menu.Label>Switch {label.toLowerCase()}</Menu.Label>
        {Object.values(me.authorization).map((t) => (
          <Menu.Item key={t.tenantId} onClick={() => t.tenantId !== me.activeTenantId && switchTo.mutate(t.tenantId)} disabled={t.tenantId === me.activeTenantId}>
            {t.name} — {t.roles.join(', ') || 'inherited'}
            {t.shadow ? ' (operator access)' : ''}
          </Menu.Item>
        ))}
      </Menu.Dropdown>
    </Menu>
  );
}

function UserMenu({ me }: { me: Me }) {
  const navigate = useNavigate();
  const reset = useResetSession();
  const signOut = useMutation({
    mutationFn: () => unwrap(api.POST('/api/v1/auth/logout')),
    onSettled: async () => {
      await reset();
      void navigate('/sign-in');
    },
  });
  const initials = (me.user.name ?? me.user.email).slice(0, 2).toUpperCase();
  return (
    <Menu position="bottom-end" withinPortal>
      <Menu.Target>
        <UnstyledButton title="Your account">
          <VisuallyHidden>Your account:</VisuallyHidden>
          <Group gap="xs" wrap="nowrap">
            <Avatar radius="xl" size="sm" color="indigo" aria-hidden>
              {initials}
            </Avatar>
            <Text size="sm" visibleFrom="sm">
              {me.user.name ?? me.user.email}
            </Text>
            {me.user.platformRole === 'super_admin' && (
              <Badge size="xs" variant="light" visibleFrom="sm">
                Operator
              </Badge>
            )}
          </Group>
        </UnstyledButton>
      </Menu.Target>
      <Menu.Dropdown>
        <Menu.Label>{me.user.email}</Menu.Label>
        <Menu.Item onClick={() => navigate('/profile')}>Your profile</Menu.Item>
        <Menu.Item onClick={() => navigate('/choose-tenant')}>Choose a tenant</Menu.Item>
        <Menu.Item color="red" onClick={() => signOut.mutate()}>
          Sign out
        </Menu.Item>
      </Menu.Dropdown>
    </Menu>
  );
}
