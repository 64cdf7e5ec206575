import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';

import type { S3Client, S3ClientConfig } from '@aws-sdk/client-s3';

import type { S3RepositoryConfig } from '../config/schema.js';
import { ConfigError, DbopsError } from '../errors.js';
import { silentLogger, type Logger } from '../logger.js';
import { ObjectExistsError, ObjectNotFoundError, RepositoryError, type StorageErrorCode } from './errors.js';
import { validateKey, validateMetadata, validatePrefix } from './keys.js';
import type { GetOptions, ListOptions, ObjectInfo, PutOptions, Repository } from './repository.js';
import { abortReason, onAbort, relayWithMappedErrors, throwIfAborted } from './stream-util.js';

type S3Module = typeof import('@aws-sdk/client-s3');
type LibStorageModule = typeof import('@aws-sdk/lib-storage');

/**
 * The AWS SDK (v3.9xx+) calls process.emitWarning('NodeVersionSupportWarning: …') when an S3Client
 * is constructed on Node < 22. dbops supports Node 20 on purpose, and the warning would land in
 * every command's stderr (and in PostgreSQL's log via archive_command). The SDK's own switch is
 * this environment variable, read in @aws-sdk/core `emitWarningIfUnsupportedVersion` when the
 * first client is built; `??=` keeps an operator's explicit choice.
 */
export const SDK_NODE_WARNING_ENV = 'AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED';

const MiB = 1024 * 1024;
/** S3 allows at most 10,000 parts per multipart upload. */
export const MAX_PARTS = 10_000;
/** S3's part-size bounds (the last part may be smaller). */
const MIN_PART_SIZE = 8 * MiB;
const MAX_PART_SIZE = 5 * 1024 * MiB;
/**
 * One part size per upload (Cloudflare R2 and Garage refuse parts of different sizes), so a stream
 * of unknown length gets this one: 10,000 × 16 MiB ≈ 156 GiB per object. Callers that know roughly
 * how big the stream is pass `sizeHint` (or `contentLength`). A stream's parts are staged on disk
 * (partsInMemory), so memory does not grow with the part size; where they are held in memory
 * instead, an upload holds about (queueSize + 1) × partSize plus the part being gathered.
 */
export const DEFAULT_PART_SIZE = 16 * MiB;
const QUEUE_SIZE = 3;
/**
 * Parts of a stream are staged on disk (s3-spooled-upload.ts), not in lib-storage's buffers: peak
 * RSS then stays the same for a 1 TB database (~200 MiB parts) as for a small one.
 * `DBOPS_S3_PARTS_IN_MEMORY=1` keeps them in memory (for comparison: bench/s3-memory.mjs).
 */
const partsInMemory = (): boolean => process.env.DBOPS_S3_PARTS_IN_MEMORY === '1';

/** Part size for an upload of `exact` bytes, or of about `hint` bytes (doubled for safety). */
export function choosePartSize(exact?: number, hint?: number): number {
  const expected = exact ?? (hint === undefined ? undefined : hint * 2);
  if (expected === undefined || !(expected > 0)) return DEFAULT_PART_SIZE;
  const needed = Math.ceil(Math.ceil(expected / MAX_PARTS) / MiB) * MiB;
  const floor = exact === undefined ? DEFAULT_PART_SIZE : MIN_PART_SIZE;
  return Math.min(MAX_PART_SIZE, Math.max(floor, needed));
}

const isTeardownError = (err: unknown) => {
  const e = err as { name?: unknown; code?: unknown } | undefined;
  return e?.name === 'AbortError' || e?.code === 'ABORT_ERR' || e?.code === 'ERR_STREAM_PREMATURE_CLOSE';
};

let sdkModules: Promise<S3Module> | undefined;
let libStorageModule: Promise<LibStorageModule> | undefined;

/** Loaded on first use only: `dbops --version` and local repositories never pay for the SDK. */
function loadSdk(): Promise<S3Module> {
  process.env[SDK_NODE_WARNING_ENV] ??= 'true';
  sdkModules ??= import('@aws-sdk/client-s3');
  return sdkModules;
}

function loadLibStorage(): Promise<LibStorageModule> {
  libStorageModule ??= import('@aws-sdk/lib-storage');
  return libStorageModule;
}

