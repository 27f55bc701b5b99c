/**
 * What the CLI's exit status says (README: CLI exit codes). A command that waits for an
 * operation exits with how the operation ended; `connect` exits with the client tool's status.
 */
export const EXIT = {
  /** Done; a waited-for operation completed. */
  ok: 0,
  /** The operation failed (its error is printed). */
  failed: 1,
  /** Bad command line: unknown command or option, missing argument, no project. */
  usage: 2,
  /** The API refused or failed the request (its problem is printed), or could not be reached. */
  api: 3,
  /** The operation was aborted. */
  aborted: 4,
  /** A local failure: a download whose SHA-256 differs, a file that cannot be read or written, a missing client tool. */
  local: 5,
  /** `--timeout` passed before the operation ended; it goes on. */
  timedOut: 6,
  /** Ctrl-C while waiting: the CLI stopped waiting, the operation goes on. */
  interrupted: 130,
} as const;

/** An error the CLI reports as one line and turns into an exit status. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

export const usageError = (message: string) => new CliError(message, EXIT.usage);
