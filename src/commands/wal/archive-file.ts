import { basename, join } from 'node:path';

import { ChecksFailed, DbopsError, StorageError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { ObjectExistsError } from '../../storage/errors.js';
import type { Repository } from '../../storage/repository.js';
import { checkAgainstArchive, ensureArchiveInfo, readArchiveInfo } from './archive-info.js';
import { decodeBySniffing, encodeWalFile, scanWalFile, sha256, walMetadata } from './codec.js';
import { walEncryptOptions, type WalContext } from './context.js';
import { META, walFileKey } from './layout.js';
import {
  checkHeaderMatchesName,
  parseWalFileName,
  readSegmentHeader,
  type SegmentHeader,
} from './segment.js';
import { readAll } from './read-all.js';
import type { ZstdRunner } from './zstd-lanes.js';
import { spoolDir } from './spool.js';

/** A different file already holds this name in the archive: never overwritten (exit 1). */
export class WalConflictError extends ChecksFailed {}

export interface ArchivedFile {
  status: 'archived' | 'already-archived';
  key: string;
  rawBytes: number;
  storedBytes: number;
  sha256: string;
}

/** Archives one WAL file; throws on any doubt so that PostgreSQL keeps it and retries. */
export async function archiveWalFile(
  repo: Repository,
  ctx: WalContext,
  filePath: string,
  env: NodeJS.ProcessEnv,
  now: Date,
  logger: Logger,
  opts: { zstd?: ZstdRunner | undefined } = {},
): Promise<ArchivedFile> {
  const name = basename(filePath);
  const file = parseWalFileName(name);
  const encryption = walEncryptOptions(ctx, env);
  // Compression starts at once (the zstd binary reads the file itself) and overlaps the hashing
  // and checks below; its result is used only once they pass.
  const encoding = encodeWalFile(filePath, {
    compression: ctx.compression,
    encryption,
    scratchDir: join(spoolDir(ctx, filePath), 'tmp'),
    zstd: opts.zstd,
  });
  encoding.catch(() => {});
  const raw = scanWalFile(filePath);
  let header: SegmentHeader | undefined;
  if (file.kind === 'segment' || file.kind === 'partial') {
    header = readSegmentHeader(raw.head, name);
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
  const digest = raw.sha256;
  const existing = await compareExisting(repo, key, digest, ctx);
  if (existing)
    return {
      status: 'already-archived',
      key,
      rawBytes: raw.size,
      storedBytes: existing,
      sha256: digest,
    };
  const body = await encoding;
  const encoded = {
    body,
    metadata: walMetadata({
      raw,
      body,
      compression: ctx.compression,
      encryption,
      ...(header ? { systemIdentifier: header.systemIdentifier } : {}),
    }),
  };
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
    // A concurrent push (the worker and PostgreSQL's own call) won the race: same content is fine.
    const stored = await compareExisting(repo, key, digest, ctx);
    if (!stored) throw new StorageError(`${key} appeared while archiving it and cannot be compared`);
    logger.debug(`${name} was archived concurrently`);
    return {
      status: 'already-archived',
      key,
      rawBytes: raw.size,
      storedBytes: stored,
      sha256: digest,
    };
  }
  return {
    status: 'archived',
    key,
    rawBytes: raw.size,
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