/** The endpoint as it may be printed: no user-info, no query string. */
export function describeEndpoint(endpoint: string | undefined, region: string): string {
  if (endpoint === undefined) return `https://s3.${region}.amazonaws.com`;
  try {
    const url = new URL(endpoint);
    url.username = '';
    url.password = '';
    url.search = '';
    url.hash = '';
    return url.toString().replace(/\/$/, '');
  } catch {
    return '(invalid endpoint URL)';
  }
}

/** `prod` and `/prod/` both mean the folder `prod/`; `` is the bucket root. */
export function normalizePrefix(prefix: string): string {
  const trimmed = prefix.replace(/^\/+/, '').replace(/\/+$/, '');
  return trimmed === '' ? '' : `${trimmed}/`;
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ECONNABORTED',
  'ERR_SOCKET_CONNECTION_TIMEOUT',
]);
const PERMISSION_NAMES = new Set([
  'AccessDenied',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'InvalidToken',
  'TokenRefreshRequired',
  'CredentialsProviderError',
]);

interface ErrorFacts {
  name: string;
  message: string;
  status: number | undefined;
  code: string | undefined;
}

function factsOf(err: unknown): ErrorFacts {
  const e = (typeof err === 'object' && err !== null ? err : {}) as {
    name?: unknown;
    message?: unknown;
    code?: unknown;
    Code?: unknown;
    errors?: unknown;
    cause?: unknown;
    $metadata?: { httpStatusCode?: number };
  };
  let code = typeof e.code === 'string' ? e.code : typeof e.Code === 'string' ? e.Code : undefined;
  // Node's happy-eyeballs connect reports an AggregateError; the first attempt says why.
  if (code === undefined && Array.isArray(e.errors)) code = factsOf(e.errors[0]).code;
  if (code === undefined && e.cause !== undefined && e.cause !== err) code = factsOf(e.cause).code;
  return {
    name: typeof e.name === 'string' ? e.name : 'Error',
    message: typeof e.message === 'string' ? e.message : String(err),
    status: e.$metadata?.httpStatusCode,
    code,
  };
}

const isNotFound = (f: ErrorFacts): boolean =>
  f.name === 'NoSuchKey' || f.name === 'NotFound' || (f.status === 404 && f.name !== 'NoSuchBucket');

const isPreconditionFailed = (f: ErrorFacts): boolean =>
  f.status === 412 ||
  f.name === 'PreconditionFailed' ||
  // S3 answers 409 when a conditional write races another upload of the same key.
  f.name === 'ConditionalRequestConflict';

/** The server does not implement If-None-Match on PUT (as opposed to ignoring it). */
const isConditionalWriteRejected = (f: ErrorFacts): boolean =>
  f.status === 501 || f.name === 'NotImplemented' || (f.status === 400 && /if-none-match/i.test(f.message));

/** The endpoint did not answer: refused, reset, timed out, name not resolved. */
const isUnreachable = (f: ErrorFacts): boolean =>
  (f.code !== undefined && NETWORK_CODES.has(f.code)) ||
  f.name === 'TimeoutError' ||
  f.name === 'RequestTimeout' ||
  /socket hang up/i.test(f.message);

/** What the SDK's standard retry mode retries: the network, timeouts, throttling, 5xx. */
function isRetryable(err: unknown): boolean {
  const f = factsOf(err);
  return (
    isUnreachable(f) ||
    f.name === 'SlowDown' ||
    f.name === 'ThrottlingException' ||
    (f.status !== undefined && (f.status >= 500 || f.status === 429))
  );
}

/** Counts the bytes that went through, for the size check after the upload. */
class ByteCounter extends Transform {
  bytes = 0;
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    callback(null, chunk);
  }
}

const ignoreError = (): void => {};

export interface S3RepositoryOptions {
  logger?: Logger;
}

/**
 * A repository in an S3 bucket under a prefix, on AWS or an S3-compatible server (MinIO, Ceph, R2,
 * s3rver…). Objects appear only when complete: single PUT, or multipart completed by
 * CompleteMultipartUpload (a failed upload is aborted so no parts linger).
 */
