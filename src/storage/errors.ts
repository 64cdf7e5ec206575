import { ConfigError, StorageError, type DbopsErrorOptions } from '../errors.js';

/**
 * Why a repository operation failed, for callers that must react to one case (a missing WAL
 * segment, an object that already exists) without parsing messages.
 */
export type StorageErrorCode =
  | 'not-found'
  | 'exists'
  | 'invalid-key'
  | 'permission'
  | 'no-space'
  | 'read-only'
  | 'unavailable'
  | 'unsupported'
  | 'misconfigured'
  | 'integrity'
  | 'io';

export interface RepositoryErrorOptions extends DbopsErrorOptions {
  key?: string;
}

/** A repository failure (exit 5) with a machine-readable `code`. */
export class RepositoryError extends StorageError {
  readonly code: StorageErrorCode;
  /** The repository key involved, when there is one. */
  readonly key: string | undefined;
  constructor(code: StorageErrorCode, message: string, options: RepositoryErrorOptions = {}) {
    super(message, options);
    this.code = code;
    this.key = options.key;
  }
  get notFound(): boolean {
    return this.code === 'not-found';
  }
}

/** `get` of a key that does not exist. */
export class ObjectNotFoundError extends RepositoryError {
  constructor(key: string, location: string, options: DbopsErrorOptions = {}) {
    super('not-found', `object ${key} not found in ${location}`, { ...options, key });
  }
}

/** `put(…, { ifAbsent: true })` of a key that already exists; nothing was written. */
export class ObjectExistsError extends RepositoryError {
  constructor(key: string, location: string, options: DbopsErrorOptions = {}) {
    super('exists', `object ${key} already exists in ${location}`, { ...options, key });
  }
}

/**
 * A key or metadata entry that the repository refuses (`..`, absolute, empty segment, …). It is
 * bad input, not a storage failure, hence a ConfigError (exit 2).
 */
export class InvalidKeyError extends ConfigError {
  readonly code = 'invalid-key' as const;
  readonly key: string;
  constructor(key: string, reason: string) {
    super(`invalid repository key ${JSON.stringify(key)}: ${reason}`);
    this.key = key;
  }
}

/** The `code` of a storage error, or undefined for anything else. */
export function storageErrorCode(err: unknown): StorageErrorCode | undefined {
  if (err instanceof RepositoryError || err instanceof InvalidKeyError) return err.code;
  return undefined;
}

export function isNotFound(err: unknown): boolean {
  return storageErrorCode(err) === 'not-found';
}
