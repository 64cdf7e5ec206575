import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as zlib from 'node:zlib';
import { Readable, Writable, type Duplex } from 'node:stream';

import { ChecksFailed, ConfigError, ToolError } from '../../errors.js';
import {
  compressStage,
  decompressStage,
  findZstdBinary,
  parseCompression,
  type CompressionAlgorithm,
} from '../../streams/compress.js';
import type { EncryptOptions } from '../../streams/encrypt.js';
import { runPipeline, type ReadPipelineOptions } from '../../streams/pipeline.js';
import { META } from './layout.js';

/** A WAL file as stored: bytes plus the metadata that describes and checksums them. */
export interface EncodedWal {
  body: Buffer;
  metadata: Record<string, string>;
}

function zlibHasZstd(): boolean {
  return typeof (zlib as unknown as { createZstdCompress?: unknown }).createZstdCompress === 'function';
}

/** `zstd -LEVEL -c FILE` → the compressed bytes. */
function zstdFile(binary: string, file: string, level: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    execFile(
      binary,
      ['-q', '-c', `-${level}`, '--', file],
      { encoding: 'buffer', maxBuffer: 256 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err)
          reject(
            new ToolError(`zstd failed on ${file}: ${stderr.toString().trim() || err.message}`, {
              tool: 'zstd',
            }),
          );
        else resolve(stdout);
      },
    );
  });
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
  await runPipeline(Readable.from([source]), stages, sink);
  return Buffer.concat(chunks);
}

/**
 * Compresses and encrypts a whole WAL file in memory (a segment is 16 MB; a single PUT is both
 * simpler and faster than a multipart stream). zstd runs as the binary on Node 20 — spawning it
 * costs a few ms, importing nothing. The encryption module pulls in the age package only for
 * recipient types other than X25519 and passphrases.
 */
export async function encodeWal(
  data: Buffer,
  o: {
    compression: string | { algorithm: CompressionAlgorithm; level?: number | undefined };
    encryption: EncryptOptions | null;
    systemIdentifier?: string;
    /** The SHA-256 of `data` when the caller has it already (16 MB cost ~50-150 ms to hash). */
    rawSha256?: string;
    /** The file `data` was read from: the zstd binary then reads it directly. */
    filePath?: string;
  },
): Promise<EncodedWal> {
  const spec = parseCompression(o.compression);
  const zstdBinary = spec.algorithm === 'zstd' && o.filePath && !zlibHasZstd() ? findZstdBinary() : undefined;
  const stages: Duplex[] = zstdBinary ? [] : [compressStage(spec)];
  if (o.encryption) {
    const { encryptStage } = await import('../../streams/encrypt.js');
    stages.push(encryptStage(o.encryption));
  }
  let body: Buffer;
  if (zstdBinary) {
    // zstd reads the segment file itself: piping 16 MB through its stdin from Node costs more
    // than the compression (measured ~2x per call on a loaded 2-core machine).
    const compressed = await zstdFile(zstdBinary, o.filePath!, spec.level);
    body = stages.length ? await collect(compressed, stages) : compressed;
  } else {
    body = spec.algorithm === 'none' && !o.encryption ? data : await collect(data, stages);
  }
  return {
    body,
    metadata: {
      [META.sha256]: o.rawSha256 ?? sha256(data),
      [META.size]: String(data.byteLength),
      [META.storedSha256]: sha256(body),
      [META.compression]: spec.algorithm === 'none' ? 'none' : `${spec.algorithm}:${spec.level}`,
      [META.encryption]: !o.encryption
        ? 'none'
        : 'passphrase' in o.encryption
          ? 'age-passphrase'
          : 'age-recipients',
      ...(o.systemIdentifier ? { [META.systemIdentifier]: o.systemIdentifier } : {}),
    },
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
  if (compression !== 'none') stages.push(decompressStage(compression));
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
  if (probe.readUInt32LE(0) === 0xfd2fb528) stages.push(decompressStage('zstd'));
  else if (probe[0] === 0x1f && probe[1] === 0x8b) stages.push(decompressStage('gzip'));
  return stages.length ? collect(probe, stages) : probe;
}
