import type { Config } from '../platform/config.ts';

export interface CliIo {
  out: (line: string) => void;
  err: (line: string) => void;
}

export interface Command {
  name: string;
  summary: string;
  usage?: string;
  /** Returns the process exit code. */
  run(args: string[], config: Config, io: CliIo): Promise<number>;
}
