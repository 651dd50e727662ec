import { main } from './run.ts';

// The entry point bin/tenantry.js imports; everything else is in run.ts, which tests call in-process.
process.exitCode = await main(process.argv.slice(2));
