import createClient, { type Middleware } from 'openapi-fetch';
import type { paths } from './schema';

/** An RFC 9457 problem document as the API sends it. */
export interface Problem {
  status: number;
  code: string;
  title: string;
  detail?: string;
  errors?: Array<{ in: string; path: string; message: string }>;
  [extra: string]: unknown;
}

export class ProblemError extends Error {
  readonly problem: Problem;
  constructor(problem: Problem) {
    super(problem.detail ?? problem.title);
    this.problem = problem;
  }
}

/** The CSRF cookie's value, sent back on every write made with the session cookies (cookie mode). */
function csrfToken(): string | undefined {
  return document.cookie
    .split('; ')
    .find((c) => c.startsWith('tenantry_csrf='))
    ?.slice('tenantry_csrf='.length);
}

const WRITES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** Called when the session cannot be refreshed: the app returns to sign-in, remembering the page. */
let onSignedOut: () => void = () => undefined;
export function whenSignedOut(handler: () => void): void {
  onSignedOut = handler;
}

let refreshing: Promise<boolean> | undefined;
/** How many refreshes have succeeded: a request sent before the latest one needs only a retry, not another refresh. */
let refreshes = 0;
/**
 * One refresh at a time, however many requests found the access token expired together — also those whose 401 arrives
 * after a refresh that began later than they were sent has already finished (`sentAfter`: the count when they left).
 */
function refreshSession(sentAfter: number): Promise<boolean> {
  if (refreshes > sentAfter) return Promise.resolve(true);
  refreshing ??= fetch('/api/v1/auth/refresh', { method: 'POST', credentials: 'same-origin', headers: { 'x-csrf-token': csrfToken() ?? '' } })
    .then((res) => {
      if (res.ok) refreshes += 1;
      return res.ok;
    })
    .catch(() => false)
    .finally(() => {
      refreshing = undefined;
    });
  return refreshing;
}

const session: Middleware = {
  onRequest({ request }) {
    if (WRITES.has(request.method)) {
      const token = csrfToken();
      if (token !== undefined) request.headers.set('x-csrf-token', token);
    }
    return request;
  },
};

/**
 * The typed API client (paths from docs/openapi.json through openapi-typescript). Tokens live in HttpOnly cookies,
 * never in JavaScript: requests carry the cookies, writes the CSRF header. An expired access token is refreshed once,
 * silently, and the request retried; when that fails the app goes back to sign-in.
 */
export const api = createClient<paths>({
  baseUrl: '',
  credentials: 'same-origin',
  fetch: async (input: Request) => {
    const retry = input.clone();
    const sentAfter = refreshes;
    const res = await fetch(input);
    if (res.status !== 401 || input.url.includes('/auth/login') || input.url.includes('/auth/refresh') || input.url.includes('/auth/signup')) return res;
    if (await refreshSession(sentAfter)) {
      if (WRITES.has(retry.method)) retry.headers.set('x-csrf-token', csrfToken() ?? '');
      const again = await fetch(retry);
      if (again.status !== 401) return again;
    }
    onSignedOut();
    return res;
  },
});
api.use(session);

/** The data of an openapi-fetch answer, or a ProblemError with the API's problem document. */
export async function unwrap<T>(call: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  const { data, error, response } = await call;
  if (error !== undefined || !response.ok) {
    const problem = (typeof error === 'object' && error !== null ? error : { title: response.statusText }) as Partial<Problem>;
    throw new ProblemError({ status: response.status, code: problem.code ?? 'error', title: problem.title ?? 'Something went wrong', ...problem } as Problem);
  }
  return data as T;
}

/** Words for a failed request: the problem's own detail, or a plain sentence for statuses people meet. */
/**
 * A refusal in words a person can act on. The codes with a sentence of their own say what to do next; the rest use
 * the API's `detail`, which is written for people.
 */
const ADVICE: Record<string, (detail: string | undefined) => string> = {
  plan_limit_reached: (d) => `${d ?? 'The plan allows no more of these'}. Raise the plan under Settings → Plan to add more.`,
  last_owner: (d) => sentence(d ?? 'Every tenant keeps at least one owner: make someone else an owner first'),
  not_an_operator: () => 'These pages are for platform operators only, and your account is not one. Ask the operator of this installation if you need something changed here.',
  licence_limit_reached: () => 'The licence allows no more tenants: every one it covers is in use. Extend the licence (see Admin · Licence) or delete a tenant first.',
  feature_not_licensed: (d) => `The licence does not cover this${d ? ` (${d})` : ''}. Extend the licence under Admin · Licence.`,
  slug_taken: () => 'Another tenant already has that slug. Choose a different one.',
  admin_tenancy: () => 'The admin tenancy cannot be suspended or deleted. Make another tenant the admin tenancy first.',
  active_tenant: () => 'You cannot delete the tenant you are working in. Switch to another first.',
  role_in_use: (d) => `Someone still holds this role. ${sentence(d ?? 'Take it from every member first')}`,
  tenant_has_children: () => 'This tenant has tenants below it. Move or delete them first.',
};

function sentence(text: string): string {
  const capital = text.charAt(0).toUpperCase() + text.slice(1);
  return /[.!?]$/.test(capital) ? capital : `${capital}.`;
}

export function explainProblem(error: unknown): string {
  if (!(error instanceof ProblemError)) return 'Tenantry could not be reached. Check your connection and try again.';
  const p = error.problem;
  const advice = p.code === undefined ? undefined : ADVICE[p.code];
  if (advice !== undefined) return advice(p.detail);
  if (p.status === 404) return sentence(p.detail ?? 'Not found, or you have no access to it');
  if (p.status === 403) return p.detail ? `Not allowed: ${p.detail}` : 'You are not allowed to do this here.';
  return sentence(p.detail ?? p.title);
}
