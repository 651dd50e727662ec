// Regenerates docs/errors.md from the error catalogues: `npm run errors`.
import { writeFile } from 'node:fs/promises';
import { collectErrors, ERRORS_FILE, renderErrorDocs } from '../src/platform/http/error-docs.ts';

await writeFile(ERRORS_FILE, renderErrorDocs(await collectErrors()));
console.log(`wrote ${ERRORS_FILE.pathname}`);
