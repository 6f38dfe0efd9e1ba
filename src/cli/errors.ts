/**
 * An error that ends a command with a message for the user and an exit status. Commands
 * throw it; only cli/program.ts prints it, and only src/cli.ts calls process.exit.
 */
export class CliError extends Error {
  readonly exitCode: number;

  constructor(message: string, exitCode = 1) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}

/** Exit statuses: 0 done, 1 the operation failed, 2 the command line was wrong, 130 interrupted. */
export const EXIT = { ok: 0, failed: 1, usage: 2, interrupted: 130 } as const;
