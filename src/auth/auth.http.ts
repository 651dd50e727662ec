import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyTypebox } from '../platform/http/types.ts';
import { presentTokens } from './auth.schemas.ts';
import { setAuthCookies } from './cookies.ts';
import type { SessionTokens } from './sessions.service.ts';

/** The HTTP side of signing in that other features' routes share (sign-up, setup, invitations, OAuth). */

/** Rate limit for credential endpoints, per client IP. */
export function credentialRateLimit(app: FastifyTypebox) {
  return { rateLimit: { max: app.services.config.authRateLimitPerMinute, timeWindow: 60_000 } };
}

/** Sends the tokens as the body, or in cookie mode as cookies; returns the body's token fields. */
export function deliverTokens(app: FastifyTypebox, reply: FastifyReply, tokens: SessionTokens, cookieMode: boolean) {
  const now = app.services.clock.now();
  if (cookieMode) setAuthCookies(reply, app.services.config, app.services.secretKey, tokens, now);
  return presentTokens(tokens, cookieMode, now);
}

export function clientOf(request: FastifyRequest) {
  const ua = request.headers['user-agent'];
  return { ip: request.ip, userAgent: typeof ua === 'string' ? ua : null };
}
