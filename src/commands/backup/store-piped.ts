import { createHash } from 'node:crypto';
import { PassThrough, type Duplex } from 'node:stream';

import { abortError, StorageError, ToolError } from '../../errors.js';
import { RepositoryError } from '../../storage/errors.js';
import type { Repository } from '../../storage/repository.js';
import { compressionImplementation, parseCompression } from '../../streams/compress.js';
import { zstdLevelFlag } from '../../streams/compression-spec.js';
import { buildWritePipeline, runPipeline, type WritePipelineOptions } from '../../streams/pipeline.js';
import { followFile } from '../../streams/follow-file.js';
import { guardOrphans } from '../../tools/orphan-guard.js';
import { spawnTool, type SpawnedTool } from '../../tools/spawn-tool.js';
import type { StoredObject } from './manifest.js';

export interface DumpCommand {
  tool: string;
  binary: string;
  args: string[];
  /** PG* variables etc.; the password travels here, never in argv. */
  env: Record<string, string>;
}

export interface StorePipedOptions {
  key: string;
  content: string;
  pipeline: WritePipelineOptions;
  signal: AbortSignal;
  sizeHint?: number;
  /** Stored bytes so far (the raw count is known only when zstd exits). */
  onProgress?: (storedBytes: number) => void;
}

/** zstd ≥ 1.4 prints exact byte counts in its summary at -vv; older ones do not, so they take the Node path. */
function versionAtLeast(version: string | undefined, major: number, minor: number): boolean {
  const m = /^(\d+)\.(\d+)/.exec(version ?? '');
  return !!m && (Number(m[1]) > major || (Number(m[1]) === major && Number(m[2]) >= minor));
}

/**
 * Whether a dump can be piped straight into the zstd binary: zstd compression that would run as a
 * child process anyway (no zstd in node:zlib, or the binary is asked for). Async and cheap: the
 * zstd version is cached per process.
 */
export async function canPipeToZstd(pipeline: WritePipelineOptions): Promise<boolean> {
  if (process.env.DBOPS_BACKUP_NODE_PIPE === '1') return false;
  const spec = parseCompression(pipeline.compression);
  if (spec.algorithm !== 'zstd') return false;
  try {
    const c = await compressionImplementation('zstd', { preferBinary: pipeline.preferZstdBinary ?? false });
    return c.implementation === 'zstd-binary' && !!c.binary && versionAtLeast(c.version, 1, 4);
  } catch {
    return false;
  }
}

