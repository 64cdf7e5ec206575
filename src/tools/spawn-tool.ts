import { spawn, type ChildProcess, type IOType } from 'node:child_process';
import type { Stream } from 'node:stream';

import { redactText } from '../connections/redact.js';
import { ToolError } from '../errors.js';
import { installHint } from './install-hint.js';

const STDERR_TAIL = 4000;
const FORCE_KILL_AFTER_MS = 5000;

/** One of stdin/stdout: a mode, a stream with an fd (another child's stdout), or a file descriptor. */
export type StdioSlot = IOType | 'ignore' | Stream | number;

export interface SpawnToolOptions {
  /** Extra environment (merged over process.env); passwords travel here, never in argv. */
  env?: Record<string, string>;
  /** stdin, stdout; stderr is always captured (its tail goes into errors). */
  stdio?: [StdioSlot, StdioSlot];
  signal?: AbortSignal;
}

/** A running tool started with node:child_process. */
export interface SpawnedTool {
  readonly child: ChildProcess;
  /** Resolves when the tool exits with status 0; rejects with a ToolError (stderr tail included). */
  readonly done: Promise<void>;
  /** The last few KB of stderr, redacted. */
  stderr(): string;
  kill(): void;
}

/**
 * Starts a tool with node:child_process rather than execa: on the backup/restore hot paths execa's
 * import alone costs ~300 ms on a loaded machine, and these paths also need raw OS-level stdio
 * (one child's stdout as another's stdin, a file descriptor as stdout) so bytes bypass Node.
 * The child is killed on abort (SIGTERM, then SIGKILL) and when dbops exits.
 */
export function spawnTool(
  tool: string,
  binary: string,
  args: string[],
  options: SpawnToolOptions = {},
): SpawnedTool {
  const [stdin, stdout] = options.stdio ?? ['ignore', 'pipe'];
  const child = spawn(binary, args, {
    env: { ...process.env, ...options.env, LC_MESSAGES: 'C' },
    stdio: [stdin, stdout, 'pipe'],
  });
  let tail = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (text: string) => {
    tail = (tail + text).slice(-STDERR_TAIL);
  });
  let exited = false;
  let forceTimer: NodeJS.Timeout | undefined;
  const kill = () => {
    if (exited) return;
    child.kill('SIGTERM');
    forceTimer ??= setTimeout(() => {
      if (!exited) child.kill('SIGKILL');
    }, FORCE_KILL_AFTER_MS).unref();
  };
  const onExit = () => {
    if (!exited) child.kill('SIGKILL');
  };
  process.once('exit', onExit);
  const onAbort = () => kill();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.signal?.aborted) kill();

  const done = new Promise<void>((resolve, reject) => {
    const finish = () => {
      exited = true;
      if (forceTimer) clearTimeout(forceTimer);
      process.off('exit', onExit);
      options.signal?.removeEventListener('abort', onAbort);
    };
    child.once('error', (err: NodeJS.ErrnoException) => {
      finish();
      const missing = err.code === 'ENOENT' || err.code === 'EACCES';
      reject(
        new ToolError(
          missing ? `${tool} not found at ${binary}` : `${tool} failed to start: ${err.message}`,
          { tool, argv: args.map((a) => redactText(a)), hint: installHint(tool), cause: err },
        ),
      );
    });
    child.once('close', (code, signal) => {
      finish();
      if (code === 0) return resolve();
      const text = redactText(tail).trim();
      const how = options.signal?.aborted
        ? 'was cancelled'
        : signal
          ? `was killed by ${signal}`
          : `exited with code ${code ?? '?'}`;
      reject(
        new ToolError(`${tool} ${how}${text ? `:\n${text}` : ''}`, {
          tool,
          argv: args.map((a) => redactText(a)),
          ...(code !== null ? { toolExitCode: code } : {}),
          stderrTail: text,
        }),
      );
    });
  });
  done.catch(() => {});
  return { child, done, stderr: () => redactText(tail), kill };
}
