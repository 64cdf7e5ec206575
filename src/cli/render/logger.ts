import type { ChalkInstance } from 'chalk';

import { redactText } from '../../connections/redact.js';
import type { Logger } from '../../logger.js';
import { colours } from './colour.js';

/** Logs go to stderr only, redacted, so stdout stays clean for --format json. */
export function stderrLogger(options: { quiet: boolean; verbose: boolean; color: boolean }): Logger {
  // chalk is loaded with the first line logged: a quiet run (cron, `backup run` with nothing to
  // report) never needs it, and loading it cost ~15 ms of every command's start-up.
  let c: ChalkInstance | undefined;
  const write = (
    level: string,
    paint: (c: ChalkInstance) => (s: string) => string,
    message: string,
    fields?: Record<string, unknown>,
  ) => {
    c ??= colours(options.color, process.stderr);
    const extra = fields && Object.keys(fields).length > 0 ? ` ${redactText(JSON.stringify(fields))}` : '';
    process.stderr.write(`${paint(c)(level)} ${redactText(message)}${c.dim(extra)}\n`);
  };
  return {
    debug: (m, f) => options.verbose && write('debug', (k) => k.gray, m, f),
    info: (m, f) => !options.quiet && write('info ', (k) => k.cyan, m, f),
    warn: (m, f) => !options.quiet && write('warn ', (k) => k.yellow, m, f),
    error: (m, f) => write('error', (k) => k.red, m, f),
  };
}
