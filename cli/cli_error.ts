/**
 * How an operator command ends when it cannot succeed: a message for stderr
 * and the exit code scripts rely on (see `cortex --help`).
 */

/** Exit codes of every `cortex` operator command. */
export const EXIT = {
  ok: 0,
  /** The gateway or a neuron said no, or could not be reached. */
  failed: 1,
  /** Bad usage or configuration: the command never ran. */
  usage: 2,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export class CliError extends Error {
  override name = "CliError";
  constructor(message: string, readonly exitCode: ExitCode = EXIT.failed) {
    super(message);
  }
}

/** A usage or configuration error (exit 2). */
export function usageError(message: string): CliError {
  return new CliError(message, EXIT.usage);
}
