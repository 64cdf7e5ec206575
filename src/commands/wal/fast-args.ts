/**
 * The argument shapes the WAL fast paths accept (`wal push FILE`, `wal fetch NAME PATH`, the
 * internal `wal push-worker`); anything else is left to the full CLI. No imports: the quickest
 * path (quick-cli.ts) loads this and nothing else of dbops (the import below is a type only).
 */
import type { WalCliOptions } from './run-cli.js';

export interface FastArgs extends WalCliOptions {
  command: 'push' | 'fetch' | 'push-worker';
  positional: string[];
}

const VALUE_OPTIONS = new Set([
  '--config',
  '--repo',
  '--target',
  '--parallel',
  '--prefetch',
  '--format',
  '--skip',
]);
const FLAG_OPTIONS = new Set(['--quiet', '-q', '--verbose', '-v', '--no-color', '--yes', '-y']);

export function parseFastArgs(argv: string[]): FastArgs | undefined {
  const args = argv.slice(2);
  const positional: string[] = [];
  const values: Record<string, string> = {};
  const flags = new Set<string>();
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') {
      positional.push(...args.slice(i + 1));
      break;
    }
    if (a.startsWith('-') && a !== '-') {
      const eq = a.indexOf('=');
      const name = eq > 0 ? a.slice(0, eq) : a;
      if (VALUE_OPTIONS.has(name)) {
        const value = eq > 0 ? a.slice(eq + 1) : args[++i];
        if (value === undefined) return undefined;
        values[name] = value;
      } else if (FLAG_OPTIONS.has(a)) flags.add(a);
      else return undefined; // --help, --url, anything else: the full CLI handles it
      continue;
    }
    positional.push(a);
  }
  // push-worker is internal: the background worker a push starts (worker.ts); not in --help.
  const command = positional[1];
  if (positional[0] !== 'wal' || (command !== 'push' && command !== 'fetch' && command !== 'push-worker'))
    return undefined;
  const rest = positional.slice(2);
  if (rest.length !== (command === 'fetch' ? 2 : 1)) return undefined;
  if (values['--skip'] !== undefined && command !== 'push-worker') return undefined;
  const int = (v: string | undefined) => (v === undefined ? undefined : Number(v));
  const parallel = int(values['--parallel']);
  const prefetch = int(values['--prefetch']);
  if (
    (parallel !== undefined && !(Number.isInteger(parallel) && parallel >= 1)) ||
    (prefetch !== undefined && !(Number.isInteger(prefetch) && prefetch >= 0))
  ) {
    return undefined;
  }
  if (values['--format'] !== undefined && values['--format'] !== 'json' && values['--format'] !== 'table')
    return undefined;
  return {
    command,
    positional: rest,
    ...(values['--config'] !== undefined ? { config: values['--config'] } : {}),
    ...(values['--repo'] !== undefined ? { repo: values['--repo'] } : {}),
    ...(values['--target'] !== undefined ? { target: values['--target'] } : {}),
    ...(parallel !== undefined ? { parallel } : {}),
    ...(prefetch !== undefined ? { prefetch } : {}),
    ...(values['--skip'] !== undefined ? { skip: values['--skip'] } : {}),
    quiet: flags.has('--quiet') || flags.has('-q'),
    verbose: flags.has('--verbose') || flags.has('-v'),
    json: values['--format'] === 'json',
  };
}
