import { redactText } from '../../connections/redact.js';
import type { Logger } from '../../logger.js';
import { colours } from './colour.js';

/** Logs go to stderr only, redacted, so stdout stays clean for --format json. */
export function stderrLogger(options: { quiet: boolean; verbose: boolean; color: boolean }): Logger {
  const c = colours(options.color, process.stderr);
  const write = (
    level: string,
    paint: (s: string) => string,
    message: string,
    fields?: Record<string, unknown>,
  ) => {
    const extra = fields && Object.keys(fields).length > 0 ? ` ${redactText(JSON.stringify(fields))}` : '';
    process.stderr.write(`${paint(level)} ${redactText(message)}${c.dim(extra)}\n`);
  };
  return {
    debug: (m, f) => options.verbose && write('debug', c.gray, m, f),
    info: (m, f) => !options.quiet && write('info ', c.cyan, m, f),
    warn: (m, f) => !options.quiet && write('warn ', c.yellow, m, f),
    error: (m, f) => write('error', c.red, m, f),
  };
}
