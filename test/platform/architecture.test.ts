import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

/**
 * One direction of imports (STYLE.md): routes → service → repository. Routes never touch SQL,
 * repositories never know HTTP, nothing below a route imports a route, and the shared platform
 * imports no feature (type-only imports for the composition root's dependency types excepted).
 */
const SRC = fileURLToPath(new URL('../../src/', import.meta.url));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sourceFiles(path.join(dir, entry.name)) : entry.name.endsWith('.ts') ? [path.join(dir, entry.name)] : [],
  );
}

/** Value imports only: `import type` erases at run time and carries no dependency. */
function valueImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/^import\s+(?!type\s)[^;]*?from\s+'([^']+)'/gms)].map((m) => m[1] ?? '');
}

const files = sourceFiles(SRC).map((file) => ({ file: path.relative(SRC, file), imports: valueImports(file) }));

describe('import direction', () => {
  it('keeps SQL out of routes', () => {
    const offenders = files.filter((f) => f.file.endsWith('.routes.ts') && f.imports.includes('kysely')).map((f) => f.file);
    assert.deepEqual(offenders, []);
  });

  it('keeps SQL in repositories: no query builder call in a service', () => {
    const offenders = sourceFiles(SRC)
      .filter((file) => file.endsWith('.service.ts') && /\.(selectFrom|insertInto|updateTable|deleteFrom)\(|\bsql`/.test(readFileSync(file, 'utf8')))
      .map((file) => path.relative(SRC, file));
    assert.deepEqual(offenders, []);
  });

  it('queries memberships in one repository (members/memberships.repository.ts)', () => {
    const table =
      /\.(selectFrom|insertInto|updateTable|deleteFrom|innerJoin|leftJoin)\(\s*'(memberships|membership_roles)\b|\b(FROM|JOIN|INTO|UPDATE)\s+(memberships|membership_roles)\b/;
    const offenders = sourceFiles(SRC)
      .filter((file) => !file.includes(`${path.sep}migrations${path.sep}`) && !file.endsWith(`members${path.sep}memberships.repository.ts`))
      .filter((file) => table.test(readFileSync(file, 'utf8')))
      .map((file) => path.relative(SRC, file));
    assert.deepEqual(offenders, []);
  });

  it('keeps Fastify out of services and the authorization rules (the HTTP glue is authorize.http.ts)', () => {
    const offenders = sourceFiles(SRC)
      .filter((file) => /\.service\.ts$|permissions[\\/]authorize\.ts$/.test(file) && /from 'fastify'/.test(readFileSync(file, 'utf8')))
      .map((file) => path.relative(SRC, file));
    assert.deepEqual(offenders, []);
  });

  it('keeps HTTP out of repositories', () => {
    const offenders = files.filter((f) => f.file.endsWith('.repository.ts') && f.imports.some((i) => i === 'fastify' || /\.(routes|service)\.ts$/.test(i))).map((f) => f.file);
    assert.deepEqual(offenders, []);
  });

  it('never imports a route from a service or repository', () => {
    const offenders = files.filter((f) => /\.(service|repository)\.ts$/.test(f.file) && f.imports.some((i) => i.endsWith('.routes.ts'))).map((f) => f.file);
    assert.deepEqual(offenders, []);
  });

  it('never imports a route from another route (shared HTTP pieces live in *.http.ts or platform/http/)', () => {
    const offenders = files
      .filter((f) => f.file.endsWith('.routes.ts') && f.imports.some((i) => i.endsWith('.routes.ts')))
      .map((f) => `${f.file}: ${f.imports.filter((i) => i.endsWith('.routes.ts')).join(', ')}`);
    assert.deepEqual(offenders, []);
  });

  it('writes the id patterns once, in platform/ids.ts: schemas and checks build on them', () => {
    const patterns = /t\[a-z2-7\]\{15\}|(usr|ses|inv|key|apr|aud)_\[a-z2-7\]\{20\}/;
    const offenders = sourceFiles(SRC)
      .filter((file) => !file.includes(`${path.sep}migrations${path.sep}`) && !file.endsWith(`platform${path.sep}ids.ts`))
      .filter((file) =>
        readFileSync(file, 'utf8')
          .split('\n')
          .some((line) => patterns.test(line) && !/SECRET_SHAPE/.test(line)),
      )
      .map((file) => path.relative(SRC, file));
    assert.deepEqual(offenders, []);
  });

  it('keeps the shared platform free of features', () => {
    const offenders = files
      .filter((f) => f.file.startsWith('platform/') && f.imports.some((i) => i.startsWith('../') && !/^(\.\.\/)+(platform\/|db\/|http\/|[a-z-]+\.ts$)/.test(i)))
      .map((f) => `${f.file}: ${f.imports.filter((i) => i.startsWith('../')).join(', ')}`);
    assert.deepEqual(offenders, []);
  });
});
