import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

export interface HashResult {
  /** Lower-case hex SHA-256 of every byte that went through. */
  sha256: string;
  bytes: number;
}

/** A promise settled by the stream's own end or error, never left unhandled. */
function settleWith<T>(stream: Transform): {
  promise: Promise<T>;
  resolve: (value: T) => void;
} {
  let resolve!: (value: T) => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  stream.once('error', reject);
  stream.once('close', () => reject(new Error('stream closed before its end')));
  promise.catch(() => {});
  return { promise, resolve };
}

/** Counts the bytes passing through; `bytes` is live, `done()` resolves once the input has ended. */
export class CountStage extends Transform {
  private count = 0;
  private readonly settled = settleWith<number>(this);

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.count += chunk.length;
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.settled.resolve(this.count);
    callback();
  }

  get bytes(): number {
    return this.count;
  }

  done(): Promise<number> {
    return this.settled.promise;
  }
}

/**
 * A pass-through that computes the SHA-256 and byte count of what goes through it.
 * `digest()` resolves once all input has passed; `result` is set from then on.
 */
export class HashStage extends Transform {
  private readonly hash: Hash = createHash('sha256');
  private count = 0;
  private final: HashResult | undefined;
  private readonly settled = settleWith<HashResult>(this);

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.count += chunk.length;
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.final = { sha256: this.hash.digest('hex'), bytes: this.count };
    this.settled.resolve(this.final);
    callback();
  }

  /** Bytes seen so far (live, for progress). */
  get bytes(): number {
    return this.count;
  }

  /** The SHA-256 and size once all input has passed through, else undefined. */
  get result(): HashResult | undefined {
    return this.final;
  }

  digest(): Promise<HashResult> {
    return this.settled.promise;
  }
}

export function hashStage(): HashStage {
  return new HashStage();
}

export function countStage(): CountStage {
  return new CountStage();
}
