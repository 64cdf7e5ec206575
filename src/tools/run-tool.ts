import type { Readable, Writable } from 'node:stream';
import { execa, type ResultPromise } from 'execa';

import { ToolError } from '../errors.js';
import { redactText } from '../connections/redact.js';
import { installHint } from './install-hint.js';

export interface ToolRunOptions {
  /** Extra environment (merged over process.env); passwords travel here, never in argv. */
  env?: Record<string, string>;
  cwd?: string;
  signal?: AbortSignal;
  /** Feed stdin from a stream; default: no stdin. */
  stdin?: Readable | 'pipe' | 'ignore';
  /** 'pipe' to read stdout as a stream, 'ignore' to drop it, 'buffer' (default) to collect it. */
  stdout?: 'pipe' | 'ignore' | 'buffer';
  /** Run as another OS user (the sandbox runs the server unprivileged when dbops is root). */
  uid?: number;
  gid?: number;
}

const STDERR_TAIL = 4000;

/** A running external tool: stdout as a stream (when piped) and a promise for its end. */
export interface RunningTool {
  readonly stdout: Readable | null;
  readonly stdin: Writable | null;
  /** Resolves with captured stdout (when buffered); rejects with ToolError. */
  readonly done: Promise<{ stdout: string; stderr: string }>;
  kill(): void;
}

/**
 * Starts an external binary with an argv array (never a shell string). The child is killed when
 * the signal aborts or dbops exits; stderr is kept so a failure shows its tail.
 */
export function startTool(
  tool: string,
  binary: string,
  args: string[],
  options: ToolRunOptions = {},
): RunningTool {
  const stdoutMode = options.stdout ?? 'buffer';
  const stdinIsStream = options.stdin !== undefined && typeof options.stdin !== 'string';
  const child: ResultPromise = execa(binary, args, {
    env: { ...options.env, LC_MESSAGES: 'C' },
    extendEnv: true,
    cwd: options.cwd,
    ...(options.signal ? { cancelSignal: options.signal } : {}),
    forceKillAfterDelay: 5000,
    cleanup: true,
    stdin: stdinIsStream ? 'pipe' : ((options.stdin as 'pipe' | 'ignore' | undefined) ?? 'ignore'),
    stdout: stdoutMode === 'buffer' ? 'pipe' : stdoutMode,
    stderr: 'pipe',
    buffer: { stdout: stdoutMode === 'buffer', stderr: true },
    maxBuffer: { stdout: 64 * 1024 * 1024, stderr: 1024 * 1024 },
    encoding: 'utf8',
    stripFinalNewline: true,
    ...(options.uid !== undefined ? { uid: options.uid } : {}),
    ...(options.gid !== undefined ? { gid: options.gid } : {}),
  });
  if (stdinIsStream) {
    const source = options.stdin as Readable;
    source.on('error', () => child.kill());
    // EPIPE when the tool exits early is reported through the tool's own exit status.
    child.stdin?.on('error', () => {});
    source.pipe(child.stdin!);
  }
  const done = child.then(
    (r) => ({
      stdout: typeof r.stdout === 'string' ? r.stdout : '',
      stderr: typeof r.stderr === 'string' ? r.stderr : '',
    }),
    (err: unknown) => {
      throw toolErrorFrom(tool, binary, args, err);
    },
  );
  // Avoid an unhandled rejection when the caller only consumes stdout and awaits later.
  done.catch(() => {});
  return { stdout: child.stdout, stdin: stdinIsStream ? null : child.stdin, done, kill: () => child.kill() };
}

/** Runs a tool to completion and returns its output. */
export async function runTool(
  tool: string,
  binary: string,
  args: string[],
  options: Omit<ToolRunOptions, 'stdout'> = {},
): Promise<{ stdout: string; stderr: string }> {
  return startTool(tool, binary, args, { ...options, stdout: 'buffer' }).done;
}

function toolErrorFrom(tool: string, binary: string, args: string[], err: unknown): ToolError {
  const e = err as {
    code?: string;
    exitCode?: number;
    signal?: string;
    stderr?: unknown;
    isCanceled?: boolean;
    shortMessage?: string;
  };
  const argv = args.map((a) => redactText(a));
  if (e.code === 'ENOENT') {
    return new ToolError(`${tool} not found at ${binary}`, {
      tool,
      argv,
      hint: installHint(tool),
      cause: err,
    });
  }
  const stderr = redactText(typeof e.stderr === 'string' ? e.stderr : '');
  const tail = stderr.length > STDERR_TAIL ? `…${stderr.slice(-STDERR_TAIL)}` : stderr;
  const how = e.isCanceled
    ? 'was cancelled'
    : e.signal
      ? `was killed by ${e.signal}`
      : `exited with code ${e.exitCode ?? '?'}`;
  return new ToolError(`${tool} ${how}${tail ? `:\n${tail.trim()}` : ''}`, {
    tool,
    argv,
    ...(e.exitCode !== undefined ? { toolExitCode: e.exitCode } : {}),
    stderrTail: tail,
    cause: err,
  });
}

export { installHint } from './install-hint.js';
