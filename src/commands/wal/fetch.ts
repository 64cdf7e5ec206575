import { mkdir, open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';

import { silentLogger, type Logger } from '../../logger.js';
import { withRepository } from '../../storage/open.js';
import type { Repository } from '../../storage/repository.js';
import type { ReadPipelineOptions } from '../../streams/pipeline.js';
import { decodeWal } from './codec.js';
import type { WalContext } from './context.js';
import { META, walFileKey } from './layout.js';
import { nextSegment, parseWalFileName, readSegmentHeader } from './segment.js';
import { readAll } from './read-all.js';
import { prefetchPath, spoolDir } from './spool.js';

export interface WalFetchOptions {
  ctx: WalContext;
  /** `%f`: the WAL file name PostgreSQL wants. */
  name: string;
  /** `%p`: where to put it (relative to the data directory). */
  destination: string;
  /** Override ctx.settings.prefetch. */
  prefetch?: number;
  env?: NodeJS.ProcessEnv;
}

export interface WalFetchResult {
  file: string;
  status: 'fetched' | 'prefetched' | 'missing';
  key: string;
  bytes: number;
  prefetched: string[];
  durationMs: number;
}

async function readOptionsFor(
  ctx: WalContext,
  metadata: Record<string, string>,
  env: NodeJS.ProcessEnv,
): Promise<ReadPipelineOptions> {
  if ((metadata[META.encryption] ?? 'none') === 'none') return {};
  const { resolveReadOptions } = await import('../backup/encryption.js');
  return resolveReadOptions(
    ctx.passphraseEnv ? { recipients: [], passphraseEnv: ctx.passphraseEnv, enabled: true } : undefined,
    ctx.identityFile,
    env,
  );
}

/** Writes a file so that it appears whole or not at all. */
async function writeAtomically(path: string, data: Buffer): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.dbops-tmp`);
  const handle = await open(tmp, 'w', 0o600);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
}

/** One archived file, verified and decoded; undefined when it is not in the archive. */
async function fetchOne(
  repo: Repository,
  ctx: WalContext,
  name: string,
  env: NodeJS.ProcessEnv,
): Promise<{ key: string; data: Buffer } | undefined> {
  const key = walFileKey(ctx.target, name);
  const head = await repo.head(key);
  if (!head) return undefined;
  const body = await readAll(repo, key);
  return {
    key,
    data: await decodeWal(key, body, head.metadata, await readOptionsFor(ctx, head.metadata, env)),
  };
}

/**
 * `restore_command`. A file that is not archived is reported as `missing` (PostgreSQL asks for
 * files that do not exist — the next timeline's history, the segment after the end — and expects
 * a quiet non-zero exit). A file that fails its checksum is an error: recovery stops there.
 */
export async function walFetch(o: WalFetchOptions, deps: { logger?: Logger } = {}): Promise<WalFetchResult> {
  const logger = deps.logger ?? silentLogger;
  const started = performance.now();
  const env = o.env ?? process.env;
  const ctx = o.ctx;
  const file = parseWalFileName(o.name);
  const destination = resolve(o.destination);
  const spool = spoolDir(ctx, destination);
  const key = walFileKey(ctx.target, file);
  const finish = (r: Omit<WalFetchResult, 'durationMs' | 'file' | 'key'>): WalFetchResult => ({
    file: o.name,
    key,
    ...r,
    durationMs: Math.round(performance.now() - started),
  });

  const prefetch = file.kind === 'segment' ? (o.prefetch ?? ctx.settings.prefetch) : 0;
  if (prefetch > 0) {
    try {
      await rename(prefetchPath(spool, o.name), destination);
      return finish({ status: 'prefetched', bytes: 0, prefetched: [] });
    } catch {
      // not prefetched: fetch it now
    }
  }

  return withRepository(
    ctx.repository.name,
    ctx.repository.config,
    async (repo) => {
      const got = await fetchOne(repo, ctx, o.name, env);
      if (!got) return finish({ status: 'missing', bytes: 0, prefetched: [] });
      await writeAtomically(destination, got.data);
      const prefetched: string[] = [];
      if (prefetch > 0) {
        const segmentSize = readSegmentHeader(got.data, o.name).segmentSize;
        const names = Array.from({ length: prefetch }, (_, i) => nextSegment(o.name, segmentSize, i + 1));
        await mkdir(join(spool, 'prefetch'), { recursive: true, mode: 0o700 });
        const results = await Promise.allSettled(
          names.map(async (n) => {
            const r = await fetchOne(repo, ctx, n, env);
            if (!r) return undefined;
            await writeAtomically(prefetchPath(spool, n), r.data);
            return n;
          }),
        );
        for (const r of results) {
          if (r.status === 'fulfilled' && r.value) prefetched.push(r.value);
          // A damaged next segment is reported when PostgreSQL asks for it, not here.
          else if (r.status === 'rejected')
            logger.debug('prefetch failed', { error: (r.reason as Error).message });
        }
      }
      return finish({ status: 'fetched', bytes: got.data.byteLength, prefetched });
    },
    logger,
  );
}
