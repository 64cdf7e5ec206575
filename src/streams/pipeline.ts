import { Readable, Stream, type Duplex, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

import { ConfigError, DbopsError, Interrupted } from '../errors.js';
import {
  compressStage,
  compressionImplementation,
  decompressStage,
  parseCompression,
  type CompressionAlgorithm,
  type CompressionImplementation,
  type CompressionSpec,
} from './compress.js';
import { CorruptDataError, decryptStage, encryptStage, type EncryptOptions } from './encrypt.js';
import { countStage, hashStage } from './hash.js';

/**
 * How a stored object was made, as recorded in manifests: enough to read it back with dbops or by
 * hand (`age -d -i KEY | zstd -d`). JSON data only.
 */
// Type aliases rather than interfaces, so that they fit schemas with index signatures (zod looseObject).
export type PipelineEncryption =
  { format: 'age'; recipients: string[] } | { format: 'age'; passphrase: true } | null;

export type PipelineDescription = {
  compression: {
    algorithm: CompressionAlgorithm;
    level: number;
    /** `node:zlib`, `zstd-binary` or `passthrough`. */
    implementation: CompressionImplementation['implementation'];
    binary?: string;
    version?: string;
  };
  encryption: PipelineEncryption;
};

/** What reading an object needs from its description (a parsed manifest may carry more). */
export type ReadableDescription = {
  compression: { algorithm: CompressionAlgorithm };
  encryption: PipelineEncryption;
};

export interface WritePipelineOptions {
  /** `zstd`, `gzip:6`, `none`, or `{ algorithm, level? }` as in the config file. */
  compression: string | CompressionSpec | { algorithm: CompressionAlgorithm; level?: number | undefined };
  encryption: EncryptOptions | null;
  /** Use the zstd binary even if node:zlib has zstd (tests, benchmarks). */
  preferZstdBinary?: boolean;
}

export interface WritePipeline {
  /** compress → encrypt, in order; fresh streams, for one use. */
  stages: Duplex[];
  describe(): PipelineDescription;
}

/**
 * The stages between a dump tool and storage. Async because it settles up front, before any dump
 * starts, which compressor is used (a missing zstd fails here with its install hint) and its version.
 */
export async function buildWritePipeline(
  options: WritePipelineOptions,
  build: { externalCompression?: boolean } = {},
): Promise<WritePipeline> {
  const spec = parseCompression(options.compression);
  const zstdOptions = { preferBinary: options.preferZstdBinary ?? false };
  const info = await compressionImplementation(spec.algorithm, zstdOptions);
  // externalCompression: the caller runs the compressor itself (an OS-level pipe from the dump tool,
  // see backup/store-piped.ts); the stages then hold only the encryption, the description all of it.
  const stages: Duplex[] = build.externalCompression ? [] : [compressStage(spec, zstdOptions)];
  const encryption = options.encryption;
  if (encryption) stages.push(encryptStage(encryption));
  const description: PipelineDescription = {
    compression: {
      algorithm: spec.algorithm,
      level: spec.level,
      implementation: info.implementation,
      ...(info.binary ? { binary: info.binary } : {}),
      ...(info.version ? { version: info.version } : {}),
    },
    encryption: !encryption
      ? null
      : 'passphrase' in encryption
        ? { format: 'age', passphrase: true }
        : { format: 'age', recipients: [...encryption.recipients] },
  };
  return { stages, describe: () => structuredClone(description) };
}

export interface ReadPipelineOptions {
  identities?: string[];
  passphrase?: string;
  preferZstdBinary?: boolean;
}

/** The reverse of `buildWritePipeline` for an object described by `description`: decrypt → decompress. */
export function buildReadPipeline(
  description: ReadableDescription,
  options: ReadPipelineOptions = {},
): { stages: Duplex[] } {
  const stages: Duplex[] = [];
  const enc = description.encryption;
  if (enc) {
    if (enc.format !== 'age') throw new ConfigError(`unsupported encryption format "${String(enc.format)}"`);
    if ('passphrase' in enc) {
      if (!options.passphrase) {
        throw new ConfigError('this backup is encrypted with a passphrase, and none was given', {
          hint: 'set the environment variable named by encryption.passphraseEnv',
        });
      }
      stages.push(decryptStage({ passphrase: options.passphrase }));
    } else {
      if (!options.identities || options.identities.length === 0) {
        throw new ConfigError('this backup is encrypted with age keys, and no identity was given', {
          hint: `set encryption.identityFile (or DBOPS_AGE_IDENTITY) to the private key of one of: ${enc.recipients.join(', ')}`,
        });
      }
      stages.push(decryptStage({ identities: options.identities }));
    }
  }
  stages.push(
    decompressStage(description.compression.algorithm, { preferBinary: options.preferZstdBinary ?? false }),
  );
  return { stages };
}

export interface PipelineResult {
  /** Bytes read from the source. */
  bytesIn: number;
  /** Bytes that reached the sink. */
  bytesOut: number;
  /** SHA-256 (hex) of the bytes that reached the sink. */
  sha256: string;
}

export interface RunPipelineOptions {
  signal?: AbortSignal;
  /** Called with (bytesIn, bytesOut) as data flows, at most every ~64 KiB of output. */
  onProgress?: (bytesIn: number, bytesOut: number) => void;
}

/**
 * source → stages → sink with back-pressure. Any failure (or the signal) destroys every stream,
 * which kills child processes in the stages; the first error is thrown.
 */
export async function runPipeline(
  source: Readable | AsyncIterable<Uint8Array>,
  stages: readonly Duplex[],
  sink: Writable,
  options: RunPipelineOptions = {},
): Promise<PipelineResult> {
  const counter = countStage();
  const hasher = hashStage();
  const { onProgress } = options;
  if (onProgress) hasher.on('data', () => onProgress(counter.bytes, hasher.bytes));
  try {
    const input = source instanceof Stream ? source : Readable.from(source, { objectMode: false });
    const streams: NodeJS.ReadWriteStream[] = [input, counter, ...stages, hasher, sink] as never[];
    await pipeline(streams, options.signal ? { signal: options.signal } : {});
  } catch (err) {
    if (options.signal?.aborted) {
      const reason: unknown = options.signal.reason;
      if (reason instanceof DbopsError) throw reason;
      throw new Interrupted('interrupted', { cause: err });
    }
    // node:zlib reports damaged gzip (or zstd) input as Z_DATA_ERROR, Z_BUF_ERROR, ZSTD_error_…
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && /^(Z_|ZSTD_)/.test(code)) {
      throw new CorruptDataError(`compressed data is corrupted or truncated (${code})`, { cause: err });
    }
    throw err;
  }
  const { sha256, bytes } = await hasher.digest();
  return { bytesIn: counter.bytes, bytesOut: bytes, sha256 };
}
