export type { GetOptions, ListOptions, ObjectInfo, PutOptions, Repository } from './repository.js';
export {
  InvalidKeyError,
  ObjectExistsError,
  ObjectNotFoundError,
  RepositoryError,
  isNotFound,
  storageErrorCode,
  type RepositoryErrorOptions,
  type StorageErrorCode,
} from './errors.js';
export { joinKey, validateKey, validateMetadata, validatePrefix } from './keys.js';
export { LocalRepository, type LocalRepositoryOptions } from './local.js';
export { openRepository, withRepository } from './open.js';
export { PROBE_PREFIX, probeRepository, type ProbeResult } from './probe.js';
// The S3 backend is reached through openRepository only: importing it here would load it eagerly.
export type { S3Repository, S3RepositoryOptions } from './s3.js';
