import { defineErrors } from '../platform/http/errors.ts';

export const InvitationErrors = defineErrors({
  INVITATION_NOT_FOUND: { status: 404, code: 'invitation_not_found', title: 'No such invitation' },
  INVITATION_EXPIRED: { status: 410, code: 'invitation_expired', title: 'The invitation has expired; ask for a new one' },
  INVITATION_REVOKED: { status: 410, code: 'invitation_revoked', title: 'The invitation was withdrawn' },
  INVITATION_USED: { status: 410, code: 'invitation_used', title: 'The invitation has already been accepted' },
  INVITATION_NOT_PENDING: { status: 409, code: 'invitation_not_pending', title: 'The invitation has already been accepted' },
  EMAIL_MISMATCH: {
    status: 403,
    code: 'invitation_email_mismatch',
    title: 'The invitation was sent to another email address; sign in with that address',
  },
  EMAIL_NOT_VERIFIED: { status: 403, code: 'email_not_verified', title: 'Verify your email address before accepting the invitation' },
  ALREADY_MEMBER: { status: 409, code: 'already_member', title: 'This person is already a member of the tenant' },
  ROLE_UNAVAILABLE: {
    status: 409,
    code: 'invitation_role_unavailable',
    title: 'A role of the invitation no longer exists in the tenant; ask for a new invitation',
  },
});
