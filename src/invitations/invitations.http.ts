import { Type } from 'typebox';
import type { InvitationPreview, InvitationView } from './invitations.service.ts';

/** What sign-up, the operator console and the invitation routes share of invitations' HTTP side. */

/** What the invitee sees before signing in; also carried by sign-up and email verification responses. */
export const InvitationPreviewSchema = Type.Object({
  tenantId: Type.String(),
  tenantName: Type.String(),
  roles: Type.Array(Type.String(), { description: 'Sorted role keys' }),
  inviterName: Type.Union([Type.String(), Type.Null()]),
  email: Type.String({ description: 'The invited address; accepting needs a signed-in user with this address, verified' }),
  expiresAt: Type.String({ format: 'date-time' }),
  status: Type.Literal('pending'),
});

export function presentInvitationPreview(preview: InvitationPreview) {
  return { ...preview, expiresAt: preview.expiresAt.toISOString() };
}

/** An invitation as the API shows it (and the operator console prints it). */
export function presentInvitation(view: InvitationView) {
  return {
    ...view,
    createdAt: view.createdAt.toISOString(),
    expiresAt: view.expiresAt.toISOString(),
    acceptedAt: view.acceptedAt?.toISOString() ?? null,
    revokedAt: view.revokedAt?.toISOString() ?? null,
  };
}
