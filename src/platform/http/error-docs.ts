import { readdir } from 'node:fs/promises';
import type { ErrorSpec } from './errors.ts';

/** Where the catalogue of error codes is published (generated; `npm run errors`, checked for drift by the tests). */
export const ERRORS_FILE = new URL('../../../docs/errors.md', import.meta.url);

const SRC = new URL('../../', import.meta.url);

/** Modules that define error catalogues besides the `*.errors.ts` ones. */
const OTHER_CATALOGUES = ['platform/http/errors.ts', 'platform/http/idempotency.ts'];

export interface CataloguedError {
  /** The defining module, relative to src/. */
  module: string;
  /** `Catalogue.KEY`, as code refers to it. */
  name: string;
  spec: ErrorSpec;
}

function isSpec(value: unknown): value is ErrorSpec {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as ErrorSpec).code === 'string' &&
    typeof (value as ErrorSpec).status === 'number' &&
    typeof (value as ErrorSpec).title === 'string'
  );
}

/** Every error of every catalogue under src/ (an exported object whose members are all error specs). */
export async function collectErrors(): Promise<CataloguedError[]> {
  const modules = [...(await readdir(SRC, { recursive: true })).filter((file) => file.endsWith('.errors.ts')), ...OTHER_CATALOGUES].sort();
  const errors: CataloguedError[] = [];
  for (const module of modules) {
    const exports = (await import(new URL(module, SRC).href)) as Record<string, unknown>;
    for (const [catalogue, value] of Object.entries(exports)) {
      if (typeof value !== 'object' || value === null) continue;
      const members = Object.entries(value);
      if (members.length === 0 || !members.every(([, spec]) => isSpec(spec))) continue;
      for (const [key, spec] of members) errors.push({ module, name: `${catalogue}.${key}`, spec: spec as ErrorSpec });
    }
  }
  return errors;
}

/** docs/errors.md: every code once, by status, with its title and where it is defined. */
export function renderErrorDocs(errors: readonly CataloguedError[]): string {
  const rows = [...errors].sort((a, b) => a.spec.status - b.spec.status || a.spec.code.localeCompare(b.spec.code));
  return [
    '# Error codes',
    '',
    'Every error the API answers is an RFC 9457 `application/problem+json` document whose `code` is one of these; the',
    '`type` is `https://tenantry.dev/problems/<code with dashes>`. Codes are part of the API contract: they are never',
    'renamed or reused. Generated from the error catalogues in `src/` by `npm run errors`; a test fails when this file',
    'and the catalogues disagree, or when a code is defined twice.',
    '',
    '| status | code | title | defined in |',
    '|---|---|---|---|',
    ...rows.map((e) => `| ${e.spec.status} | \`${e.spec.code}\` | ${e.spec.title.replaceAll('|', '\\|')} | \`src/${e.module}\` (\`${e.name}\`) |`),
    '',
  ].join('\n');
}
