import { redactText } from '../connections/redact.js';
import { DbopsError, ExitCode } from '../errors.js';
import { colours } from './render/colour.js';

/**
 * The only place that prints an error and chooses the exit code. Every message is redacted.
 * With --format json a machine-readable error object also goes to stdout.
 */
export function reportError(
  err: unknown,
  options: { color: boolean; json: boolean; verbose: boolean },
): void {
  const c = colours(options.color, process.stderr);
  let exitCode: number;
  let message: string;
  let hint: string | undefined;
  let problems: string[] = [];
  if (err instanceof DbopsError) {
    exitCode = err.exitCode;
    message = err.message;
    hint = err.hint;
    problems = 'problems' in err && Array.isArray(err.problems) ? (err.problems as string[]) : [];
  } else if (isCommanderError(err)) {
    // commander printed its own message already (unknown option, missing argument …).
    process.exitCode = err.exitCode === 0 ? 0 : ExitCode.usage;
    return;
  } else if (err instanceof Error && err.name === 'AbortError') {
    exitCode = ExitCode.interrupted;
    message = 'interrupted';
  } else {
    // An unexpected failure is a bug or an unclassified environment problem: show it in full.
    exitCode = 1;
    message =
      err instanceof Error ? (options.verbose ? (err.stack ?? err.message) : err.message) : String(err);
  }
  const lines = [`${c.red('error:')} ${redactText(message)}`];
  for (const p of problems) lines.push(`  ${redactText(p)}`);
  if (hint) lines.push(`${c.yellow('hint:')} ${redactText(hint)}`);
  if (options.verbose && err instanceof Error && err.cause instanceof Error) {
    lines.push(c.dim(`cause: ${redactText(err.cause.stack ?? err.cause.message)}`));
  }
  process.stderr.write(`${lines.join('\n')}\n`);
  if (options.json) {
    const body = {
      error: {
        message: redactText(message),
        exitCode,
        ...(err instanceof DbopsError ? { kind: err.name } : {}),
        ...(problems.length ? { problems: problems.map(redactText) } : {}),
        ...(hint ? { hint: redactText(hint) } : {}),
      },
    };
    process.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
  }
  process.exitCode = exitCode;
}

function isCommanderError(err: unknown): err is { code: string; exitCode: number } {
  return (
    typeof err === 'object' &&
    err !== null &&
    'code' in err &&
    String((err as { code: unknown }).code).startsWith('commander.')
  );
}

export { setExitCode } from './exit-code.js';
