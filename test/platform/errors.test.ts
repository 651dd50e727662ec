import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { collectErrors, ERRORS_FILE, renderErrorDocs } from '../../src/platform/http/error-docs.ts';

describe('the error catalogues', () => {
  it('define every code exactly once, so one code has one status and one title everywhere', async () => {
    const errors = await collectErrors();
    assert.ok(errors.length >= 80, `${errors.length} errors found`);
    const byCode = new Map<string, string[]>();
    for (const e of errors) byCode.set(e.spec.code, [...(byCode.get(e.spec.code) ?? []), `${e.module} ${e.name}`]);
    assert.deepEqual(
      [...byCode].filter(([, places]) => places.length > 1),
      [],
    );
  });

  it('match the committed docs/errors.md (run `npm run errors` after changing a catalogue)', async () => {
    assert.equal(await readFile(ERRORS_FILE, 'utf8'), renderErrorDocs(await collectErrors()));
  });
});
