import { PassThrough } from 'node:stream';

import { DbopsError, Interrupted, StorageError, ToolError } from '../../errors.js';
import type { Repository } from '../../storage/repository.js';
import { compressionImplementation, parseCompression } from '../../streams/compress.js';
import { zstdLevelFlag } from '../../streams/compression-spec.js';
import { buildWritePipeline, runPipeline, type WritePipelineOptions } from '../../streams/pipeline.js';
import { spawnTool } from '../../tools/spawn-tool.js';
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

/**
 * dump tool | zstd at the OS level (zstd's stdin IS the dump's stdout pipe, so the raw bytes never
 * enter Node) → zstd's stdout → encrypt → SHA-256 → repository, with back-pressure end to end.
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

  // Both spawns in the same tick: Node must not start reading the dump's stdout before zstd owns it.
  const dumper = spawnTool(dump.tool, dump.binary, dump.args, {
    env: dump.env,
    stdio: ['ignore', 'pipe'],
    signal: o.signal,
  });
  const dumpOut = dumper.child.stdout;
  const zstd = spawnTool('zstd', zstdBinary, zstdArgs, {
    stdio: [dumpOut ?? 'ignore', 'pipe'],
    signal: o.signal,
  });
  // zstd holds the read end now; closing ours lets pg_dump see EPIPE if zstd dies.
  dumpOut?.destroy();
  const killAll = () => {
    dumper.kill();
    zstd.kill();
  };

  const body = new PassThrough();
  const put = repo.put(o.key, body, {
    ifAbsent: true,
    ...(o.sizeHint ? { sizeHint: o.sizeHint } : {}),
    signal: o.signal,
    metadata: { 'dbops-content': o.content },
  });
  put.catch(() => {});
  const piped = zstd.child.stdout
    ? runPipeline(zstd.child.stdout, write.stages, body, {
        signal: o.signal,
        ...(o.onProgress ? { onProgress: (_in: number, out: number) => o.onProgress!(out) } : {}),
      })
    : Promise.reject(new ToolError('zstd has no stdout', { tool: 'zstd' }));
  piped.catch(() => {});
  const watch = <T>(p: Promise<T>) =>
    p.then(
      (v) => v,
      (err: unknown) => {
        killAll();
        throw err;
      },
    );
  const [p, u, d, z] = await Promise.allSettled([
    watch(piped),
    // A failed upload stops reading the body: end it, or the pipeline would wait on it forever.
    watch(put).catch((err: unknown) => {
      body.destroy(err as Error);
      throw err;
    }),
    watch(dumper.done),
    watch(zstd.done),
  ]);
  if (o.signal.aborted) {
    const reason: unknown = o.signal.reason;
    throw reason instanceof DbopsError ? reason : new Interrupted('interrupted');
  }
  // The cause before its echoes: storage, then a dump that failed on its own (not by SIGPIPE from a
  // dead zstd), then zstd, then the Node side.
  if (u.status === 'rejected' && u.reason instanceof StorageError) throw u.reason;
  const dumpBrokenPipe = d.status === 'rejected' && /SIGPIPE/.test((d.reason as Error).message);
  if (d.status === 'rejected' && !dumpBrokenPipe) throw d.reason;
  if (z.status === 'rejected') throw z.reason;
  if (p.status === 'rejected') throw p.reason;
  if (u.status === 'rejected') throw u.reason;
  if (d.status === 'rejected') throw d.reason;
  const stored = (p as PromiseFulfilledResult<Awaited<typeof piped>>).value;
  const held = (u as PromiseFulfilledResult<Awaited<typeof put>>).value;
  if (held.size !== stored.bytesOut) {
    throw new StorageError(`${o.key}: wrote ${stored.bytesOut} bytes but the repository holds ${held.size}`);
  }
  const rawSize = parseZstdRawBytes(zstd.stderr());
  if (rawSize === undefined) {
    throw new ToolError('zstd did not report how many bytes it compressed', {
      tool: 'zstd',
      stderrTail: zstd.stderr(),
      hint: 'update zstd, or set DBOPS_BACKUP_NODE_PIPE=1 to compress through dbops instead',
    });
  }
  return {
    key: o.key,
    content: o.content,
    raw: { size: rawSize },
    stored: { size: stored.bytesOut, sha256: stored.sha256 },
    pipeline: description,
  };
}
