import fp from 'fastify-plugin';
import { isUtf8 } from 'node:buffer';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AppError, HttpErrors } from './errors.ts';

/**
 * How deeply a JSON body may nest objects and arrays: the body itself is level 1, so in
 * `{"data": {"a": {}}}` the innermost object is level 3. Deeper bodies are refused (`422 nesting_too_deep`)
 * before anything recursive (schema validation, merge patches, JSON.stringify, the database driver) sees
 * them. Generous for any real `data` object, far below what would exhaust the stack.
 */
export const MAX_JSON_DEPTH = 32;

/**
 * What PostgreSQL cannot store in `text` or `jsonb`: NUL (U+0000), and a UTF-16 surrogate without its
 * partner (JSON may spell one as `"\ud800"`; it is not a character, and jsonb rejects it). With the `u`
 * flag `\p{Cs}` matches only unpaired surrogates: a well-formed pair is one code point.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding NUL is the point (PostgreSQL text cannot store it)
const UNSTORABLE = /\u0000|\p{Cs}/u;

/** Where a bad value was found, in the vocabulary of `validation_failed` problems. */
export interface InputProblem {
  kind: 'text' | 'depth';
  /** Fastify's name for the part of the request: `body`, `querystring`, `params`, `headers`. */
  in: string;
  /** JSON pointer within that part (`/` for the whole of it). */
  path: string;
  message: string;
}

/** A step down from the root; the pointer is built only when something is wrong. */
interface Segment {
  parent: Segment | undefined;
  name: string;
}

/**
 * The first string (value or member name) that cannot be stored, or the first container nested deeper
 * than `maxDepth`, in `value`; undefined when there is none. Iterative, with an explicit stack, so a
 * body nested a million levels deep is refused rather than overflowing the call stack.
 */
export function findUnstorable(value: unknown, part: string, maxDepth = MAX_JSON_DEPTH): InputProblem | undefined {
  const stack: Array<{ value: unknown; at: Segment | undefined; depth: number }> = [{ value, at: undefined, depth: 0 }];
  while (stack.length > 0) {
    const top = stack.pop();
    if (top === undefined) break;
    const { value: current, at, depth } = top;
    if (typeof current === 'string') {
      const bad = describeBadText(current);
      if (bad !== undefined) return { kind: 'text', in: part, path: pointer(at), message: `the value contains ${bad}` };
      continue;
    }
    if (current === null || typeof current !== 'object') continue;
    if (depth + 1 > maxDepth) {
      return { kind: 'depth', in: part, path: pointer(at), message: `objects and arrays may be nested at most ${maxDepth} levels deep` };
    }
    if (Array.isArray(current)) {
      for (let i = current.length - 1; i >= 0; i--) stack.push({ value: current[i], at: { parent: at, name: String(i) }, depth: depth + 1 });
      continue;
    }
    const names = Object.keys(current);
    for (const name of names.toReversed()) {
      const segment = { parent: at, name };
      const bad = describeBadText(name);
      if (bad !== undefined) return { kind: 'text', in: part, path: pointer(segment), message: `the member name contains ${bad}` };
      stack.push({ value: (current as Record<string, unknown>)[name], at: segment, depth: depth + 1 });
    }
  }
  return undefined;
}

function describeBadText(text: string): string | undefined {
  const match = UNSTORABLE.exec(text);
  if (match === null) return undefined;
  return match[0] === '\u0000' ? 'a NUL character (U+0000)' : `an unpaired UTF-16 surrogate (\\u${match[0].charCodeAt(0).toString(16)})`;
}

/** RFC 6901 pointer, with the offending characters spelled as escapes and the whole kept short. */
function pointer(at: Segment | undefined): string {
  const names: string[] = [];
  for (let s = at; s !== undefined; s = s.parent) names.push(s.name);
  if (names.length === 0) return '/';
  const text = names
    .reverse()
    .map((name) => `/${name.replaceAll('~', '~0').replaceAll('/', '~1')}`)
    .join('')
    // biome-ignore lint/suspicious/noControlCharactersInRegex: escapes the NULs the check above refused
    .replace(/\u0000|\p{Cs}/gu, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

/**
 * One global `preValidation` hook, before any schema, route hook or handler: the body (however it was
 * parsed), path and query parameters and headers must hold only storable text, and the body must not
 * nest deeper than MAX_JSON_DEPTH. Refused requests are `422 invalid_text` or `422 nesting_too_deep`,
 * naming the part and pointer, and nothing has been read from or written to the database for them
 * (authentication, which runs earlier, reads only credentials it has shape-checked).
 */
export const inputGuard = fp(
  async (app: FastifyInstance) => {
    app.addHook('preValidation', async (request) => {
      const problem = inspect(request);
      if (problem === undefined) return;
      const where = `${problem.in} ${problem.path}`;
      throw new AppError(problem.kind === 'depth' ? HttpErrors.NESTING_TOO_DEEP : HttpErrors.INVALID_TEXT, {
        detail: `${where}: ${problem.message}`,
        errors: [{ in: problem.in, path: problem.path, message: problem.message }],
      });
    });
  },
  { name: 'tenantry-input-guard' },
);

function inspect(request: FastifyRequest): InputProblem | undefined {
  return (
    findUnstorable(request.params, 'params') ?? findUnstorable(request.query, 'querystring') ?? findUnstorable(request.headers, 'headers') ?? findUnstorable(request.body, 'body')
  );
}

/**
 * JSON bodies are UTF-8 (RFC 8259 §8.1). Fastify's parser decodes whatever arrives, putting U+FFFD where bytes are
 * not UTF-8 — so two different byte strings could become one password — and ignores a declared charset. Here a
 * charset other than UTF-8 is `415 unsupported_media_type` and bytes that are not UTF-8 are `422 invalid_text`;
 * everything else goes to Fastify's own parser (prototype-poisoning protection included).
 */
export const jsonParser = fp(
  async (app: FastifyInstance) => {
    const parse = app.getDefaultJsonParser('error', 'error');
    app.removeContentTypeParser('application/json');
    app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
      const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(request.headers['content-type'] ?? '')?.[1];
      if (charset !== undefined && !/^utf-?8$/i.test(charset)) {
        return done(new AppError(HttpErrors.UNSUPPORTED_MEDIA_TYPE, { detail: `JSON bodies are UTF-8, not ${charset}` }), undefined);
      }
      const bytes = body as Buffer;
      if (!isUtf8(bytes)) return done(new AppError(HttpErrors.INVALID_TEXT, { detail: 'the body is not valid UTF-8' }), undefined);
      // Fastify's default parser answers through `done`; it returns nothing to wait for.
      void parse(request, bytes.toString('utf8'), done);
    });
  },
  { name: 'tenantry-json-parser' },
);
