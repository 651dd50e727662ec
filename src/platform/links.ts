/**
 * The portal pages the server mails or prints links to. One place for both sides: the mail code builds links with
 * these, and the portal's router mounts its pages at the same paths (portal/src/routes.tsx imports this file), so a
 * mailed link cannot point at a page that does not exist.
 */
export const PortalPaths = {
  setup: '/setup',
  verifyEmail: '/verify-email',
  resetPassword: '/reset-password',
  teamInvite: '/team-invite',
  approvals: '/approvals',
} as const;

export function setupLink(publicUrl: string, token: string): string {
  return `${publicUrl}${PortalPaths.setup}?token=${encodeURIComponent(token)}`;
}

export function verifyEmailLink(publicUrl: string, token: string, invitationToken?: string): string {
  const invitation = invitationToken === undefined ? '' : `&invitation=${encodeURIComponent(invitationToken)}`;
  return `${publicUrl}${PortalPaths.verifyEmail}?token=${encodeURIComponent(token)}${invitation}`;
}

export function resetPasswordLink(publicUrl: string, token: string): string {
  return `${publicUrl}${PortalPaths.resetPassword}?token=${encodeURIComponent(token)}`;
}

export function teamInviteLink(publicUrl: string, token: string): string {
  return `${publicUrl}${PortalPaths.teamInvite}/${token}`;
}

export function approvalLink(publicUrl: string, tenantId: string, requestId: string): string {
  return `${publicUrl}${PortalPaths.approvals}?tenant=${encodeURIComponent(tenantId)}&request=${encodeURIComponent(requestId)}`;
}
