import type {} from '@fastify/cookie';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../platform/config.ts';
import { hmac } from '../platform/secrets.ts';

/**
 * Cookie mode, for the portal and other browser clients: tokens travel in HttpOnly cookies instead of the
 * response body. Cookie-authenticated writes need an `X-CSRF-Token` header equal to the `tenantry_csrf`
 * cookie, which is an HMAC of the session id: it cannot be forged without the server's key, is the same
 * on every node, and dies with the session (signed double-submit, OWASP CSRF cheat sheet).
 */
export const ACCESS_COOKIE = 'tenantry_access';
export const REFRESH_COOKIE = 'tenantry_refresh';
export const CSRF_COOKIE = 'tenantry_csrf';
export const CSRF_HEADER = 'x-csrf-token';

const REFRESH_PATH = '/api/v1/auth';

export function csrfTokenFor(secretKey: Buffer, sessionId: string): string {
  return hmac(secretKey, 'csrf', sessionId);
}

/** Secure unless the public URL is plain-HTTP localhost (development), where browsers would drop it. */
function isSecure(config: Config): boolean {
  const url = new URL(config.publicUrl);
  return !(url.protocol === 'http:' && ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname));
}

export interface CookieTokens {
  accessToken: string;
  accessTokenExpiresAt: Date;
  refreshToken: string;
  refreshTokenExpiresAt: Date;
  sessionId: string;
}

export function setAuthCookies(reply: FastifyReply, config: Config, secretKey: Buffer, tokens: CookieTokens, now: Date): void {
  const secure = isSecure(config);
  const seconds = (until: Date) => Math.max(0, Math.floor((until.getTime() - now.getTime()) / 1000));
  reply.setCookie(ACCESS_COOKIE, tokens.accessToken, { httpOnly: true, secure, sameSite: 'lax', path: '/', maxAge: seconds(tokens.accessTokenExpiresAt) });
  reply.setCookie(REFRESH_COOKIE, tokens.refreshToken, {
    httpOnly: true,
    secure,
    sameSite: 'lax',
    path: REFRESH_PATH,
    maxAge: seconds(tokens.refreshTokenExpiresAt),
  });
  reply.setCookie(CSRF_COOKIE, csrfTokenFor(secretKey, tokens.sessionId), {
    httpOnly: false,
    secure,
    sameSite: 'lax',
    path: '/',
    maxAge: seconds(tokens.refreshTokenExpiresAt),
  });
}

export function clearAuthCookies(reply: FastifyReply, config: Config): void {
  const secure = isSecure(config);
  reply.clearCookie(ACCESS_COOKIE, { path: '/', secure, sameSite: 'lax' });
  reply.clearCookie(REFRESH_COOKIE, { path: REFRESH_PATH, secure, sameSite: 'lax' });
  reply.clearCookie(CSRF_COOKIE, { path: '/', secure, sameSite: 'lax' });
}

export function refreshTokenFromCookie(request: FastifyRequest): string | undefined {
  return request.cookies[REFRESH_COOKIE];
}
