import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { Transform, Writable, type TransformCallback } from 'node:stream';

import { ChecksFailed, DbopsError, StorageError, ToolError } from '../../errors.js';
import type { Repository } from '../../storage/repository.js';
import {
  DecryptionError,
  generateIdentity,
  identityToRecipient,
  rekeyHeader,
} from '../../streams/encrypt.js';
import { followFile } from '../../streams/follow-file.js';
import { buildReadPipeline, runPipeline, type ReadPipelineOptions } from '../../streams/pipeline.js';
import type { StoredObject } from './manifest.js';

/**
 * Reading a stored object back: SHA-256 of the stored bytes → decrypt → decompress → SHA-256 of the
 * plaintext → sink. Both digests are compared with the manifest when the stream ends; any damage is
 * a ChecksFailed (exit 1) that names the object.
 */

/** Damage found in a stored object (exit 1). */
export class ObjectDamaged extends ChecksFailed {
  readonly key: string;
  constructor(key: string, what: string, options: { cause?: unknown } = {}) {
    super(`${key} is damaged: ${what}`, {
      ...options,
      hint: 'this copy cannot be trusted: restore another backup, and check the storage that held it',
    });
    this.key = key;
  }
}

/**
 * A pass-through that fails at its end unless what went through has the expected SHA-256 and size
 * (the size only, when no SHA-256 is expected: raw bytes of a dump piped straight into zstd).
 */
export class VerifyStage extends Transform {
  private readonly hash;
  private bytes = 0;
  constructor(
    private readonly expected: { sha256?: string | undefined; size: number },
    private readonly describe: (actual: { sha256: string | undefined; size: number }) => Error,
    private readonly beforeFail?: () => void,
    /** Also sees each chunk in order (the raw bytes on their way to a spool, say). */
    private readonly onChunk?: (chunk: Uint8Array) => void,
  ) {
    super();
    this.hash = expected.sha256 === undefined ? undefined : createHash('sha256');
  }
  override _transform(chunk: Buffer, _e: BufferEncoding, cb: TransformCallback): void {
    this.hash?.update(chunk);
    this.bytes += chunk.length;
    this.onChunk?.(chunk);
    cb(null, chunk);
  }
  override _flush(cb: TransformCallback): void {
    const sha256 = this.hash ? this.hash.digest('hex') : undefined;
    if (sha256 !== this.expected.sha256 || this.bytes !== this.expected.size) {
      this.beforeFail?.();
      cb(this.describe({ sha256, size: this.bytes }));
      return;
    }
    cb();
  }
}

export interface ReadObjectOptions {
  read: ReadPipelineOptions;
  signal?: AbortSignal;
  onProgress?: (storedBytes: number, rawBytes: number) => void;
  /** Runs just before a checksum failure is raised (restore kills pg_restore before its stdin closes). */
  beforeFail?: () => void;
  /** Sees the raw bytes in order on their way to the sink (the chunk may be reused afterwards). */
  onRaw?: (chunk: Uint8Array) => void;
}

/** Errors from the stages, re-labelled with the object they concern. */
export function classifyReadError(key: string, err: unknown): unknown {
  if (err instanceof ObjectDamaged) return err;
  if (err instanceof DecryptionError) {
    return new DecryptionError(`cannot decrypt ${key}: ${err.message}`, {
      ...(err.hint ? { hint: err.hint } : {}),
      cause: err,
    });
  }
  if (err instanceof ChecksFailed) return new ObjectDamaged(key, err.message, { cause: err });
  if (err instanceof StorageError) return err;
  if (err instanceof ToolError && err.tool === 'zstd')
    return new ObjectDamaged(key, `zstd cannot decompress it (${err.message})`, { cause: err });
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && code.startsWith('Z_'))
    return new ObjectDamaged(key, `gzip cannot decompress it (${(err as Error).message})`, { cause: err });
  return err;
}

/** Checks the stored bytes as they stream by against the manifest's SHA-256 and size. */
export function storedBytesCheck(object: StoredObject, beforeFail?: () => void): VerifyStage {
  return new VerifyStage(object.stored, (a) => storedMismatch(object, a), beforeFail);
}

const storedMismatch = (object: StoredObject, a: { sha256: string | undefined; size: number }) =>
  new ObjectDamaged(
    object.key,
    `stored bytes have sha256 ${a.sha256} (${a.size} bytes), the manifest says ${object.stored.sha256} (${object.stored.size} bytes)`,
  );

/**
 * The same check on a stored file read in place (a local repository's object that a tool reads
 * itself): positioned reads into one reused buffer, so a file descriptor shared with that tool
 * keeps its own offset. Returns the number of bytes checked.
 */
