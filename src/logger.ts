/**
 * The core logs through this interface only; the CLI decides where it goes (always stderr, so
 * `--format json` stdout stays clean) and how loud it is.
 */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};

/** Reports progress of long work; the CLI draws it on a TTY, otherwise it is a no-op. */
export interface Progress {
  start(label: string, total?: number): void;
  update(done: number, total?: number): void;
  stop(): void;
}

export const noProgress: Progress = { start() {}, update() {}, stop() {} };
