/** One CLI subcommand. `run` returns the process exit code. */
export interface Command {
  name: string;
  /** One line for `d2po --help`. */
  summary: string;
  /** Full text for `d2po NAME --help`. */
  help: string;
  run(argv: string[]): Promise<number>;
}

/** Thrown for bad user input; main prints the message alone (no stack) and exits 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}
