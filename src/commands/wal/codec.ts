import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { mkdir, readFile, unlink } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { Readable, Writable, type Duplex } from 'node:stream';

import { ChecksFailed, ConfigError, ToolError } from '../../errors.js';
import {
  findZstdBinary,
  formatCompression,
  parseCompression,
  zlibHasZstd,
  zstdLevelFlag,
  type CompressionAlgorithm,
} from '../../streams/compression-spec.js';
import type { EncryptOptions } from '../../streams/encrypt.js';
import { ZstdLanes, type ZstdRunner } from './zstd-lanes.js';
import type { ReadPipelineOptions } from '../../streams/pipeline.js';
import { META } from './layout.js';

/*
 * The stream stages (compress.js, pipeline.js, encrypt.js) are imported only when a file needs
 * them: the default push (zstd binary, no encryption) loads none of them, and every module costs
 * start-up time in a process PostgreSQL starts once per segment.
 */

function compressionStages() {
  return import('../../streams/compress.js');
}

/**
 * `zstd -LEVEL -c FILE` → the compressed bytes. zstd writes into a scratch file rather than a pipe:
 * collecting ~1.4 MB of pipe chunks in Node cost twice the main-thread CPU (measured 22 vs 11 ms
 * per segment), and the background worker's main thread is what limits its rate.
 */
async function zstdFile(
  binary: string,
  file: string,
  level: number,
  scratchDir: string,
  runner: ZstdRunner | undefined,
): Promise<Buffer> {
  await mkdir(scratchDir, { recursive: true, mode: 0o700 });
  const out = join(scratchDir, `${basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.zst`);
  const fd = openSync(out, 'wx', 0o600);
  try {
    // A lane's shell opens `out` itself (`> out`); the fd here only created it exclusively.
    if (runner) await runner(file, out, level);
    else
      await new Promise<void>((resolve, reject) => {
        let stderr = '';
        const child = spawn(binary, ['-q', '-c', zstdLevelFlag(level), '--', file], {
          stdio: ['ignore', fd, 'pipe'],
        });
        child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
        child.on('error', reject);
        child.on('close', (code) =>
          code === 0
            ? resolve()
            : reject(
                new ToolError(`zstd failed on ${file}: ${stderr.trim() || `exit ${code}`}`, { tool: 'zstd' }),
              ),
        );
      });
    return readFileSync(out);
  } finally {
    closeSync(fd);
    await unlink(out).catch(() => {});
  }
}

/** Long-lived zstd lanes for the background worker, when pushes use the zstd binary. */
export function zstdLanesFor(
  compression: string | { algorithm: CompressionAlgorithm; level?: number | undefined },
  size: number,
): ZstdLanes | undefined {
  const spec = parseCompression(compression);
  const binary = spec.algorithm === 'zstd' && !zlibHasZstd() ? zstdBinaryOnce() : undefined;
  return binary ? new ZstdLanes(binary, size) : undefined;
}

let zstdBinaryMemo: string | null | undefined;
function zstdBinaryOnce(): string | undefined {
  if (zstdBinaryMemo === undefined) zstdBinaryMemo = findZstdBinary() ?? null;
  return zstdBinaryMemo ?? undefined;
}

export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

async function collect(source: Buffer, stages: Duplex[]): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _e, cb) {
      chunks.push(chunk);
      cb();
    },
  });
  const { runPipeline } = await import('../../streams/pipeline.js');
  await runPipeline(Readable.from([source]), stages, sink);
  return Buffer.concat(chunks);
}

/** One read of a WAL file: its SHA-256, its size and its first bytes (the page header). */
export interface ScannedWal {
  sha256: string;
  size: number;
  head: Buffer;
}

/**
 * Reads a WAL file through one reused buffer while hashing it. Reading 16 MB into a fresh Buffer
 * costs more than hashing it (page faults on the new allocation: ~44 ms vs ~12 ms on the 2-core
 * machine), and nothing but the compressor needs the whole file. Synchronous: ~12 ms of CPU that
 * the zstd child's output simply waits out in its pipe.
 */
export function scanWalFile(filePath: string): ScannedWal {
  const fd = openSync(filePath, 'r');
  try {
    const hash = createHash('sha256');
    const buf = Buffer.allocUnsafe(256 * 1024);
    let size = 0;
    let head = Buffer.alloc(0);
    for (;;) {
      const n = readSync(fd, buf, 0, buf.byteLength, null);
      if (n === 0) break;
      const chunk = buf.subarray(0, n);
      if (size === 0) head = Buffer.from(chunk.subarray(0, 8192));
      hash.update(chunk);
      size += n;
    }
    return { sha256: hash.digest('hex'), size, head };
  } finally {
    closeSync(fd);
  }
}

/**
 * Compresses and encrypts a whole WAL file in memory (a segment is 16 MB; a single PUT is both
 * simpler and faster than a multipart stream). zstd runs as the binary on Node 20 and reads the
 * file itself: piping 16 MB through its stdin from Node costs more than the compression, and the
 * caller hashes the file at the same time on the other core. The encryption module is imported
 * only when WAL is encrypted.
 */
