/** Query parameters whose values never reach a log line. */
const SECRET_PARAM = /token|secret|password|key|code|invitation/i;
/** Path segments that are credentials: the segment after one of these is masked. */
const SECRET_SEGMENT_AFTER = new Set(['invitations', 'team-invite', 'verify-email', 'reset-password', 'setup']);

/** The URL as it may be logged: credential path segments and secret-looking query values masked. */
export function redactUrl(url: string): string {
  const [pathPart = '', query] = url.split('?', 2);
  const segments = pathPart.split('/');
  for (let i = 1; i < segments.length; i++) {
    const previous = segments[i - 1] ?? '';
    if (SECRET_SEGMENT_AFTER.has(previous) && (segments[i] ?? '').length >= 20) segments[i] = '[redacted]';
  }
  let redacted = segments.join('/');
  if (query !== undefined) {
    const params = new URLSearchParams(query);
    for (const name of [...params.keys()]) if (SECRET_PARAM.test(name)) params.set(name, '[redacted]');
    redacted += `?${params.toString()}`;
  }
  return redacted;
}
