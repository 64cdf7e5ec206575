/**
 * The one error hierarchy. The core throws these; only src/cli/exit.ts prints them and turns
 * `exitCode` into the process exit code (see README "Exit codes").
 */
export const ExitCode = {
  ok: 0,
  checksFailed: 1,
  usage: 2,
  connection: 3,
  tool: 4,
  storage: 5,
  interrupted: 130,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export interface DbopsErrorOptions {
  /** What the operator should do next, printed under the message. */
  hint?: string;
  cause?: unknown;
}

export class DbopsError extends Error {
  readonly exitCode: ExitCodeValue = ExitCode.usage;
  readonly hint: string | undefined;
  constructor(message: string, options: DbopsErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.hint = options.hint;
  }
}

/** Bad flags, bad config file, bad input (exit 2). */
export class ConfigError extends DbopsError {
  override readonly exitCode = ExitCode.usage;
  /** One entry per problem, each starting with its path in the file (`targets.main.url: …`). */
  readonly problems: string[];
  constructor(message: string, options: DbopsErrorOptions & { problems?: string[] } = {}) {
    super(message, options);
    this.problems = options.problems ?? [];
  }
}

/** Cannot reach or authenticate to a database (exit 3). */
export class ConnectionError extends DbopsError {
  override readonly exitCode = ExitCode.connection;
}

/** An external binary is missing, too old, or failed (exit 4). */
export class ToolError extends DbopsError {
  override readonly exitCode = ExitCode.tool;
  readonly tool: string;
  /** argv with secrets removed, for the message. */
  readonly argv: string[];
  readonly toolExitCode: number | undefined;
  readonly stderrTail: string;
  constructor(
    message: string,
    options: DbopsErrorOptions & {
      tool: string;
      argv?: string[];
      toolExitCode?: number;
      stderrTail?: string;
    },
  ) {
    super(message, options);
    this.tool = options.tool;
    this.argv = options.argv ?? [];
    this.toolExitCode = options.toolExitCode;
    this.stderrTail = options.stderrTail ?? '';
  }
}

/** A repository (local directory or S3) cannot be read or written (exit 5). */
export class StorageError extends DbopsError {
  override readonly exitCode = ExitCode.storage;
}

/** Checks ran and found problems: analyze gates, verify mismatches, RPO gates (exit 1). */
export class ChecksFailed extends DbopsError {
  override readonly exitCode = ExitCode.checksFailed;
}

/** The work was interrupted by SIGINT/SIGTERM (exit 130). */
export class Interrupted extends DbopsError {
  override readonly exitCode = ExitCode.interrupted;
}

/** An aborted signal's reason as a dbops error: a lost lease says so, Ctrl-C is exit 130. */
export function abortError(signal: AbortSignal): DbopsError {
  const reason: unknown = signal.reason;
  return reason instanceof DbopsError ? reason : new Interrupted('interrupted');
}

/** Turns anything thrown into an Error without losing it. */
export function coerceError(err: unknown): Error {
  if (err instanceof Error) return err;
  return new Error(typeof err === 'string' ? err : JSON.stringify(err));
}
