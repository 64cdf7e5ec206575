import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { Duplex } from 'node:stream';
import type { Readable, Writable } from 'node:stream';

import { ToolError } from '../errors.js';

const STDERR_TAIL = 4000;

export interface ChildProcessStageOptions {
  /** Name for messages (`zstd`). */
  tool: string;
  /** Absolute path of the binary. */
  binary: string;
  args: string[];
  /** Shown when the binary cannot be started. */
  installHint?: string;
}

/**
 * A filter program (stdin → stdout) as one Duplex stage. Deliberately node:child_process rather than
 * execa: `wal push` runs once per 16 MB segment and execa alone costs ~300 ms to import.
 *
 * Back-pressure both ways: a write completes only when the child's stdin accepts it, and the child's
 * stdout is paused while our readable side is full. The readable side ends only after the child has
 * exited with status 0, so a truncated output is never mistaken for a complete one; any other exit
 * destroys the stage with a ToolError carrying the stderr tail. Destroying the stage (pipeline error,
 * AbortSignal) kills the child.
 */
export class ChildProcessStage extends Duplex {
  private readonly child: ChildProcessByStdio<Writable, Readable, Readable>;
  private readonly options: ChildProcessStageOptions;
  private stderr = '';
  private exited = false;

  /** The child's pid (undefined if it could not be started). */
  get pid(): number | undefined {
    return this.child.pid;
  }

  constructor(options: ChildProcessStageOptions) {
    super({ readableHighWaterMark: 256 * 1024, writableHighWaterMark: 256 * 1024 });
    this.options = options;
    this.child = spawn(options.binary, options.args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, LC_ALL: 'C' },
    });
    const { child } = this;
    child.stdout.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) child.stdout.pause();
    });
    child.stdout.pause();
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (text: string) => {
      this.stderr = (this.stderr + text).slice(-STDERR_TAIL);
    });
    // EPIPE when the child dies early: the exit status below is the error worth reporting.
    child.stdin.on('error', () => {});
    child.on('error', (err: NodeJS.ErrnoException) => {
      this.exited = true;
      const missing = err.code === 'ENOENT' || err.code === 'EACCES';
      this.destroy(
        new ToolError(
          missing
            ? `${options.tool} cannot be started (${options.binary}: ${err.code})`
            : `${options.tool} failed to start: ${err.message}`,
          {
            tool: options.tool,
            argv: [options.binary, ...options.args],
            hint: options.installHint,
            cause: err,
          },
        ),
      );
    });
    // 'close' comes after stdout has ended, so every byte has been pushed by now.
    child.on('close', (code, signal) => {
      this.exited = true;
      if (code === 0) {
        this.push(null);
        return;
      }
      if (this.destroyed) return;
      const how = signal ? `was killed by ${signal}` : `exited with code ${code ?? '?'}`;
      const tail = this.stderr.trim();
      this.destroy(
        new ToolError(`${options.tool} ${how}${tail ? `: ${tail}` : ''}`, {
          tool: options.tool,
          argv: [options.binary, ...options.args],
          ...(code !== null ? { toolExitCode: code } : {}),
          stderrTail: tail,
        }),
      );
    });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.child.stdin.write(chunk)) callback();
    else this.child.stdin.once('drain', () => callback());
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.child.stdin.end(() => callback());
  }

  override _read(): void {
    this.child.stdout.resume();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (!this.exited) {
      this.child.stdout.destroy();
      this.child.stdin.destroy();
      this.child.kill('SIGKILL');
    }
    callback(error);
  }
}
