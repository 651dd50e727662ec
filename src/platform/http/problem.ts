import fp from 'fastify-plugin';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { AppError, type ErrorSpec, HttpErrors, type ProblemExtras } from './errors.ts';
import { redactUrl } from './redact.ts';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** The RFC 9457 document every error response carries. */
export const ProblemSchema = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    code: Type.String({ description: 'Stable machine-readable error code' }),
    detail: Type.Optional(Type.String()),
    instance: Type.Optional(Type.String()),
    requestId: Type.String(),
  },
  { $id: 'Problem', additionalProperties: true },
);

/** Fastify's own error codes, mapped into our catalogue; anything unmapped with a 4xx becomes bad_request. */
const FASTIFY_CODES: Record<string, ErrorSpec> = {
  FST_ERR_CTP_INVALID_JSON_BODY: HttpErrors.MALFORMED_BODY,
  FST_ERR_CTP_BODY_TOO_LARGE: HttpErrors.PAYLOAD_TOO_LARGE,
  FST_ERR_CTP_INVALID_MEDIA_TYPE: HttpErrors.UNSUPPORTED_MEDIA_TYPE,
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: HttpErrors.MALFORMED_BODY,
  FST_ERR_CTP_EMPTY_JSON_BODY: HttpErrors.EMPTY_BODY,
  FST_ERR_CTP_INVALID_TYPE: HttpErrors.UNSUPPORTED_MEDIA_TYPE,
};

export function sendProblem(reply: FastifyReply, spec: ErrorSpec, extras: ProblemExtras = {}, headers: Record<string, string> = {}): FastifyReply {
  const request = reply.request;
  const { detail, ...members } = extras;
  return reply
    .code(spec.status)
    .headers(headers)
    .type(PROBLEM_CONTENT_TYPE)
    .send({
      ...members,
      type: `https://tenantry.dev/problems/${spec.code.replaceAll('_', '-')}`,
      title: spec.title,
      status: spec.status,
      code: spec.code,
      ...(detail === undefined ? {} : { detail }),
      // Never the credential in a link's path (an invitation or reset token): the same masking as the logs.
      instance: redactUrl(request.url.split('?')[0] ?? ''),
      requestId: request.id,
    });
}

/** Answers a GET of a page route with the portal's index.html (null: not a page, or no portal). */
export type PageFallback = (path: string, method: string, accept: string | undefined) => Promise<string | null>;

/** PostgreSQL's codes for "cannot talk to the database now": shutting down, starting, too many connections. */
const UNAVAILABLE_SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300']);
const UNAVAILABLE_SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND']);

/**
 * Whether `error` says the database cannot be reached (class 08 connection exceptions, a server shutting down or
 * refusing connections, a dropped socket) rather than that a statement failed: a request that meets it is answered
 * `503 database_unavailable` with Retry-After, never a 500 — and never an answer from memory alone.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && (code.startsWith('08') || UNAVAILABLE_SQLSTATES.has(code) || UNAVAILABLE_SOCKET_CODES.has(code))) return true;
  const message = (error as { message?: unknown }).message;
  return (
    typeof message === 'string' &&
    /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|is not currently accepting connections/.test(message)
  );
}

/**
 * Known errors pass through as problem documents; Fastify's own 4xx errors (parsing, size, media type,
 * validation) are mapped; an unreachable database is a 503; everything else is logged in full and answered as a
 * bare 500 — never a stack trace.
 */
export const problemHandlers = fp<{ pageFallback?: PageFallback }>(
  async (app, options) => {
    const pageFallback = options.pageFallback ?? (async () => null);
    app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
      if (error instanceof AppError) {
        if (error.spec.status >= 500) request.log.error({ err: error }, error.message);
        return sendProblem(reply, error.spec, error.extras, error.headers);
      }
      if (error.validation) {
        return sendProblem(reply, HttpErrors.VALIDATION_FAILED, {
          detail: error.message,
          errors: error.validation.map((v) => ({
            in: error.validationContext ?? 'body',
            path: v.instancePath || '/',
            message: v.message ?? 'invalid',
          })),
        });
      }
      const mapped = error.code === undefined ? undefined : FASTIFY_CODES[error.code];
      if (mapped !== undefined) return sendProblem(reply, mapped, { detail: error.message });
      if (error.statusCode === 429) {
        return sendProblem(reply, HttpErrors.RATE_LIMITED, { detail: error.message });
      }
      if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
        return sendProblem(reply, HttpErrors.BAD_REQUEST, { detail: error.message });
      }
      if (isDatabaseUnavailable(error)) {
        request.log.error({ err: error }, 'the database is unavailable');
        return sendProblem(reply, HttpErrors.DATABASE_UNAVAILABLE, { detail: 'retry shortly' }, { 'retry-after': '5' });
      }
      request.log.error({ err: error }, 'unhandled error');
      return sendProblem(reply, HttpErrors.INTERNAL);
    });

    app.setNotFoundHandler(async (request, reply) => {
      const path = request.url.split('?')[0] ?? '/';
      const page = await pageFallback(path, request.method, request.headers.accept);
      if (page !== null) return reply.type('text/html; charset=utf-8').header('cache-control', 'no-cache').send(page);
      // Masked like the logs: a link's credential (an invitation or reset token) is never echoed back.
      return sendProblem(reply, HttpErrors.ROUTE_NOT_FOUND, { detail: `${request.method} ${redactUrl(path)} is not an endpoint` });
    });
  },
  { name: 'tenantry-problem-handlers' },
);
