import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { main } from '../../src/cli/run.ts';

export const CLI_BIN = fileURLToPath(new URL('../../bin/tenantry.js', import.meta.url));

export interface CliResult {
  code: number | null;
  out: string;
  err: string;
}

/**
 * Runs a `tenantry` command in this process (`main` from src/cli/run.ts, as bin/tenantry.js does) with extra
 * environment, collecting its exit code and output: no process to start, no second copy of the modules to load.
 */
export async function runCli(args: string[], env: Record<string, string>): Promise<CliResult> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, { env: { ...process.env, ...env }, io: { out: (line) => out.push(`${line}\n`), err: (line) => err.push(`${line}\n`) } });
  return { code, out: out.join(''), err: err.join('') };
}

/** Runs the real `tenantry` binary in a process of its own: for what only another process shows (locks, signals). */
export function runCliProcess(args: string[], env: Record<string, string>): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI_BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    child.stderr.on('data', (d: Buffer) => (err += d));
    child.on('close', (code) => resolve({ code, out, err }));
  });
}
