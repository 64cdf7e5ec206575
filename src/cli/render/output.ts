import type { CliContext } from '../context.js';
import type { OutputFormat } from '../global-options.js';

export type Renderers<T> = { table: (result: T) => string } & Partial<
  Record<Exclude<OutputFormat, 'table' | 'json'>, (result: T) => string>
> & {
    json?: (result: T) => unknown;
  };

/**
 * Prints a command's typed result: JSON for scripts (the result object itself, stable and
 * documented), or the renderer's text for people. Always to stdout; logs go to stderr.
 */
export function render<T>(ctx: CliContext, result: T, renderers: Renderers<T>): void {
  const allowed = [
    'table',
    'json',
    ...Object.keys(renderers).filter((k) => k !== 'table' && k !== 'json'),
  ] as OutputFormat[];
  const format = ctx.format(allowed);
  if (format === 'json') {
    const value = renderers.json ? renderers.json(result) : result;
    process.stdout.write(`${JSON.stringify(value, jsonReplacer, 2)}\n`);
    return;
  }
  const fn = renderers[format as keyof Renderers<T>] as ((r: T) => string) | undefined;
  const text = fn!(result);
  if (text) process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Map) return Object.fromEntries(value);
  return value;
}
