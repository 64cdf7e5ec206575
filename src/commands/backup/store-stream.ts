import { PassThrough, type Readable } from 'node:stream';

import { abortError, StorageError } from '../../errors.js';
import type { Repository } from '../../storage/repository.js';
import { hashStage } from '../../streams/hash.js';
import { buildWritePipeline, runPipeline, type WritePipelineOptions } from '../../streams/pipeline.js';
import type { StoredObject } from './manifest.js';

export interface StoreStreamOptions {
  key: string;
  content: string;
  pipeline: WritePipelineOptions;
  signal?: AbortSignal;
  /** Rough size of the raw stream, so S3 multipart parts are sized to fit. */
  sizeHint?: number;
  onProgress?: (rawBytes: number, storedBytes: number) => void;
}

/**
 * source → SHA-256 of the raw bytes → compress → encrypt → SHA-256 of the stored bytes → repository,
 * as one stream with back-pressure (no temp file). Returns the manifest entry of the stored object.
 * When both sides fail, the storage error wins: it is the cause, the broken pipe is its echo.
 */
export async function storeStream(
  repo: Repository,
  source: Readable,
  o: StoreStreamOptions,
): Promise<StoredObject> {
  const write = await buildWritePipeline(o.pipeline);
  const raw = hashStage();
  const body = new PassThrough();
  const put = repo.put(o.key, body, {
    ifAbsent: true,
    ...(o.sizeHint ? { sizeHint: o.sizeHint } : {}),
    ...(o.signal ? { signal: o.signal } : {}),
    metadata: { 'dbops-content': o.content },
  });
  put.catch(() => {});
  const piped = runPipeline(source, [raw, ...write.stages], body, {
    ...(o.signal ? { signal: o.signal } : {}),
    ...(o.onProgress ? { onProgress: o.onProgress } : {}),
  });
  piped.catch(() => {});
  const [p, u] = await Promise.allSettled([piped, put]);
  if (o.signal?.aborted) throw abortError(o.signal);
  if (u.status === 'rejected' && u.reason instanceof StorageError) throw u.reason;
  if (p.status === 'rejected') throw p.reason;
  if (u.status === 'rejected') throw u.reason;
  const rawDigest = await raw.digest();
  const stored = p.value;
  if (u.value.size !== stored.bytesOut) {
    throw new StorageError(
      `${o.key}: wrote ${stored.bytesOut} bytes but the repository holds ${u.value.size}`,
    );
  }
  return {
    key: o.key,
    content: o.content,
    raw: { size: rawDigest.bytes, sha256: rawDigest.sha256 },
    stored: { size: stored.bytesOut, sha256: stored.sha256 },
    pipeline: write.describe(),
  };
}