export class S3Repository implements Repository {
  readonly name: string;
  readonly location: string;
  readonly bucket: string;
  /** Normalized key prefix: '' or ending in '/'. */
  readonly prefix: string;
  private readonly endpointLabel: string;
  private readonly sdk: S3Module;
  private readonly client: S3Client;
  private readonly config: S3RepositoryConfig;
  /** For spooled parts, made on first use: it must not retry a file stream it has consumed. */
  private onceClient: S3Client | undefined;
  private readonly logger: Logger;
  /** Learnt on the first rejection; a server that ignores the header silently cannot be detected. */
  private conditionalWrites: 'try' | 'unsupported' = 'try';

  private constructor(name: string, config: S3RepositoryConfig, sdk: S3Module, logger: Logger) {
    this.name = name;
    this.bucket = config.bucket;
    this.prefix = normalizePrefix(config.prefix ?? '');
    this.sdk = sdk;
    this.logger = logger;
    this.endpointLabel = describeEndpoint(config.endpoint, config.region);
    this.location =
      `s3://${config.bucket}/${this.prefix}` +
      (config.endpoint === undefined ? '' : ` (endpoint ${this.endpointLabel})`);
    this.config = config;
    this.client = new sdk.S3Client(buildClientConfig(name, config));
    this.addDeleteObjectsContentMd5();
  }

  static async create(
    name: string,
    config: S3RepositoryConfig,
    options: S3RepositoryOptions = {},
  ): Promise<S3Repository> {
    const sdk = await loadSdk();
    return new S3Repository(name, config, sdk, options.logger ?? silentLogger);
  }

  /**
   * DeleteObjects must carry a body checksum. SDKs since 2025 send only x-amz-checksum-crc32, which
   * S3-compatible servers that predate flexible checksums reject (MissingContentMD5;
   * aws/aws-sdk-js-v3#6819). Content-MD5 as well satisfies both kinds of server.
   */
  private addDeleteObjectsContentMd5(): void {
    this.client.middlewareStack.add(
      (next, context) => async (args) => {
        const request = args.request as { headers?: Record<string, string>; body?: unknown };
        if (context.commandName === 'DeleteObjectsCommand' && request.headers !== undefined) {
          const body = request.body;
          if (typeof body === 'string' || body instanceof Uint8Array) {
            request.headers['content-md5'] = createHash('md5').update(body).digest('base64');
          }
        }
        return next(args);
      },
      { step: 'build', name: 'dbopsDeleteObjectsContentMd5', override: true },
    );
  }

  private objectKey(key: string): string {
    return this.prefix + key;
  }

  /** Maps an SDK/network error to a RepositoryError naming the endpoint (never credentials). */
  private s3Error(err: unknown, action: string, key?: string): DbopsError {
    if (err instanceof DbopsError) return err;
    const f = factsOf(err);
    const what = key === undefined ? `${action} ${this.location}` : `${action} ${key} in ${this.location}`;
    const make = (code: StorageErrorCode, message: string, hint: string): RepositoryError =>
      new RepositoryError(code, message, { hint, cause: err, key });
    if (isUnreachable(f)) {
      return make(
        'unavailable',
        `cannot ${what}: S3 endpoint ${this.endpointLabel} is unreachable (${f.code ?? f.name})`,
        `check that ${this.endpointLabel} is up and reachable from this host (DNS, firewall, proxy)`,
      );
    }
    if (f.name === 'CredentialsProviderError') {
      return make(
        'permission',
        `cannot ${what}: no AWS credentials found`,
        `set repositories.${this.name}.accessKeyId/secretAccessKey, or configure the AWS credential chain ` +
          '(AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, an instance or pod role)',
      );
    }
    if (PERMISSION_NAMES.has(f.name) || f.status === 403) {
      return make(
        'permission',
        `cannot ${what}: access denied by ${this.endpointLabel} (${f.name})`,
        `check the credentials used for repositories.${this.name} and the bucket policy`,
      );
    }
    if (f.name === 'NoSuchBucket') {
      return make(
        'misconfigured',
        `cannot ${what}: bucket ${this.bucket} does not exist on ${this.endpointLabel}`,
        `create it, or fix repositories.${this.name}.bucket / region / endpoint`,
      );
    }
    if (f.status !== undefined && f.status >= 500) {
      return make(
        'unavailable',
        `cannot ${what}: ${this.endpointLabel} answered ${f.status} ${f.name}`,
        'the server is failing or throttling; retry later or raise maxAttempts',
      );
    }
    return make(
      'io',
      `cannot ${what}: ${f.name}: ${f.message}`,
      `check repositories.${this.name} (bucket, region, endpoint, checksums)`,
    );
  }

