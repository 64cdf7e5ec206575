import { readFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';

import { ChecksFailed, DbopsError, StorageError } from '../../errors.js';
import { silentLogger, type Logger } from '../../logger.js';
import { ObjectExistsError } from '../../storage/errors.js';
import { withRepository } from '../../storage/open.js';
import type { Repository } from '../../storage/repository.js';
import { checkAgainstArchive, ensureArchiveInfo, readArchiveInfo } from './archive-info.js';
import { decodeBySniffing, encodeWal, sha256 } from './codec.js';
import { walEncryptOptions, type WalContext } from './context.js';
import { META, walFileKey } from './layout.js';
import {
  checkHeaderMatchesName,
  parseWalFileName,
  readSegmentHeader,
  type SegmentHeader,
} from './segment.js';
import { readAll } from './read-all.js';
import { readyFiles, recordDropped, recordPushed, spoolDir, takePushed } from './spool.js';

export interface WalPushOptions {
  ctx: WalContext;
  /** `%p`: the file to archive, relative to the data directory (PostgreSQL's cwd). */
  path: string;
  /** Override ctx.settings.parallel (1 = no pick-up). */
  parallel?: number;
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
  /** Other `.ready` files archived by this call, in parallel. */
  pickedUp: string[];
  durationMs: number;
}

/** A different file already holds this name in the archive: never overwritten (exit 1). */
export class WalConflictError extends ChecksFailed {}

interface OneResult {
  status: 'archived' | 'already-archived';
  key: string;
  rawBytes: number;
  storedBytes: number;
  sha256: string;
}

/** Archives one WAL file; throws on any doubt so that PostgreSQL keeps it and retries. */
async function pushOne(
  repo: Repository,
  ctx: WalContext,
  filePath: string,
  env: NodeJS.ProcessEnv,
  now: Date,
  logger: Logger,
): Promise<OneResult> {
  const name = basename(filePath);
  const file = parseWalFileName(name);
  const data = await readFile(filePath);
  let header: SegmentHeader | undefined;
  if (file.kind === 'segment' || file.kind === 'partial') {
    header = readSegmentHeader(data, name);
    checkHeaderMatchesName(header, file);
    if (ctx.settings.systemIdentifier && header.systemIdentifier !== ctx.settings.systemIdentifier) {
      throw new ChecksFailed(
        `${name} has system identifier ${header.systemIdentifier}; wal.systemIdentifier says ${ctx.settings.systemIdentifier}`,
        {
          hint: 'this cluster is not the one this config archives; it is refused',
        },
      );
    }
    checkAgainstArchive(await ensureArchiveInfo(repo, ctx.target, header, now), header, name, repo.location);
  } else {
    const info = await readArchiveInfo(repo, ctx.target);
    if (info && ctx.settings.systemIdentifier && info.systemIdentifier !== ctx.settings.systemIdentifier) {
      throw new ChecksFailed(
        `the archive of ${ctx.target} belongs to system ${info.systemIdentifier}, not ${ctx.settings.systemIdentifier}`,
      );
    }
  }
  const key = walFileKey(ctx.target, file);
  const digest = sha256(data);
  const existing = await compareExisting(repo, key, digest, ctx);
  if (existing)
    return {
      status: 'already-archived',
      key,
      rawBytes: data.byteLength,
      storedBytes: existing,
      sha256: digest,
    };
  const encoded = await encodeWal(data, {
    compression: ctx.compression,
    encryption: walEncryptOptions(ctx, env),
    rawSha256: digest,
    filePath,
    ...(header ? { systemIdentifier: header.systemIdentifier } : {}),
  });
  try {
    const info = await repo.put(key, encoded.body, {
      ifAbsent: true,
      contentLength: encoded.body.byteLength,
      metadata: encoded.metadata,
    });
    if (info.size !== encoded.body.byteLength) {
      throw new StorageError(`${key}: stored ${info.size} bytes, expected ${encoded.body.byteLength}`);
    }
  } catch (err) {
    if (!(err instanceof ObjectExistsError)) throw err;
    // A concurrent push (a pick-up and PostgreSQL's own call) won the race: same content is fine.
    const stored = await compareExisting(repo, key, digest, ctx);
    if (!stored) throw new StorageError(`${key} appeared while archiving it and cannot be compared`);
    logger.debug(`${name} was archived concurrently`);
    return {
      status: 'already-archived',
      key,
      rawBytes: data.byteLength,
      storedBytes: stored,
      sha256: digest,
    };
  }
  return {
    status: 'archived',
    key,
    rawBytes: data.byteLength,
    storedBytes: encoded.body.byteLength,
    sha256: digest,
  };
}

/**
 * Stored size when `key` exists with the same content, undefined when it does not exist; throws
 * WalConflictError when it holds something else. The checksum comes from the object's metadata;
 * only when that is missing is the object downloaded and decoded to compare.
 */
async function compareExisting(
  repo: Repository,
  key: string,
  digest: string,
  ctx: WalContext,
): Promise<number | undefined> {
  const head = await repo.head(key);
  if (!head) return undefined;
  let archived = head.metadata[META.sha256];
  if (!archived) {
    try {
      const { resolveReadOptions } = await import('../backup/encryption.js');
      archived = sha256(
        await decodeBySniffing(
          await readAll(repo, key),
          await resolveReadOptions(undefined, ctx.identityFile),
        ),
      );
    } catch (err) {
      if (err instanceof DbopsError && !(err instanceof ChecksFailed)) throw err;
      archived = 'unreadable';
    }
  }
  if (archived !== digest) {
    throw new WalConflictError(
      `${key} is already archived with DIFFERENT content (sha256 ${archived}, this file ${digest}); it is never overwritten`,
      {
        hint: 'two clusters archive under one name (a clone or a restored snapshot?), or pg_wal was tampered with; give each cluster its own wal.target, and keep the archived copy',
      },
    );
  }
  return head.size;
}

/**
 * `archive_command`. Exit 0 only once the file is durably in the repository (or provably was
 * already). With `parallel` > 1 the call also archives up to parallel-1 other `.ready` files at
 * the same time and records them in the spool, so PostgreSQL's calls for those return at once.
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

  const earlier = await takePushed(spool, filePath, repoId);
  if (earlier)
    return done({
      key: earlier.key,
      status: 'picked-up-earlier',
      rawBytes: earlier.size,
      storedBytes: 0,
      pickedUp: [],
    });

  const parallel = Math.max(1, o.parallel ?? ctx.settings.parallel);
  try {
    return await withRepository(
      ctx.repository.name,
      ctx.repository.config,
      async (repo) => {
        const walDir = dirname(filePath);
        const others =
          parallel > 1 ? (await readyFiles(walDir)).filter((n) => n !== name).slice(0, parallel - 1) : [];
        const pickUps = others.map(async (other) => {
          const otherPath = join(walDir, other);
          const r = await pushOne(repo, ctx, otherPath, env, now(), logger);
          await recordPushed(spool, other, otherPath, r.key, repoId, r.sha256);
          return other;
        });
        const [main, ...rest] = await Promise.allSettled([
          pushOne(repo, ctx, filePath, env, now(), logger),
          ...pickUps,
        ]);
        const pickedUp: string[] = [];
        for (const [i, r] of rest.entries()) {
          if (r.status === 'fulfilled') pickedUp.push(r.value);
          else
            logger.warn(`pick-up of ${others[i]} failed; PostgreSQL will retry it`, {
              error: (r.reason as Error).message,
            });
        }
        if (main!.status === 'rejected') throw main!.reason;
        const m = main!.value;
        if (m.status === 'already-archived')
          logger.warn(`${name} was already archived with the same content`, { key: m.key });
        return done({
          key: m.key,
          status: m.status,
          rawBytes: m.rawBytes,
          storedBytes: m.storedBytes,
          pickedUp,
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
          pickedUp: [],
        });
      }
    }
    throw err;
  }
}
