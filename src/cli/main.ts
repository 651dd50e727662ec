import { ConfigError, loadConfig } from '../platform/config.ts';
import { DataDirLockedError } from '../platform/db/data-dir-lock.ts';
import type { CliIo, Command } from './command.ts';
import { admin } from './commands/admin.ts';
import { apiKeys } from './commands/api-keys.ts';
import { doctor } from './commands/doctor.ts';
import { keys } from './commands/keys.ts';
import { migrate } from './commands/migrate.ts';
import { serve } from './commands/serve.ts';

/** Every CLI command; a new one is a file in commands/ and a line here. */
const COMMANDS: readonly Command[] = [serve, migrate, doctor, keys, apiKeys, admin];

const io: CliIo = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};

function help(): void {
  io.out('Usage: tenantry <command> [options]\n\nCommands:');
  for (const c of COMMANDS) io.out(`  ${(c.usage ?? c.name).padEnd(28)} ${c.summary}`);
  io.out('\nConfiguration comes from the environment: see README.md, "Configuration".');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    help();
    return name === undefined ? 1 : 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (command === undefined) {
    io.err(`tenantry: unknown command "${name}"`);
    help();
    return 1;
  }
  try {
    return await command.run(args, loadConfig(), io);
  } catch (error) {
    // Expected operator mistakes get one clear line; anything else keeps its stack for a bug report.
    if (error instanceof ConfigError || error instanceof DataDirLockedError || (error instanceof Error && error.name === 'UnsafeDatabaseError')) {
      io.err(`tenantry ${name}: ${error.message}`);
    } else {
      io.err(`tenantry ${name} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    }
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