  async put(key: string, body: Readable | Uint8Array, options: PutOptions = {}): Promise<ObjectInfo> {
    // An error the source emits before reading starts (we may first create directories or HEAD)
    // would otherwise crash the process; reading the errored stream rethrows it below.
    if (!(body instanceof Uint8Array)) body.on('error', ignoreError);
    try {
      validateKey(key);
      const metadata = validateMetadata(options.metadata);
      throwIfAborted(options.signal);
      return await this.putInner(key, body, options, metadata);
    } catch (err) {
      // The caller's pipeline must not hang on a stream nobody reads any more.
      if (!(body instanceof Uint8Array) && !body.destroyed) body.destroy();
      throw err;
    }
  }

  private async putInner(
    key: string,
    body: Readable | Uint8Array,
    options: PutOptions,
    metadata: Record<string, string>,
  ): Promise<ObjectInfo> {
    const { signal } = options;
    // A HEAD first: cheap, spares uploading a whole stream only to be refused, and is the only
    // protection on servers without conditional writes (there, a writer racing between this HEAD
    // and our PUT can still be overwritten — nothing closer to atomic exists on such servers).
    if (options.ifAbsent && (await this.head(key)) !== undefined) {
      throw new ObjectExistsError(key, this.location);
    }
    const conditional = options.ifAbsent === true && this.conditionalWrites === 'try';
    const partSize = choosePartSize(options.contentLength, options.sizeHint);

    let source: Readable | Uint8Array = body;
    let counter: ByteCounter | undefined;
    let sourceError: unknown;
    if (!(body instanceof Uint8Array)) {
      counter = new ByteCounter();
      body.once('error', (err) => {
        // lib-storage tears the source down with an AbortError when an upload fails: that is an
        // echo of the S3 failure, not the producer failing (seen with 3 parts in flight).
        if (!isTeardownError(err)) sourceError ??= err;
      });
      pipeline(body, counter).catch(() => {});
      source = counter;
    }

    const abortController = new AbortController();
    const unregister = onAbort(signal, () => abortController.abort());
    const uploading =
      source instanceof Uint8Array ||
      (options.contentLength !== undefined && options.contentLength <= partSize) ||
      partsInMemory()
        ? this.uploadInMemory(key, source, metadata, conditional, partSize, abortController)
        : this.uploadSpooled(key, source, metadata, conditional, partSize, abortController);
    try {
      await uploading;
    } catch (err) {
      counter?.destroy();
      if (signal?.aborted) throw abortReason(signal);
      if (sourceError !== undefined) throw sourceError; // the producer failed, not S3
      const f = factsOf(err);
      if (options.ifAbsent && isPreconditionFailed(f)) throw new ObjectExistsError(key, this.location);
      if (conditional && isConditionalWriteRejected(f)) {
        this.conditionalWrites = 'unsupported';
        this.logger.warn(
          'S3 server rejects conditional writes (If-None-Match); falling back to check-then-write',
          {
            repository: this.name,
            endpoint: this.endpointLabel,
          },
        );
        if (body instanceof Uint8Array) return this.putInner(key, body, options, metadata);
        throw new RepositoryError(
          'unsupported',
          `cannot write ${key} exclusively: ${this.endpointLabel} rejects conditional writes (If-None-Match)`,
          {
            key,
            cause: err,
            hint: 'nothing was stored; retrying in the same process uses a check-then-write fallback',
          },
        );
      }
      throw this.s3Error(err, 'write', key);
    } finally {
      unregister();
    }

    const sent = body instanceof Uint8Array ? body.byteLength : (counter as ByteCounter).bytes;
    // Success means CompleteMultipartUpload/PutObject said 200 *and* the object is there with the
    // size we sent; a proxy or a buggy server that truncated the body is caught here.
    const info = await this.head(key);
    if (
      info === undefined ||
      info.size !== sent ||
      (options.contentLength !== undefined && sent !== options.contentLength)
    ) {
      if (info !== undefined) await this.delete([key]).catch(() => {});
      throw new RepositoryError(
        'integrity',
        info === undefined
          ? `${key} is not visible in ${this.location} after a successful upload`
          : `${key}: sent ${sent} bytes` +
              (options.contentLength === undefined ? '' : ` (${options.contentLength} announced)`) +
              `, the server stored ${info.size}`,
        { key, hint: 'the upload was removed; retry, and check any proxy between dbops and the S3 server' },
      );
    }
    return info;
  }

