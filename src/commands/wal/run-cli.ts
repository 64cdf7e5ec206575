import { DbopsError, ExitCode } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { loadWalContext } from './context.js';

export interface WalCliOptions {
  config?: string;
  repo?: string;
  target?: string;
  parallel?: number;
  prefetch?: number;
  /** push-worker: the name the starting call archives itself. */
  skip?: string;
  quiet: boolean;
  verbose: boolean;
  json: boolean;
}

/**
 * A plain stderr logger: PostgreSQL copies archive_command's stderr into its log, so lines carry
 * the command name. No chalk, no redaction module beyond what errors need.
 */
function stderrLogger(prefix: string, o: WalCliOptions): Logger {
  const line = (level: string, message: string, fields?: Record<string, unknown>) =>
    process.stderr.write(
      `${prefix} ${level}: ${message}${fields && Object.keys(fields).length ? ` ${JSON.stringify(fields)}` : ''}\n`,
    );
  return {
    debug: (m, f) => (o.verbose ? line('debug', m, f) : undefined),
    info: (m, f) => (o.verbose ? line('info', m, f) : undefined),
    warn: (m, f) => (o.quiet ? undefined : line('warning', m, f)),
    error: (m, f) => line('error', m, f),
  };
}

/** Runs `wal push` / `wal fetch` and returns the exit code; the one place these print errors. */
export async function runWalCommand(
  command: 'push' | 'fetch' | 'push-worker',
  positional: string[],
  o: WalCliOptions,
): Promise<number> {
  const prefix = `dbops wal ${command}`;
  const logger = stderrLogger(prefix, o);
  try {
    const ctx = await loadWalContext(o.config, { repo: o.repo, target: o.target });
    if (command === 'push-worker') {
      const { runWalWorker } = await import('./worker.js');
      const { spoolDir } = await import('./spool.js');
      const { join, resolve } = await import('node:path');
      const walDir = resolve(positional[0]!);
      const r = await runWalWorker(
        {
          ctx,
          walDir,
          skip: o.skip !== undefined ? [o.skip] : [],
          parallel: o.parallel ?? ctx.settings.parallel,
          invocation: (await import('./quick-ok.js')).invocationOf(o.config, o.repo, o.target),
        },
        { logger, spool: spoolDir(ctx, join(walDir, 'x')) },
      );
      if (o.json) process.stdout.write(`${JSON.stringify(r)}\n`);
      return r.failed ? 1 : ExitCode.ok;
    }
    if (command === 'push') {
      // A segment the background worker already archived: answer before loading storage and compression.
      const { spoolDir, takePushed } = await import('./spool.js');
      const { resolve } = await import('node:path');
      const filePath = resolve(positional[0]!);
      const earlier = await takePushed(
        spoolDir(ctx, filePath),
        filePath,
        `${ctx.repository.name}:${ctx.target}`,
      );
      if (earlier) {
        if (o.json)
          process.stdout.write(
            `${JSON.stringify({ file: positional[0], key: earlier.key, status: 'picked-up-earlier', workerStarted: false })}\n`,
          );
        return ExitCode.ok;
      }
      const { walPush } = await import('./push.js');
      const r = await walPush(
        {
          ctx,
          path: positional[0]!,
          ...(o.parallel !== undefined ? { parallel: o.parallel } : {}),
          invocation: { config: o.config, repo: o.repo, target: o.target },
        },
        { logger },
      );
      if (o.json) process.stdout.write(`${JSON.stringify(r)}\n`);
      else
        logger.info(
          `${r.file}: ${r.status}${r.workerStarted ? ' (background worker started)' : ''} in ${r.durationMs} ms`,
        );
      return ExitCode.ok;
    }
    const { walFetch } = await import('./fetch.js');
    const r = await walFetch(
      {
        ctx,
        name: positional[0]!,
        destination: positional[1]!,
        ...(o.prefetch !== undefined ? { prefetch: o.prefetch } : {}),
      },
      { logger },
    );
    if (o.json) process.stdout.write(`${JSON.stringify(r)}\n`);
    else if (r.status !== 'missing') logger.info(`${r.file}: ${r.status} in ${r.durationMs} ms`);
    // Not archived: a quiet 1, which PostgreSQL reads as "no such file" (the end of the archive).
    return r.status === 'missing' ? 1 : ExitCode.ok;
  } catch (err) {
    const { redactText } = await import('../../connections/redact.js');
    if (err instanceof DbopsError) {
      process.stderr.write(
        `${prefix} error: ${redactText(err.message)}\n${err.hint ? `hint: ${redactText(err.hint)}\n` : ''}`,
      );
      return err.exitCode;
    }
    const message =
      err instanceof Error ? (o.verbose ? (err.stack ?? err.message) : err.message) : String(err);
    process.stderr.write(`${prefix} error: ${redactText(message)}\n`);
    return 1;
  }
}
