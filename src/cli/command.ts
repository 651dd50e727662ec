import type { Config } from '../platform/config.ts';

export interface CliIo {
  out: (line: string) => void;
  err: (line: string) => void;
}

/** The process environment, or what a test passes in its place. */
export type CliEnv = Readonly<Record<string, string | undefined>>;

export interface Command {
  name: string;
  summary: string;
  usage?: string;
  /**
   * The command answers `--help` itself (at every level of its subcommands). Otherwise `tenantry <command> --help`
   * prints the usage and summary without running it (`serve --help` must never start a server).
   */
  handlesHelp?: boolean;
  /** Returns the process exit code. `env`: where `config` came from (default: the process environment). */
  run(args: string[], config: Config, io: CliIo, env?: CliEnv): Promise<number>;
}

/** `--help`, `-h` or `help`: what every level of the CLI answers with its usage and exit code 0. */
export function isHelp(arg: string | undefined): boolean {
  return arg === '--help' || arg === '-h' || arg === 'help';
}
