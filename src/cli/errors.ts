/**
 * The two ways a `corral` command fails: the command line was wrong (exit 2), or the command
 * could not do its job (exit 1). Messages say what to do next.
 * @module
 */

/**
 * UsageError: a bad flag, a missing argument or a bad value. The CLI prints it with a pointer to
 * the command's help and exits 2.
 */
export class UsageError extends Error {
  /** Always `'ERR_CORRAL_CLI_USAGE'`. */
  readonly code = 'ERR_CORRAL_CLI_USAGE' as const;
  /** The command whose help to point at, if any. */
  readonly command: string | undefined;
  constructor(message: string, command?: string) {
    super(message);
    this.name = 'UsageError';
    this.command = command;
  }
}

/** CliError: the command ran and failed (a service that cannot be reached, a bad answer). Exit 1 unless `exitCode` says otherwise. */
export class CliError extends Error {
  /** Always `'ERR_CORRAL_CLI'`. */
  readonly code = 'ERR_CORRAL_CLI' as const;
  readonly exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}
