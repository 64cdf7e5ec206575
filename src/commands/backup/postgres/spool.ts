import { open, stat } from 'node:fs/promises';

import type { Repository } from '../../../storage/repository.js';
import { findZstdBinary, zlibHasZstd } from '../../../streams/compression-spec.js';
import { decryptStage } from '../../../streams/encrypt.js';
import { followFile } from '../../../streams/follow-file.js';
import { runPipeline, type ReadPipelineOptions } from '../../../streams/pipeline.js';
import { spawnTool } from '../../../tools/spawn-tool.js';
import type { StoredObject } from '../manifest.js';
import { ObjectDamaged, checkStoredFile, classifyReadError, storedBytesCheck } from '../read-object.js';
import { isNoSpace } from '../temp-dir.js';

const isBrokenPipe = (err: unknown) => (err as { code?: unknown } | undefined)?.code === 'EPIPE';

/**
 * The zstd binary, when a spool for `pg_restore -j` can be written by `zstd -d` directly (its
 * stdout is the spool file, so the raw bytes never pass through Node). Only when the raw bytes need
 * no SHA-256 of their own: the object has none (dumps piped into zstd), or zstd wrote its frame
 * checksum (the zstd binary always does, and `zstd -d` verifies it).
 */
export function directSpoolBinary(object: StoredObject): string | undefined {
  if (object.pipeline.compression.algorithm !== 'zstd') return undefined;
  if (process.env.DBOPS_BACKUP_NODE_PIPE === '1') return undefined;
  // Where node:zlib has zstd, reads decompress in-process; keep that path (and its raw check).
  if (zlibHasZstd()) return undefined;
  const framed = object.pipeline.compression.implementation === 'zstd-binary';
  if (object.raw.sha256 !== undefined && !framed) return undefined;
  return findZstdBinary();
}

/**
 * storage → SHA-256 check of the stored bytes → age decrypt (in Node) → `zstd -d` → the spool file
 * (an fd handed to zstd); an unencrypted object of a local repository is read by zstd directly
 * while Node checksums it. The spool counts only once the stored checksum matched, zstd exited 0
 * (frame checksum verified) and the file has the manifest's raw size.
 */
export async function spoolThroughZstd(
  repo: Repository,
  object: StoredObject,
  zstdBinary: string,
  file: string,
  o: {
    read: ReadPipelineOptions;
    signal: AbortSignal;
    onProgress?: (storedBytes: number) => void;
    /** Sees the raw archive in order as zstd writes it (read back from the page cache). */
    onSpooled?: (chunk: Uint8Array) => void;
  },
): Promise<{ storedBytes: number; rawBytes: number }> {
  const storedCheck = storedBytesCheck(object);
  const enc = object.pipeline.encryption;
  const stages = enc
    ? [
        decryptStage(
          'passphrase' in enc
            ? { passphrase: o.read.passphrase ?? '' }
            : { identities: o.read.identities ?? [] },
        ),
      ]
    : [];
  // A local, unencrypted object: zstd reads the file itself while Node checksums it in place (no
  // copy through a pipe on zstd's critical path).
  const direct =
    stages.length === 0 && repo.getFile
      ? await repo.getFile(object.key, { signal: o.signal }).catch((err: unknown) => {
          throw classifyReadError(object.key, err);
        })
      : undefined;
  let handle;
  let zstd;
  try {
    handle = await open(file, o.onSpooled ? 'wx+' : 'wx', 0o600);
    zstd = spawnTool('zstd', zstdBinary, ['-d', '-q', '-c'], {
      stdio: [direct ? direct.fd : 'pipe', handle.fd],
      signal: o.signal,
    });
  } catch (err) {
    await handle?.close();
    await direct?.close();
    throw err;
  }
  // The child has its own copy of the descriptor; a follower reads through this one.
  if (!o.onSpooled) await handle.close();
  const following = o.onSpooled
    ? followFile(
        async (buffer, position) => (await handle.read(buffer, 0, buffer.length, position)).bytesRead,
        {
          writerDone: zstd.done,
          onChunk: o.onSpooled,
          signal: o.signal,
          chunkSize: 4 << 20,
        },
      ).finally(() => handle.close())
    : Promise.resolve(0);
  following.catch(() => {});
  const stdin = zstd.child.stdin;
  stdin?.on('error', () => {});
  try {
    const piping = direct
      ? checkStoredFile(direct, object, o)
          .then((bytesIn) => ({ bytesIn }))
          .finally(() => direct.close())
      : runPipeline(await repo.get(object.key, { signal: o.signal }), [storedCheck, ...stages], stdin!, {
          signal: o.signal,
          ...(o.onProgress ? { onProgress: (inBytes: number) => o.onProgress!(inBytes) } : {}),
        });
    const [p, z, f] = await Promise.allSettled([
      piping.catch((err: unknown) => {
        zstd.kill();
        throw err;
      }),
      zstd.done,
      following,
    ]);
    // zstd dying (a full disk) breaks the pipe into it: then its own error is the cause.
    if (z.status === 'rejected' && (p.status === 'fulfilled' || isBrokenPipe(p.reason))) throw z.reason;
    if (p.status === 'rejected') throw p.reason;
    if (z.status === 'rejected') throw z.reason;
    if (f.status === 'rejected') throw f.reason;
    const rawBytes = (await stat(file)).size;
    if (rawBytes !== object.raw.size) {
      throw new ObjectDamaged(
        object.key,
        `the restored archive has ${rawBytes} bytes, the manifest says ${object.raw.size}`,
      );
    }
    return { storedBytes: p.value.bytesIn, rawBytes };
  } catch (err) {
    zstd.kill();
    await following.catch(() => {});
    // zstd failing to write the spool is not a damaged backup: the caller says "no space".
    throw isNoSpace(err) ? err : classifyReadError(object.key, err);
  }
}
