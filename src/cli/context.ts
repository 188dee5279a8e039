import type { Engine } from '../engine/engine.js';

/** What a command handler gets: the engine (opened on first use) and the process's streams. */
export interface CliContext {
  engine(): Promise<Engine>;
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
  stdin: NodeJS.ReadStream;
  globals: { root: string; runroot: string; runtime?: string; debug: boolean };
  /** Prints a line to stdout. */
  out(line: string): void;
  /** Prints text as it is (a rendered table) to stdout, without building process.stdout. */
  print(text: string): void;
  /** Prints a line to stderr. */
  err(line: string): void;
}
