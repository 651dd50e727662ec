import { pino, type DestinationStream, type Logger } from 'pino';
import { redactError, redactUrl } from './http/redact.ts';

/**
 * Structured JSON logs. Credentials never reach a line: auth headers and cookies are censored, URLs have
 * their credential segments masked, and anything logged under a key named like a secret is censored.
 * Errors (under `err`, or `error` when it is one) never carry a failed statement's SQL or bound values.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'tenantry' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: {
        paths: ['req.headers.authorization', 'req.headers.cookie', 'res.headers["set-cookie"]', '*.password', '*.secret', '*.token', '*.accessToken', '*.refreshToken'],
        censor: '[redacted]',
      },
      serializers: {
        req: (req: { method: string; url: string; ip?: string }) => ({ method: req.method, url: redactUrl(req.url), remoteAddress: req.ip }),
        res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
        err: safeError,
        error: (value: unknown) => (value instanceof Error ? safeError(value) : value),
      },
    },
    destination,
  );
}

function safeError(err: Error): unknown {
  return redactError(pino.stdSerializers.err(err));
}
