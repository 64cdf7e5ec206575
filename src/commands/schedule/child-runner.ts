import { spawn } from 'node:child_process';

import type { Logger } from '../../logger.js';
import type { ScheduledJob } from './jobs.js';
import type { JobRunner, JobRunResult } from './scheduler.js';

export interface ChildRunnerOptions {
  /** The config file the scheduler loaded, passed on so jobs see the same config. */
  configPath: string | undefined;
  /** SIGTERM → SIGKILL delay on shutdown and on a job timeout. */
  graceMs: number;
  logger: Logger;
  /** Where the job's stderr goes, line by line with a `[job]` prefix. */
  stderr?: NodeJS.WritableStream;
}

const MAX_SUMMARY_CHARS = 4000;

/** Keeps the JSON result of a job when it is small; otherwise its top-level shape. */
export function summarize(stdout: string): unknown {
  const text = stdout.trim();
  if (!text) return undefined;
  try {
    const value = JSON.parse(text) as unknown;
    if (text.length <= MAX_SUMMARY_CHARS) return value;
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      const small: Record<string, unknown> = { truncated: true };
      for (const [k, v] of Object.entries(value)) if (typeof v !== 'object' || v === null) small[k] = v;
      return small;
    }
    return { truncated: true };
  } catch {
    return { output: text.slice(-500) };
  }
}

/**
 * Runs each job as a child process of the same dbops binary (process.execPath + the entry
 * script). Chosen over running commands in-process because: a job that crashes, leaks or blocks
 * the event loop cannot take the scheduler (and every other job's timing) down with it; every
 * command (`backup run`, `analyze …`, `wal status`) works exactly as on the command line, with
 * its own exit code and connection pools that close when it exits; and the heavy work runs off
 * the scheduler's event loop, which node-cron-style timers need (a blocked loop misses ticks).
 * The cost, ~0.3 s of start-up per run, is nothing next to a retention or backup run.
 *
 * The child gets its own process group (detached), so a terminal's Ctrl-C reaches the scheduler
 * only and the scheduler forwards exactly one SIGTERM: a second one would make dbops exit at once
 * instead of after its current batch.
 */
export function childProcessRunner(options: ChildRunnerOptions): JobRunner {
  const entry = process.argv[1]!;
  return (job: ScheduledJob, _slot: Date, signal: AbortSignal) =>
    new Promise<JobRunResult>((resolve) => {
      const args = [
        entry,
        ...(options.configPath ? ['--config', options.configPath] : []),
        '--format',
        'json',
        '--yes',
        '--no-color',
        ...job.argv,
      ];
      const child = spawn(process.execPath, args, {
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
        env: { ...process.env, DBOPS_SCHEDULED_JOB: job.name },
      });
      let stdout = '';
      let pending = '';
      const out = options.stderr ?? process.stderr;
      child.stdout!.setEncoding('utf8').on('data', (d: string) => {
        if (stdout.length < 1_000_000) stdout += d;
      });
      child.stderr!.setEncoding('utf8').on('data', (d: string) => {
        pending += d;
        const lines = pending.split('\n');
        pending = lines.pop()!;
        for (const l of lines) out.write(`[${job.name}] ${l}\n`);
      });
      let killTimer: NodeJS.Timeout | undefined;
      const terminate = (why: string) => {
        if (child.exitCode !== null || killTimer) return;
        options.logger.info(`job ${job.name}: ${why}; sending SIGTERM`);
        child.kill('SIGTERM');
        killTimer = setTimeout(() => {
          options.logger.warn(
            `job ${job.name}: still running ${options.graceMs} ms after SIGTERM; killing it`,
          );
          child.kill('SIGKILL');
        }, options.graceMs);
        killTimer.unref();
      };
      const onAbort = () => terminate('scheduler stopping');
      signal.addEventListener('abort', onAbort, { once: true });
      if (signal.aborted) onAbort();
      const jobTimer = job.timeoutMs
        ? setTimeout(() => terminate(`timeout of ${job.timeoutMs} ms`), job.timeoutMs)
        : undefined;
      child.on('error', (err) => {
        signal.removeEventListener('abort', onAbort);
        resolve({ exitCode: -1, error: err.message });
      });
      child.on('close', (code, sig) => {
        signal.removeEventListener('abort', onAbort);
        clearTimeout(jobTimer);
        clearTimeout(killTimer);
        if (pending) out.write(`[${job.name}] ${pending}\n`);
        const summary = summarize(stdout);
        resolve({
          exitCode: code ?? (sig ? 128 + (sig === 'SIGKILL' ? 9 : 15) : -1),
          ...(summary !== undefined ? { summary } : {}),
          ...(sig ? { error: `killed by ${sig}` } : {}),
        });
      });
    });
}
