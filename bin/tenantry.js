#!/usr/bin/env node
// The CLI is TypeScript run by Node's type stripping (Node 24+); npm scripts put the pinned Node first on PATH.
await import('../src/cli/main.ts');