/** The uncompressed byte count from zstd's `-vv` summary: `(203456789 B => 23456789 B` (1.5) or `(… => … bytes` (1.4). */
export function parseZstdRawBytes(stderr: string): number | undefined {
  const all = [...stderr.matchAll(/\(\s*(\d+)(?: B)?\s+=>\s+(\d+)(?: B| bytes)/g)];
  const last = all.at(-1);
  return last ? Number(last[1]) : undefined;
}

/** The dump tool and zstd joined by an OS pipe; zstd's stdout goes to `out`. */
interface DumpAndZstd {
  dumper: SpawnedTool;
  zstd: SpawnedTool;
  /** `p`, killing both tools when it fails: one failure ends the whole pipeline. */
  watch<T>(p: Promise<T>): Promise<T>;
}

function startDumpAndZstd(
  dump: DumpCommand,
  zstdBinary: string,
  zstdArgs: string[],
  out: 'pipe' | number,
  signal: AbortSignal,
): DumpAndZstd {
  // Both spawns in the same tick: Node must not start reading the dump's stdout before zstd owns it.
  const dumper = spawnTool(dump.tool, dump.binary, dump.args, {
    env: dump.env,
    stdio: ['ignore', 'pipe'],
    signal,
  });
  const dumpOut = dumper.child.stdout;
  const zstd = spawnTool('zstd', zstdBinary, zstdArgs, { stdio: [dumpOut ?? 'ignore', out], signal });
  // zstd holds the read end now; closing ours lets pg_dump see EPIPE if zstd dies.
  dumpOut?.destroy();
  return {
    dumper,
    zstd,
    watch: (p) =>
      p.catch((err: unknown) => {
        dumper.kill();
        zstd.kill();
        throw err;
      }),
  };
}

/**
 * The first failure that explains the others: storage, then a dump that failed on its own (not
 * by SIGPIPE from a dead zstd), then zstd, then the Node side.
 */
function firstCause(
  storage: PromiseSettledResult<unknown>,
  dump: PromiseSettledResult<unknown>,
  zstd: PromiseSettledResult<unknown>,
  node: PromiseSettledResult<unknown>,
): unknown {
  if (storage.status === 'rejected' && storage.reason instanceof StorageError) return storage.reason;
  const dumpBrokenPipe = dump.status === 'rejected' && /SIGPIPE/.test((dump.reason as Error).message);
  if (dump.status === 'rejected' && !dumpBrokenPipe) return dump.reason;
  if (zstd.status === 'rejected') return zstd.reason;
  if (node.status === 'rejected') return node.reason;
  if (storage.status === 'rejected') return storage.reason;
  if (dump.status === 'rejected') return dump.reason;
  return undefined;
}

function rawSizeFrom(zstd: SpawnedTool): number {
  const rawSize = parseZstdRawBytes(zstd.stderr());
  if (rawSize === undefined) {
    throw new ToolError('zstd did not report how many bytes it compressed', {
      tool: 'zstd',
      stderrTail: zstd.stderr(),
      hint: 'update zstd, or set DBOPS_BACKUP_NODE_PIPE=1 to compress through dbops instead',
    });
  }
  return rawSize;
}

/** zstd writing the repository file itself fails on a full disk with its own words: say it as storage. */
function zstdWriteError(err: unknown, key: string): unknown {
  if (!(err instanceof ToolError) || err.tool !== 'zstd') return err;
  if (/No space left on device|Disk quota exceeded/i.test(err.message)) {
    return new RepositoryError('no-space', `cannot write ${key}: no space left on device`, {
      key,
      hint: 'free space on the filesystem holding the repository, or prune old backups',
      cause: err,
    });
  }
  return err;
}

/**
 * dump tool | zstd at the OS level (zstd's stdin IS the dump's stdout pipe, so the raw bytes never
 * enter Node) → repository. Two ways on from zstd:
 * - a local repository with nothing to do in Node (no encryption): zstd writes the repository's
 *   new file itself and Node reads it back from the page cache in 1 MiB reads for the SHA-256
 *   (measured: ~1.4 s of Node CPU per 120 MB through a pipe against ~0.15 s this way, on a dump
 *   that keeps both cores busy);
 * - otherwise zstd's stdout → encrypt → SHA-256 → repository, with back-pressure end to end.
 * The stored SHA-256 is what restore and verify check; there is no raw-bytes SHA-256 (see
 * docs/backup.md), the raw size comes from zstd's own count.
 */
export async function storeDumpPiped(
  repo: Repository,
  dump: DumpCommand,
  o: StorePipedOptions,
): Promise<StoredObject> {
  const spec = parseCompression(o.pipeline.compression);
  const write = await buildWritePipeline(o.pipeline, { externalCompression: true });
  const description = write.describe();
  const zstdBinary = description.compression.binary!;
  const zstdArgs = ['-vv', '-c', zstdLevelFlag(spec.level), '-T0'];
  const stored =
    repo.putFromDescriptor && write.stages.length === 0
      ? await zstdToFile(repo, dump, zstdBinary, [...zstdArgs, '--no-sparse'], o)
      : await zstdThroughNode(repo, dump, zstdBinary, zstdArgs, write.stages, o);
  return {
    key: o.key,
    content: o.content,
    raw: { size: stored.rawSize },
    stored: { size: stored.size, sha256: stored.sha256 },
    pipeline: description,
  };
}

interface StoredBytes {
  rawSize: number;
  size: number;
  sha256: string;
}

async function zstdToFile(
  repo: Repository,
  dump: DumpCommand,
  zstdBinary: string,
  zstdArgs: string[],
  o: StorePipedOptions,
): Promise<StoredBytes> {
  let result: StoredBytes | undefined;
  const held = await repo.putFromDescriptor!(
    o.key,
    async (sink) => {
      const run = startDumpAndZstd(dump, zstdBinary, zstdArgs, sink.fd, o.signal);
      const guard = guardOrphans([run.dumper.child.pid, run.zstd.child.pid]);
      const hash = createHash('sha256');
      let bytes = 0;
      const following = followFile(sink.read, {
        writerDone: run.zstd.done,
        onChunk: (chunk) => {
          hash.update(chunk);
          bytes += chunk.byteLength;
          o.onProgress?.(bytes);
        },
        signal: o.signal,
      });
      const [d, z, f] = await Promise.allSettled([
        run.watch(run.dumper.done),
        run.watch(run.zstd.done),
        run.watch(following),
      ]);
      guard.release();
      if (o.signal.aborted) throw abortError(o.signal);
      const failure = firstCause({ status: 'fulfilled', value: undefined }, d, z, f);
      if (failure !== undefined) throw zstdWriteError(failure, o.key);
      result = { rawSize: rawSizeFrom(run.zstd), size: bytes, sha256: hash.digest('hex') };
    },
    {
      ifAbsent: true,
      signal: o.signal,
      metadata: { 'dbops-content': o.content },
    },
  );
  if (!result || held.size !== result.size) {
    throw new StorageError(
      `${o.key}: read back ${result?.size ?? 0} bytes but the repository holds ${held.size}`,
    );
  }
  return result;
}

async function zstdThroughNode(
  repo: Repository,
  dump: DumpCommand,
  zstdBinary: string,
  zstdArgs: string[],
  stages: Duplex[],
  o: StorePipedOptions,
): Promise<StoredBytes> {
  const run = startDumpAndZstd(dump, zstdBinary, zstdArgs, 'pipe', o.signal);
  const body = new PassThrough();
  const put = repo.put(o.key, body, {
    ifAbsent: true,
    ...(o.sizeHint ? { sizeHint: o.sizeHint } : {}),
    signal: o.signal,
    metadata: { 'dbops-content': o.content },
  });
  put.catch(() => {});
  const zstdOut = run.zstd.child.stdout;
  const piped = zstdOut
    ? runPipeline(zstdOut, stages, body, {
        signal: o.signal,
        ...(o.onProgress ? { onProgress: (_in: number, out: number) => o.onProgress!(out) } : {}),
      })
    : Promise.reject(new ToolError('zstd has no stdout', { tool: 'zstd' }));
  piped.catch(() => {});
  const [p, u, d, z] = await Promise.allSettled([
    run.watch(piped),
    // A failed upload stops reading the body: end it, or the pipeline would wait on it forever.
    run.watch(put).catch((err: unknown) => {
      body.destroy(err as Error);
      throw err;
    }),
    run.watch(run.dumper.done),
    run.watch(run.zstd.done),
  ]);
  if (o.signal.aborted) throw abortError(o.signal);
  const failure = firstCause(u, d, z, p);
  if (failure !== undefined) throw failure;
  const stored = (p as PromiseFulfilledResult<Awaited<typeof piped>>).value;
  const held = (u as PromiseFulfilledResult<Awaited<typeof put>>).value;
  if (held.size !== stored.bytesOut) {
    throw new StorageError(`${o.key}: wrote ${stored.bytesOut} bytes but the repository holds ${held.size}`);
  }
  return { rawSize: rawSizeFrom(run.zstd), size: stored.bytesOut, sha256: stored.sha256 };
}