export async function encodeWalFile(
  filePath: string,
  o: {
    compression: string | { algorithm: CompressionAlgorithm; level?: number | undefined };
    encryption: EncryptOptions | null;
    /** Where the zstd binary writes its output (the spool: same filesystem as pg_wal). */
    scratchDir: string;
    /** The background worker's lanes (zstd-lanes.ts) instead of a process spawned from Node. */
    zstd?: ZstdRunner | undefined;
  },
): Promise<Buffer> {
  const spec = parseCompression(o.compression);
  const zstdBinary = spec.algorithm === 'zstd' && !zlibHasZstd() ? zstdBinaryOnce() : undefined;
  const stages: Duplex[] =
    zstdBinary || spec.algorithm === 'none' ? [] : [(await compressionStages()).compressStage(spec)];
  if (o.encryption) {
    const { encryptStage } = await import('../../streams/encrypt.js');
    stages.push(encryptStage(o.encryption));
  }
  const source = zstdBinary
    ? await zstdFile(zstdBinary, filePath, spec.level, o.scratchDir, o.zstd)
    : await readFile(filePath);
  return stages.length ? collect(source, stages) : source;
}

/** The metadata stored with a WAL object: what `wal fetch` and idempotent pushes check. */
export function walMetadata(o: {
  raw: { sha256: string; size: number };
  body: Buffer;
  compression: string | { algorithm: CompressionAlgorithm; level?: number | undefined };
  encryption: EncryptOptions | null;
  systemIdentifier?: string;
}): Record<string, string> {
  const spec = parseCompression(o.compression);
  return {
    [META.sha256]: o.raw.sha256,
    [META.size]: String(o.raw.size),
    [META.storedSha256]: sha256(o.body),
    [META.compression]: formatCompression(spec),
    [META.encryption]: !o.encryption
      ? 'none'
      : 'passphrase' in o.encryption
        ? 'age-passphrase'
        : 'age-recipients',
    ...(o.systemIdentifier ? { [META.systemIdentifier]: o.systemIdentifier } : {}),
  };
}

/** A fetched object failed its checksum (exit 1): recovery must stop rather than replay it. */
export class WalChecksumError extends ChecksFailed {}

/**
 * Verifies the stored bytes against the metadata, decrypts, decompresses, and verifies the plain
 * bytes. Without checksums in the metadata (a local repository whose sidecar was lost in a crash)
 * the file cannot be trusted and is refused.
 */
export async function decodeWal(
  key: string,
  body: Buffer,
  metadata: Record<string, string>,
  read: ReadPipelineOptions,
): Promise<Buffer> {
  const expectedStored = metadata[META.storedSha256];
  const expectedRaw = metadata[META.sha256];
  if (!expectedStored || !expectedRaw) {
    throw new WalChecksumError(`${key} has no checksums in its metadata; refusing to use it unverified`, {
      hint: 'the object was not written by dbops wal push, or its metadata was lost',
    });
  }
  const actualStored = sha256(body);
  if (actualStored !== expectedStored) {
    throw new WalChecksumError(
      `checksum mismatch: ${key} has sha256 ${actualStored}, it was archived with ${expectedStored}`,
      {
        hint: 'the archived copy is damaged; recovery stops before it rather than replay bad WAL',
      },
    );
  }
  const compression = (metadata[META.compression] ?? 'none').split(':')[0] as CompressionAlgorithm;
  const encryption = metadata[META.encryption] ?? 'none';
  const stages: Duplex[] = [];
  if (encryption !== 'none') {
    const { decryptStage } = await import('../../streams/encrypt.js');
    if (encryption === 'age-passphrase') {
      if (!read.passphrase)
        throw new ConfigError(`${key} is encrypted with a passphrase and none was given`, {
          hint: 'set the variable named by encryption.passphraseEnv',
        });
      stages.push(decryptStage({ passphrase: read.passphrase }));
    } else {
      if (!read.identities?.length)
        throw new ConfigError(`${key} is encrypted and no age identity was given`, {
          hint: 'set encryption.identityFile or DBOPS_AGE_IDENTITY',
        });
      stages.push(decryptStage({ identities: read.identities }));
    }
  }
  if (compression !== 'none') stages.push((await compressionStages()).decompressStage(compression));
  const raw = stages.length === 0 ? body : await collect(body, stages);
  const actualRaw = sha256(raw);
  if (actualRaw !== expectedRaw) {
    throw new WalChecksumError(
      `checksum mismatch: ${key} decodes to sha256 ${actualRaw}, it was archived with ${expectedRaw}`,
    );
  }
  return raw;
}

/** Whether `zstd` compression can run here (for doctor / setup messages). */
export function zstdAvailable(): boolean {
  return findZstdBinary() !== undefined;
}

/**
 * Decodes an object whose metadata was lost (a local repository's sidecar after a crash), by its
 * magic bytes: age header, zstd frame, gzip member, else plain. Used only to compare content with
 * a file being pushed, never to hand WAL to PostgreSQL.
 */
export async function decodeBySniffing(body: Buffer, read: ReadPipelineOptions): Promise<Buffer> {
  const stages: Duplex[] = [];
  let probe = body;
  if (body.subarray(0, 21).toString('latin1') === 'age-encryption.org/v1') {
    const { decryptStage } = await import('../../streams/encrypt.js');
    const opts = read.identities?.length
      ? { identities: read.identities }
      : read.passphrase
        ? { passphrase: read.passphrase }
        : undefined;
    if (!opts) throw new ConfigError('cannot compare with an encrypted archived file without its identity');
    probe = await collect(body, [decryptStage(opts)]);
  }
  if (probe.readUInt32LE(0) === 0xfd2fb528) stages.push((await compressionStages()).decompressStage('zstd'));
  else if (probe[0] === 0x1f && probe[1] === 0x8b)
    stages.push((await compressionStages()).decompressStage('gzip'));
  return stages.length ? collect(probe, stages) : probe;
}
