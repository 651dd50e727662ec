import { createBrowserRouter } from 'react-router';
import { PortalPaths } from '../../src/platform/links';
import { AppLayout, RequireSignIn } from './layout';
import { ChooseTenantPage } from './pages/choose-tenant';
import { DashboardPage } from './pages/dashboard';
import { ApprovalsPage } from './pages/approvals';
import { AuditPage } from './pages/audit';
import { AdminLicencePage, AdminTenantsPage, AdminUsersPage } from './pages/admin';
import { MembersPage } from './pages/members';
import { ProfilePage } from './pages/profile';
import { ApiKeysPage } from './pages/api-keys';
import { RolesPage } from './pages/roles';
import { SettingsPage } from './pages/settings';
import { TenantsPage } from './pages/tenants';
import { ForgotPasswordPage, ResetPasswordPage } from './pages/password';
import { SetupPage } from './pages/setup';
import { SignInPage } from './pages/sign-in';
import { SignUpPage } from './pages/sign-up';
import { TeamInvitePage } from './pages/team-invite';
import { VerifyEmailPage } from './pages/verify-email';

/** Every page, at the paths the server mails links to (src/platform/links.ts). */
export const router = createBrowserRouter([
  { path: '/sign-in', element: <SignInPage /> },
  { path: '/sign-up', element: <SignUpPage /> },
  { path: PortalPaths.setup, element: <SetupPage /> },
  { path: PortalPaths.verifyEmail, element: <VerifyEmailPage /> },
  { path: '/forgot-password', element: <ForgotPasswordPage /> },
  { path: PortalPaths.resetPassword, element: <ResetPasswordPage /> },
  { path: `${PortalPaths.teamInvite}/:token`, element: <TeamInvitePage /> },
  {
    element: <RequireSignIn />,
    children: [
      { path: '/choose-tenant', element: <ChooseTenantPage /> },
      {
        element: <AppLayout />,
        // One line per signed-in page; its link in the navigation is in nav.ts.
        children: [
          { path: '/', element: <DashboardPage /> },
          { path: '/profile', element: <ProfilePage /> },
          { path: '/members', element: <MembersPage /> },
          { path: '/roles', element: <RolesPage /> },
          { path: '/tenants', element: <TenantsPage /> },
          { path: '/tenants/:tenantId/settings', element: <SettingsPage /> },
          { path: '/api-keys', element: <ApiKeysPage /> },
          { path: '/settings', element: <SettingsPage /> },
          { path: PortalPaths.approvals, element: <ApprovalsPage /> },
          { path: '/audit', element: <AuditPage /> },
          { path: '/admin/tenants', element: <AdminTenantsPage /> },
          { path: '/admin/users', element: <AdminUsersPage /> },
          { path: '/admin/licence', element: <AdminLicencePage /> },
        ],
      },
    ],
  },
  { path: '*', element: <DashboardRedirect /> },
]);

function DashboardRedirect() {
  window.location.replace('/');
  return null;
}
