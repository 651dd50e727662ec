// Builds the portal into portal/dist (`npm run portal:build`) and prints the first-load JavaScript, gzipped.
import { buildPortal, firstLoadJsGzipBytes, PORTAL_JS_BUDGET_BYTES } from '../src/portal/build.ts';

await buildPortal();
const bytes = await firstLoadJsGzipBytes();
console.log(`portal built: first-load JavaScript ${(bytes / 1024).toFixed(1)} KB gzipped (budget ${PORTAL_JS_BUDGET_BYTES / 1024} KB)`);
if (bytes > PORTAL_JS_BUDGET_BYTES) {
  console.error('over budget: the portal must load in at most 250 KB of gzipped JavaScript');
  process.exit(1);
}
