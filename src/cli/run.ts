import { ConfigError, loadConfig } from '../platform/config.ts';
import { DataDirLockedError } from '../platform/db/data-dir-lock.ts';
import { type CliEnv, type CliIo, type Command, isHelp } from './command.ts';
import { admin } from './commands/admin.ts';
import { apiKeys } from './commands/api-keys.ts';
import { doctor } from './commands/doctor.ts';
import { keys } from './commands/keys.ts';
import { migrate } from './commands/migrate.ts';
import { serve } from './commands/serve.ts';

/** Every CLI command; a new one is a file in commands/ and a line here. */
const COMMANDS: readonly Command[] = [serve, migrate, doctor, keys, apiKeys, admin];

const processIo: CliIo = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};

function help(io: CliIo): void {
  io.out('Usage: tenantry <command> [options]\n\nCommands:');
  for (const c of COMMANDS) io.out(`  ${(c.usage ?? c.name).padEnd(28)} ${c.summary}`);
  io.out('\n`tenantry <command> --help` explains a command. Configuration comes from the environment: see README.md, "Configuration".');
}

/**
 * The `tenantry` command line, without touching the process: `argv` without the node and script paths,
 * output through `io`, configuration from `env`. Returns the exit code (src/cli/main.ts sets it).
 */
export async function main(argv: string[], options: { io?: CliIo; env?: CliEnv } = {}): Promise<number> {
  const io = options.io ?? processIo;
  const env = options.env ?? process.env;
  const [name, ...args] = argv;
  if (name === undefined || isHelp(name)) {
    help(io);
    return name === undefined ? 1 : 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (command === undefined) {
    io.err(`tenantry: unknown command "${name}"`);
    help(io);
    return 1;
  }
  if (command.handlesHelp !== true && isHelp(args[0])) {
    io.out(`Usage: tenantry ${command.usage ?? command.name}\n\n${command.summary}`);
    return 0;
  }
  try {
    return await command.run(args, loadConfig(env), io, env);
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
