import type { FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';

/** One stored object. */
export interface ObjectInfo {
  /** Key relative to the repository root (`backups/main/2024…/dump.zst`). */
  key: string;
  /** Stored size in bytes. */
  size: number;
  modified: Date;
  /**
   * User metadata (lower-case names, ASCII values). `head()` and `put()` return it; `list()` leaves
   * it empty on every backend because S3 listings do not carry it — call `head()` when needed.
   */
  metadata: Record<string, string>;
}

export interface PutOptions {
  metadata?: Record<string, string>;
  signal?: AbortSignal;
  /** Fail with ObjectExistsError instead of overwriting. */
  ifAbsent?: boolean;
  /** Exact body length when known: checked after the write, and sizes S3 multipart parts. */
  contentLength?: number;
  /**
   * Expected size when the exact length is not known (e.g. the database size before
   * compression). Only sizes S3 multipart parts, so a stream larger than the default limit
   * (10,000 × 16 MiB ≈ 156 GiB) still fits.
   */
  sizeHint?: number;
  /**
   * false: the object need not survive a power loss (a lock, a marker: losing one, or finding
   * it torn, is handled by its reader). A local repository then skips the file's and the
   * directory's fsync (new directories are still made durable). Default true.
   */
  durable?: boolean;
}

export interface DeleteOptions {
  /** false: the removal need not survive a power loss (see PutOptions.durable). Default true. */
  durable?: boolean;
}

/**
 * The file behind `Repository.putFromDescriptor` while another process writes it: the bytes go
 * from that process to the file with no copy through Node.
 */
export interface FileSink {
  /** The new file, open for writing at offset 0: a child process's stdout. */
  readonly fd: number;
  /**
   * Reads bytes already written, at `position` (a checksum taken while the writer runs). The
   * repository also flushes the bytes read so far to disk in the background, so that the final
   * sync is short.
   */
  read(buffer: Uint8Array, position: number): Promise<number>;
}

export interface ListOptions {
  /**
   * Only keys after this one (UTF-8 byte order), as S3's StartAfter: a reader skips a whole
   * subtree (`<target>/wal/`, one object per WAL segment) in one step instead of walking it.
   */
  startAfter?: string;
}

export interface GetOptions {
  signal?: AbortSignal;
}

/**
 * A place where dbops keeps backups and WAL: a local directory or an S3 bucket + prefix. Every
 * command uses only this interface. Errors are RepositoryError (exit 5) with a `code`; invalid keys
 * are InvalidKeyError (exit 2).
 */
export interface Repository {
  /** The repository's name in the config. */
  readonly name: string;
  /** Printable, without secrets: `/path/to/backups` or `s3://bucket/prefix (endpoint http://…)`. */
  readonly location: string;
  /**
   * Stores `body` under `key`, streaming with back-pressure; the object becomes visible only once
   * complete (never half-written), and durable when the promise resolves.
   */
  put(key: string, body: Readable | Uint8Array, options?: PutOptions): Promise<ObjectInfo>;
  /**
   * Optional (local repositories): stores what `write` writes to `sink.fd`, typically by handing it
   * to a child process as stdout. Same guarantees as put(): the object becomes visible, complete
   * and durable, only when `write` resolves; if it rejects, nothing is stored.
   */
  putFromDescriptor?(
    key: string,
    write: (sink: FileSink) => Promise<void>,
    options?: PutOptions,
  ): Promise<ObjectInfo>;
  /** Opens `key` for reading; a missing key rejects with ObjectNotFoundError (`code: 'not-found'`). */
  get(key: string, options?: GetOptions): Promise<Readable>;
  /**
   * Optional (local repositories): `key` opened for reading, for a child process to read as its
   * stdin with no copy through Node. Errors as get(); the caller closes the handle.
   */
  getFile?(key: string, options?: GetOptions): Promise<FileHandle>;
  /** Size, date and metadata of `key`, or undefined when it does not exist. */
  head(key: string): Promise<ObjectInfo | undefined>;
  /** Every object whose key starts with `prefix` (a string prefix, as in S3), recursive, sorted by key. */
  list(prefix: string, options?: ListOptions): AsyncIterable<ObjectInfo>;
  /** Deletes the keys; keys that do not exist are not an error. */
  delete(keys: string[], options?: DeleteOptions): Promise<void>;
  /** Releases connections; the repository must not be used afterwards. */
  close(): Promise<void>;
}