export async function checkStoredFile(
  file: FileHandle,
  object: StoredObject,
  o: { signal?: AbortSignal; onProgress?: (storedBytes: number) => void } = {},
): Promise<number> {
  let stored = 0;
  const hash = createHash('sha256');
  // The file is complete: followFile reads it to its end once, then stops.
  const size = await followFile(
    async (buffer, position) => (await file.read(buffer, 0, buffer.length, position)).bytesRead,
    {
      writerDone: Promise.resolve(),
      onChunk: (chunk) => {
        hash.update(chunk);
        stored += chunk.byteLength;
        o.onProgress?.(stored);
      },
      ...(o.signal ? { signal: o.signal } : {}),
    },
  );
  const sha256 = hash.digest('hex');
  if (sha256 !== object.stored.sha256 || size !== object.stored.size)
    throw storedMismatch(object, { sha256, size });
  return size;
}

export async function readObject(
  repo: Repository,
  object: StoredObject,
  sink: Writable,
  o: ReadObjectOptions,
): Promise<{ storedBytes: number; rawBytes: number }> {
  const { stages } = buildReadPipeline(object.pipeline, o.read);
  const storedCheck = storedBytesCheck(object, o.beforeFail);
  const rawCheck = new VerifyStage(
    object.raw,
    (a) =>
      new ObjectDamaged(
        object.key,
        object.raw.sha256 === undefined
          ? `the restored archive has ${a.size} bytes, the manifest says ${object.raw.size}`
          : `the restored archive has sha256 ${a.sha256} (${a.size} bytes), the manifest says ${object.raw.sha256}`,
      ),
    o.beforeFail,
    o.onRaw,
  );
  const source = await repo.get(object.key, o.signal ? { signal: o.signal } : {});
  try {
    const r = await runPipeline(source, [storedCheck, ...stages, rawCheck], sink, {
      ...(o.signal ? { signal: o.signal } : {}),
      ...(o.onProgress ? { onProgress: (inBytes, outBytes) => o.onProgress!(inBytes, outBytes) } : {}),
    });
    return { storedBytes: r.bytesIn, rawBytes: r.bytesOut };
  } catch (err) {
    o.beforeFail?.();
    throw classifyReadError(object.key, err);
  }
}

/** A sink that discards (verify without an archive check). */
export function nullSink(): Writable {
  return new Writable({ write: (_c, _e, cb) => cb() });
}

/**
 * Checks that the configured identity opens an encrypted object before anything is written anywhere
 * (a restore must not create a database it cannot fill). Reads only the object's first bytes.
 */
export async function checkCanDecrypt(
  repo: Repository,
  object: StoredObject,
  read: ReadPipelineOptions,
): Promise<void> {
  const enc = object.pipeline.encryption;
  if (!enc) return;
  // No identity at all → a clear ConfigError; the stages themselves (a zstd child) are not needed.
  for (const stage of buildReadPipeline(object.pipeline, read).stages) stage.destroy();
  const stream = await repo.get(object.key);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    size += chunk.length;
    if (size >= 64 * 1024) break;
  }
  stream.destroy();
  const throwaway = await identityToRecipient(await generateIdentity());
  const current =
    'passphrase' in enc ? { passphrase: read.passphrase ?? '' } : { identities: read.identities ?? [] };
  try {
    await rekeyHeader(Buffer.concat(chunks), { ...current, newRecipients: [throwaway] });
  } catch (err) {
    throw classifyReadError(object.key, err);
  }
}

/**
 * Writes into a child's stdin, holding back the latest chunk until the whole input has been
 * verified: the tool never sees the end of an archive whose checksum has not matched, and when the
 * pipeline fails the child is killed before its stdin closes — so pg_restore --single-transaction
 * never reaches COMMIT on damaged data.
 */
export class HoldbackSink extends Writable {
  private held: Buffer | undefined;
  constructor(
    private readonly target: Writable,
    private readonly kill: () => void,
  ) {
    super();
    target.on('error', (err) => this.destroy(err));
  }
  private forward(chunk: Buffer, cb: (err?: Error | null) => void): void {
    if (this.target.write(chunk)) cb();
    else this.target.once('drain', () => cb());
  }
  override _write(chunk: Buffer, _e: BufferEncoding, cb: (err?: Error | null) => void): void {
    const previous = this.held;
    this.held = chunk;
    if (previous) this.forward(previous, cb);
    else cb();
  }
  override _final(cb: (err?: Error | null) => void): void {
    const last = this.held;
    this.held = undefined;
    const end = () => this.target.end(() => cb());
    if (last) this.forward(last, end);
    else end();
  }
  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (err) this.kill();
    cb(err);
  }
}

export function isDbopsError(err: unknown): err is DbopsError {
  return err instanceof DbopsError;
}
