import { fileURLToPath } from 'node:url';
import { execa } from 'execa';

export const DBOPS_BIN = fileURLToPath(new URL('../../bin/dbops.cjs', import.meta.url));
/** The package's `dbops` command: a shell script that answers some `wal push` calls itself. */
export const DBOPS_SH = fileURLToPath(new URL('../../bin/dbops', import.meta.url));

export interface CliResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs the built CLI as a user would (the test script builds first). The environment is
 * cleaned of PG…, DATABASE_URL and DBOPS_… variables so the machine's settings never leak into a test.
 */
export async function runDbops(
  args: string[],
  options: { env?: Record<string, string | undefined>; cwd?: string; input?: string; timeout?: number } = {},
): Promise<CliResult> {
  const env: Record<string, string | undefined> = {};
  for (const key of Object.keys(process.env)) {
    if (/^(PG|DATABASE_URL|DBOPS_)/.test(key)) env[key] = undefined;
  }
  const result = await execa(process.execPath, [DBOPS_BIN, ...args], {
    env: { ...env, NO_COLOR: '1', ...options.env },
    cwd: options.cwd ?? process.cwd(),
    reject: false,
    timeout: options.timeout ?? 120_000,
    ...(options.input !== undefined ? { input: options.input } : { stdin: 'ignore' }),
  });
  return { exitCode: result.exitCode ?? -1, stdout: String(result.stdout), stderr: String(result.stderr) };
}

/** Parses stdout of a `--format json` run, with a helpful failure message. */
export function json<T = unknown>(r: CliResult): T {
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`stdout is not JSON (exit ${r.exitCode}):\n${r.stdout}\nstderr:\n${r.stderr}`);
  }
}
