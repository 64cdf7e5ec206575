import { basename, dirname, resolve } from 'node:path';

import { ChecksFailed } from '../../errors.js';
import { silentLogger, type Logger } from '../../logger.js';
import { withRepository } from '../../storage/open.js';
import { archiveWalFile } from './archive-file.js';
import type { WalContext } from './context.js';
import { walFileKey } from './layout.js';
import { parseWalFileName } from './segment.js';
import { readyFiles, recordDropped, spoolDir, takePushed, type OkRecord } from './spool.js';
import { awaitWorker, workerFailedRecently, workerRunning } from './worker-state.js';

export { WalConflictError } from './archive-file.js';

export interface WalPushOptions {
  ctx: WalContext;
  /** `%p`: the file to archive, relative to the data directory (PostgreSQL's cwd). */
  path: string;
  /** Override ctx.settings.parallel (1 = no background pick-up). */
  parallel?: number;
  /** How the call itself was configured, handed on to a background worker it starts. */
  invocation?: { config?: string | undefined; repo?: string | undefined; target?: string | undefined };
  env?: NodeJS.ProcessEnv;
  now?: () => Date;
}

export type PushStatus = 'archived' | 'already-archived' | 'picked-up-earlier' | 'dropped';

export interface WalPushResult {
  file: string;
  key: string;
  status: PushStatus;
  rawBytes: number;
  storedBytes: number;
  /** Whether this call started the background worker for the other `.ready` files. */
  workerStarted: boolean;
  durationMs: number;
}

/**
 * `archive_command`. Exit 0 only once the file is durably in the repository (or provably was
 * already). With `parallel` > 1 a call that sees other `.ready` files starts the background worker
 * (worker.ts) for them, and a call whose file the worker has archived, or is archiving, returns
 * with the worker's record instead of doing the work again.
 */
export async function walPush(o: WalPushOptions, deps: { logger?: Logger } = {}): Promise<WalPushResult> {
  const logger = deps.logger ?? silentLogger;
  const started = performance.now();
  const env = o.env ?? process.env;
  const now = o.now ?? (() => new Date());
  const ctx = o.ctx;
  const filePath = resolve(o.path);
  const name = basename(filePath);
  parseWalFileName(name);
  const spool = spoolDir(ctx, filePath);
  const repoId = `${ctx.repository.name}:${ctx.target}`;
  const done = (r: Omit<WalPushResult, 'durationMs' | 'file'>): WalPushResult => ({
    file: name,
    ...r,
    durationMs: Math.round(performance.now() - started),
  });
  const pickedUpEarlier = (rec: OkRecord) =>
    done({
      key: rec.key,
      status: 'picked-up-earlier',
      rawBytes: rec.size,
      storedBytes: 0,
      workerStarted: false,
    });

  const earlier = await takePushed(spool, filePath, repoId);
  if (earlier) return pickedUpEarlier(earlier);

  const parallel = Math.max(1, o.parallel ?? ctx.settings.parallel);
  let workerStarted = false;
  if (parallel > 1) {
    // The worker is archiving this very file now: wait for it rather than do the work twice.
    const waited = await awaitWorker(
      spool,
      filePath,
      name,
      repoId,
      ctx.settings.archiveTimeoutSeconds * 1000,
    );
    if (waited) return pickedUpEarlier(waited);
    const walDir = dirname(filePath);
    if (
      (await readyFiles(walDir)).some((n) => n !== name) &&
      !(await workerRunning(spool)) &&
      !(await workerFailedRecently(spool))
    ) {
      const { startWalWorker } = await import('./worker.js');
      startWalWorker({ walDir, spool, skip: name, parallel, ...o.invocation });
      workerStarted = true;
    }
  }
  try {
    return await withRepository(
      ctx.repository.name,
      ctx.repository.config,
      async (repo) => {
        const m = await archiveWalFile(repo, ctx, filePath, env, now(), logger);
        if (m.status === 'already-archived')
          logger.warn(`${name} was already archived with the same content`, { key: m.key });
        return done({
          key: m.key,
          status: m.status,
          rawBytes: m.rawBytes,
          storedBytes: m.storedBytes,
          workerStarted,
        });
      },
      logger,
    );
  } catch (err) {
    const limit = ctx.settings.dropReadyAbove;
    // The valve never drops WAL that conflicts or belongs to another cluster: only unavailability.
    if (limit !== undefined && !(err instanceof ChecksFailed)) {
      const backlog = (await readyFiles(dirname(filePath))).length;
      if (backlog > limit) {
        logger.error(
          `DROPPING WAL ${name}: archiving failed (${(err as Error).message}) while ${backlog} segments wait (wal.dropReadyAbove ${limit}); ` +
            'the archive now has a GAP: point-in-time recovery across it is impossible — take a new base backup once archiving works',
        );
        await recordDropped(spool, {
          name,
          at: now().toISOString(),
          backlog,
          error: (err as Error).message,
        }).catch(() => {});
        return done({
          key: walFileKey(ctx.target, name),
          status: 'dropped',
          rawBytes: 0,
          storedBytes: 0,
          workerStarted,
        });
      }
    }
    throw err;
  }
}