  /** lib-storage's Upload: parts in memory, a single PutObject for a body within one part. */
  private async uploadInMemory(
    key: string,
    body: Readable | Uint8Array,
    metadata: Record<string, string>,
    conditional: boolean,
    partSize: number,
    abortController: AbortController,
  ): Promise<void> {
    const { Upload } = await loadLibStorage();
    const upload = new Upload({
      client: this.client,
      params: {
        Bucket: this.bucket,
        Key: this.objectKey(key),
        Body: body,
        Metadata: metadata,
        // Sent on PutObject and CompleteMultipartUpload: AWS S3 (since 2024), MinIO, R2 and recent
        // Ceph refuse with 412 when the key exists, atomically.
        ...(conditional ? { IfNoneMatch: '*' } : {}),
      },
      partSize,
      queueSize: QUEUE_SIZE,
      leavePartsOnError: false,
      abortController,
    });
    await upload.done();
  }

  /**
   * Parts staged on disk (see partsInMemory). Where no directory can be made for them (a read-only
   * file system), parts of the default 16 MiB still go from memory, as before; larger ones do not.
   */
  private async uploadSpooled(
    key: string,
    body: Readable,
    metadata: Record<string, string>,
    conditional: boolean,
    partSize: number,
    abortController: AbortController,
  ): Promise<void> {
    const { makeSpoolDir, uploadSpooled } = await import('./s3-spooled-upload.js');
    let dir: string;
    try {
      dir = await makeSpoolDir(this.config.spoolDir, key, partSize, QUEUE_SIZE);
    } catch (err) {
      if (partSize > DEFAULT_PART_SIZE) throw err;
      this.logger.warn('cannot stage upload parts on disk; keeping them in memory', {
        repository: this.name,
        error: (err as Error).message,
      });
      return this.uploadInMemory(key, body, metadata, conditional, partSize, abortController);
    }
    this.onceClient ??= new this.sdk.S3Client({
      ...buildClientConfig(this.name, this.config),
      maxAttempts: 1,
      // Checksums, when configured, are computed by uploadSpooled and sent as headers.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      // Else a failed part makes the SDK print "An error was encountered in a non-retryable
      // streaming request" on the console: uploadSpooled retries and reports it itself.
      logger: { debug: ignoreError, info: ignoreError, warn: ignoreError, error: ignoreError },
    });
    await uploadSpooled({
      sdk: this.sdk,
      client: this.onceClient,
      bucket: this.bucket,
      objectKey: this.objectKey(key),
      key,
      body,
      partSize,
      queueSize: QUEUE_SIZE,
      dir,
      metadata,
      ifNoneMatch: conditional,
      checksums: this.config.checksums === 'when-supported',
      maxAttempts: this.config.maxAttempts,
      retryable: isRetryable,
      signal: abortController.signal,
    });
  }

