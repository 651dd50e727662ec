import { defineErrors } from '../platform/http/errors.ts';

export const AccountErrors = defineErrors({
  INVALID_EMAIL: { status: 422, code: 'invalid_email', title: 'That is not an email address we accept' },
  WEAK_PASSWORD: { status: 422, code: 'weak_password', title: 'The password is not strong enough' },
  EMAIL_TAKEN: { status: 409, code: 'email_taken', title: 'An account with that email already exists' },
  USER_NOT_FOUND: { status: 404, code: 'user_not_found', title: 'No such user' },
  ALREADY_VERIFIED: { status: 409, code: 'email_already_verified', title: 'The email address is already verified' },
  INVALID_VERIFICATION_TOKEN: {
    status: 400,
    code: 'invalid_verification_token',
    title: 'The verification link is invalid, used or expired',
  },
  INVALID_RESET_TOKEN: { status: 400, code: 'invalid_reset_token', title: 'The reset link is invalid, used or expired' },
  SIGNUP_CLOSED: { status: 403, code: 'signup_closed', title: 'Sign-up is by invitation only here' },
  INVALID_SETUP_TOKEN: { status: 400, code: 'invalid_setup_token', title: 'The setup link is invalid, used or expired' },
});
