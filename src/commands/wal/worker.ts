import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, statSync, truncateSync } from 'node:fs';
import { readdir, stat, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';

import { silentLogger, type Logger } from '../../logger.js';
import { withRepository } from '../../storage/open.js';
import type { WalContext } from './context.js';
import { archiveWalFile } from './archive-file.js';
import { zstdLanesFor } from './codec.js';
import { invocationStamp, shellMarkerName, type Invocation } from './quick-ok.js';
import { readyFiles, recordPushed } from './spool.js';
import { claim, heartbeat, HEARTBEAT_MS, lockWorker, markWorkerFailed, unclaim } from './worker-state.js';

/*
 * Asynchronous pick-up (the idea of pgBackRest's archive-async). PostgreSQL archives one segment
 * per archive_command call, serially; each call is a new process. When a call sees other `.ready`
 * segments waiting, it starts one detached worker that archives them, `parallel` at a time,
 * recording each in the spool; the calls PostgreSQL then makes for those segments return as soon
 * as their record is there, instead of each compressing and storing its segment in turn. The
 * worker never reports success to PostgreSQL: only a call for the segment itself does, after
 * checking the record against the very file (inode, size, mtime). A failure in the worker only
 * stops the worker; the segment's own call archives it and reports the error.
 */

export interface WalWorkerOptions {
  ctx: WalContext;
  walDir: string;
  /** Names the starting call archives itself. */
  skip: string[];
  parallel: number;
  env?: NodeJS.ProcessEnv;
  /** Stop after this many segments (a fresh worker is started by a later call if more wait). */
  maxFiles?: number;
  /** How the worker was invoked: stamped on each record for the calls' quick check. */
  invocation?: Invocation;
}

export interface WalWorkerResult {
  archived: string[];
  /** Set when another worker held the lock. */
  skipped?: 'another-worker';
  failed?: { file: string; error: string };
}

export async function runWalWorker(
  o: WalWorkerOptions,
  deps: { logger?: Logger; spool: string },
): Promise<WalWorkerResult> {
  const logger = deps.logger ?? silentLogger;
  const { ctx, walDir } = o;
  const spool = deps.spool;
  const env = o.env ?? process.env;
  const release = await lockWorker(spool);
  if (!release) return { archived: [], skipped: 'another-worker' };
  await removeStaleScratch(join(spool, 'tmp'));
  const beat = setInterval(() => void heartbeat(spool), HEARTBEAT_MS);
  const repoId = `${ctx.repository.name}:${ctx.target}`;
  const stamp = o.invocation ? invocationStamp(o.invocation) : undefined;
  const skip = new Set(o.skip);
  const archived: string[] = [];
  let failed: WalWorkerResult['failed'];
  const lanes = zstdLanesFor(ctx.compression, Math.max(o.parallel, 1));
  try {
    await withRepository(
      ctx.repository.name,
      ctx.repository.config,
      async (repo) => {
        const max = o.maxFiles ?? 1024;
        const parallel = Math.max(o.parallel, 1);
        // Claimed ahead of the lanes, in order: PostgreSQL's call for any of them then waits for
        // the worker instead of archiving the same file a second time beside it. Refilled while
        // lanes still run — with whole batches, a call arriving between two batches found its
        // segment unclaimed and archived it itself, on the CPU the worker needed.
        const queue: string[] = [];
        let claimedCount = 0;
        let drained = false;
        let refilling: Promise<void> | undefined;
        const refill = () =>
          (refilling ??= (async () => {
            const ready = (await readyFiles(walDir)).filter(
              (n) => !skip.has(n) && !existsSync(join(spool, 'ok', n)),
            );
            const take = ready.slice(0, Math.min(max - claimedCount, parallel * 4 - queue.length));
            if (take.length === 0 && queue.length === 0) drained = true;
            for (const name of take) {
              skip.add(name);
              claimedCount += 1;
              await claim(spool, name);
              queue.push(name);
            }
          })().finally(() => (refilling = undefined)));
        const lane = async () => {
          for (;;) {
            if (queue.length < parallel * 2 && !drained && claimedCount < max) await refill();
            const name = queue.shift();
            if (name === undefined) {
              if (drained || claimedCount >= max || failed) return;
              await refill();
              if (queue.length === 0) return;
              continue;
            }
            const filePath = join(walDir, name);
            if (failed) {
              await unclaim(spool, name);
              continue;
            }
            try {
              const r = await archiveWalFile(repo, ctx, filePath, env, new Date(), logger, {
                zstd: lanes?.run,
              });
              // PostgreSQL may have archived it through its own call meanwhile: no record then.
              if (existsSync(join(walDir, 'archive_status', `${name}.ready`)))
                await recordPushed(
                  spool,
                  name,
                  filePath,
                  r.key,
                  repoId,
                  r.sha256,
                  stamp,
                  // bin/dbops looks in the default spool only.
                  o.invocation && resolve(spool) === resolve(walDir, '.dbops')
                    ? shellMarkerName(filePath, o.invocation)
                    : undefined,
                );
              archived.push(name);
            } catch (err) {
              failed = { file: name, error: (err as Error).message };
              logger.warn(`background archiving of ${name} failed; its own call will retry it`, {
                error: (err as Error).message,
              });
            } finally {
              await unclaim(spool, name);
            }
          }
        };
        await Promise.all(Array.from({ length: parallel }, lane));
      },
      logger,
    );
  } catch (err) {
    failed = { file: '', error: (err as Error).message };
    logger.warn('the background worker stopped', { error: (err as Error).message });
  } finally {
    lanes?.close();
    clearInterval(beat);
    if (failed) await markWorkerFailed(spool);
    await release();
  }
  return { archived, ...(failed ? { failed } : {}) };
}

/** zstd output left by a call that was killed mid-push (its name carries no live owner): older than an hour goes. */
async function removeStaleScratch(dir: string): Promise<void> {
  const cutoff = Date.now() - 3600_000;
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const file = join(dir, name);
    const st = await stat(file).catch(() => undefined);
    if (st && st.mtimeMs < cutoff) await unlink(file).catch(() => {});
  }
}

export interface StartWorkerOptions {
  walDir: string;
  spool: string;
  skip: string;
  config?: string | undefined;
  repo?: string | undefined;
  target?: string | undefined;
  parallel: number;
}

const LOG_LIMIT = 1024 * 1024;

/**
 * Starts the worker as a detached process running this same dbops (it outlives the call, as
 * PostgreSQL waits for the call's process only). Its stderr goes to `<spool>/worker.log`, since
 * nobody reads a detached process's output; the log is cut back when it passes 1 MB.
 */
export function startWalWorker(o: StartWorkerOptions): void {
  const entry = process.argv[1];
  if (!entry) return;
  mkdirSync(o.spool, { recursive: true, mode: 0o700 });
  const log = join(o.spool, 'worker.log');
  try {
    if (statSync(log).size > LOG_LIMIT) truncateSync(log, 0);
  } catch {
    // no log yet
  }
  const fd = openSync(log, 'a', 0o600);
  try {
    const args = [
      entry,
      ...(o.config !== undefined ? ['--config', resolve(o.config)] : []),
      ...(o.repo !== undefined ? ['--repo', o.repo] : []),
      ...(o.target !== undefined ? ['--target', o.target] : []),
      'wal',
      'push-worker',
      '--parallel',
      String(o.parallel),
      '--skip',
      o.skip,
      resolve(o.walDir),
    ];
    const child = spawn(process.execPath, args, { detached: true, stdio: ['ignore', 'ignore', fd] });
    child.on('error', () => {});
    child.unref();
  } finally {
    closeSync(fd);
  }
}