  async get(key: string, options: GetOptions = {}): Promise<Readable> {
    validateKey(key);
    const { signal } = options;
    throwIfAborted(signal);
    let body: Readable;
    try {
      const out = await this.client.send(
        new this.sdk.GetObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }),
        { abortSignal: signal },
      );
      body = (out.Body as Readable | undefined) ?? Readable.from([]);
    } catch (err) {
      if (signal?.aborted) throw abortReason(signal);
      if (isNotFound(factsOf(err))) throw new ObjectNotFoundError(key, this.location);
      throw this.s3Error(err, 'read', key);
    }
    // The socket's idle timeout protects requests until the response arrives; afterwards idleness
    // is the reader's back-pressure (pg_restore busy), which must not kill the download.
    (body as Partial<IncomingMessage>).socket?.setTimeout(0);
    return relayWithMappedErrors(body, (err) => this.s3Error(err, 'read', key), signal);
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    validateKey(key);
    try {
      const out = await this.client.send(
        new this.sdk.HeadObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }),
      );
      return {
        key,
        size: out.ContentLength ?? 0,
        modified: out.LastModified ?? new Date(0),
        metadata: { ...out.Metadata },
      };
    } catch (err) {
      if (isNotFound(factsOf(err))) return undefined;
      throw this.s3Error(err, 'stat', key);
    }
  }

  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<ObjectInfo> {
    validatePrefix(prefix);
    let token: string | undefined;
    do {
      let page;
      try {
        page = await this.client.send(
          new this.sdk.ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: this.objectKey(prefix),
            ContinuationToken: token,
            // Ignored by S3 once a continuation token is given.
            ...(options.startAfter !== undefined && token === undefined
              ? { StartAfter: this.objectKey(options.startAfter) }
              : {}),
          }),
        );
      } catch (err) {
        throw this.s3Error(err, 'list', prefix === '' ? undefined : prefix);
      }
      for (const object of page.Contents ?? []) {
        if (object.Key === undefined || !object.Key.startsWith(this.prefix)) continue;
        const key = object.Key.slice(this.prefix.length);
        try {
          validateKey(key);
        } catch {
          continue; // written by something else, and not addressable through this interface
        }
        yield { key, size: object.Size ?? 0, modified: object.LastModified ?? new Date(0), metadata: {} };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
  }

  async delete(keys: string[]): Promise<void> {
    for (const key of keys) validateKey(key);
    const unique = [...new Set(keys)];
    // DeleteObjects takes at most 1000 keys per request.
    for (let start = 0; start < unique.length; start += 1000) {
      const batch = unique.slice(start, start + 1000);
      let out;
      try {
        out = await this.client.send(
          new this.sdk.DeleteObjectsCommand({
            Bucket: this.bucket,
            Delete: { Objects: batch.map((key) => ({ Key: this.objectKey(key) })), Quiet: true },
          }),
        );
      } catch (err) {
        throw this.s3Error(err, 'delete', batch.length === 1 ? batch[0] : `${batch.length} objects`);
      }
      const errors = (out.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
      if (errors.length > 0) {
        const first = errors[0];
        throw new RepositoryError(
          first?.Code === 'AccessDenied' ? 'permission' : 'io',
          `cannot delete ${errors.length} of ${batch.length} objects in ${this.location}: ` +
            `${first?.Key ?? '?'}: ${first?.Code ?? ''} ${first?.Message ?? ''}`.trim(),
          { hint: `check the permissions of repositories.${this.name} (s3:DeleteObject)` },
        );
      }
    }
  }

  async close(): Promise<void> {
    this.client.destroy();
    this.onceClient?.destroy();
  }
}

function buildClientConfig(name: string, config: S3RepositoryConfig): S3ClientConfig {
  if ((config.accessKeyId === undefined) !== (config.secretAccessKey === undefined)) {
    throw new ConfigError(`repositories.${name}: accessKeyId and secretAccessKey go together`, {
      problems: [`repositories.${name}: set both accessKeyId and secretAccessKey, or neither`],
      hint: 'leave both out to use the standard AWS credential chain',
    });
  }
  if (config.endpoint !== undefined) {
    try {
      new URL(config.endpoint);
    } catch {
      throw new ConfigError(`repositories.${name}.endpoint is not a URL`, {
        problems: [`repositories.${name}.endpoint: expected e.g. https://minio.example:9000`],
      });
    }
  }
  const checksumMode = config.checksums === 'when-supported' ? 'WHEN_SUPPORTED' : 'WHEN_REQUIRED';
  return {
    region: config.region,
    ...(config.endpoint === undefined ? {} : { endpoint: config.endpoint }),
    forcePathStyle: config.forcePathStyle ?? config.endpoint !== undefined,
    ...(config.accessKeyId !== undefined && config.secretAccessKey !== undefined
      ? {
          credentials: {
            accessKeyId: config.accessKeyId,
            secretAccessKey: config.secretAccessKey,
            ...(config.sessionToken === undefined ? {} : { sessionToken: config.sessionToken }),
          },
        }
      : {}),
    maxAttempts: config.maxAttempts,
    retryMode: 'standard',
    // Many S3-compatible servers reject or mis-store the SDK's default CRC32 trailers.
    requestChecksumCalculation: checksumMode,
    responseChecksumValidation: checksumMode,
    followRegionRedirects: config.endpoint === undefined,
    requestHandler: {
      // Fail fast on a black-holed endpoint; 2 minutes without a byte means the peer is gone.
      connectionTimeout: 10_000,
      socketTimeout: 120_000,
    },
  };
}
