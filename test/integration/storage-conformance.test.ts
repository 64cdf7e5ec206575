import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { RepositoryConfig } from '../../src/config/schema.js';
import { StorageError } from '../../src/errors.js';
import {
  InvalidKeyError,
  ObjectExistsError,
  ObjectNotFoundError,
  openRepository,
  probeRepository,
  type Repository,
} from '../../src/storage/index.js';
import { startS3Server, type S3TestServer } from '../support/s3-server.js';

/**
 * One behaviour, two backends: every command relies on these properties whichever repository
 * type the operator configured.
 */

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

async function sha256Of(stream: Readable): Promise<{ hash: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { hash: hash.digest('hex'), size };
}

/** A stream of `total` random bytes in uneven chunks, and the sha256 it will have produced. */
function randomStream(total: number): { stream: Readable; digest: () => string } {
  const hash = createHash('sha256');
  let left = total;
  const stream = new Readable({
    read() {
      if (left === 0) {
        this.push(null);
        return;
      }
      const chunk = randomBytes(Math.min(left, 700_000 + Math.floor(Math.random() * 100_000)));
      left -= chunk.length;
      hash.update(chunk);
      this.push(chunk);
    },
  });
  return { stream, digest: () => hash.digest('hex') };
}

/** Array.fromAsync needs Node 22. */
async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

async function listKeys(repo: Repository, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const info of repo.list(prefix)) keys.push(info.key);
  return keys;
}

let s3: S3TestServer;
let localDir: string;

beforeAll(async () => {
  s3 = await startS3Server();
  localDir = await mkdtemp(path.join(tmpdir(), 'dbops-conformance-'));
});
afterAll(async () => {
  await s3?.dispose();
  await rm(localDir, { recursive: true, force: true });
});

const backends: [string, () => RepositoryConfig][] = [
  ['local', () => ({ type: 'local', path: path.join(localDir, randomUUID()) })],
  [
    's3',
    () => ({
      type: 's3',
      bucket: s3.bucket,
      prefix: `conformance/${randomUUID()}`,
      region: 'us-east-1',
      endpoint: s3.endpoint,
      accessKeyId: s3.accessKeyId,
      secretAccessKey: s3.secretAccessKey,
      checksums: 'when-required',
      maxAttempts: 2,
    }),
  ],
];

describe.each(backends)('%s repository', (type, makeConfig) => {
  let repo: Repository;
  beforeAll(async () => {
    repo = await openRepository(`conformance-${type}`, makeConfig());
  });
  afterAll(async () => {
    await repo?.close();
  });

  it('has a printable location without secrets', () => {
    expect(repo.name).toBe(`conformance-${type}`);
    if (type === 's3') {
      expect(repo.location).toMatch(
        /^s3:\/\/dbops-test\/conformance\/[0-9a-f-]+\/ \(endpoint http:\/\/127\.0\.0\.1:\d+\)$/,
      );
    } else {
      expect(path.isAbsolute(repo.location)).toBe(true);
    }
    expect(repo.location).not.toContain(s3.secretAccessKey);
  });

  it('streams 20 MB (multipart on S3) and reads back identical bytes', async () => {
    const size = 20 * 1024 * 1024 + 12_345;
    const { stream, digest } = randomStream(size);
    const info = await repo.put('big/dump.bin', stream, { metadata: { kind: 'dump' } });
    expect(info).toMatchObject({ key: 'big/dump.bin', size, metadata: { kind: 'dump' } });
    expect(info.modified).toBeInstanceOf(Date);
    const back = await sha256Of(await repo.get('big/dump.bin'));
    expect(back).toEqual({ hash: digest(), size });
  });

  it('stores a buffer body and round-trips metadata through head()', async () => {
    const body = randomBytes(4096);
    const metadata = { sha256: createHash('sha256').update(body).digest('hex'), 'dbops.format': 'v1' };
    await repo.put('meta/obj', body, { metadata, contentLength: body.length });
    const head = await repo.head('meta/obj');
    expect(head).toMatchObject({ key: 'meta/obj', size: 4096, metadata });
    expect(Math.abs(head!.modified.getTime() - Date.now())).toBeLessThan(60_000);
    expect(await repo.head('meta/missing')).toBeUndefined();
    // Overwrite replaces content and metadata.
    await repo.put('meta/obj', Buffer.from('v2'), { metadata: { sha256: 'v2' } });
    expect((await readAll(await repo.get('meta/obj'))).toString()).toBe('v2');
    expect((await repo.head('meta/obj'))?.metadata).toEqual({ sha256: 'v2' });
  });

  it('stores an empty object', async () => {
    await repo.put('empty', Buffer.alloc(0));
    expect((await repo.head('empty'))?.size).toBe(0);
    expect(await readAll(await repo.get('empty'))).toHaveLength(0);
  });

  it('lists recursively, sorted by key, with string prefixes', async () => {
    // Not `list/a-b`: AWS lists it before `list/a/x` (byte order, '-' < '/') and so does the local
    // backend (see test/unit/storage-local.test.ts), but s3rver walks its directories and does not.
    for (const key of ['list/b', 'list/a/x', 'list/a/y/z', 'list/ab', 'list/c/d/e/f']) {
      await repo.put(key, Buffer.from(key));
    }
    expect(await listKeys(repo, 'list/')).toEqual([
      'list/a/x',
      'list/a/y/z',
      'list/ab',
      'list/b',
      'list/c/d/e/f',
    ]);
    expect(await listKeys(repo, 'list/a')).toEqual(['list/a/x', 'list/a/y/z', 'list/ab']);
    expect(await listKeys(repo, 'list/a/')).toEqual(['list/a/x', 'list/a/y/z']);
    expect(await listKeys(repo, 'list/nothing')).toEqual([]);
    const first = await collect(repo.list('list/b')).then((all) => all[0]);
    expect(first).toMatchObject({ key: 'list/b', size: 'list/b'.length });
  });

  it('lists after a given key, skipping whole subtrees', async () => {
    for (const key of [
      'after/a/x',
      'after/t/backups/1/m',
      'after/t/wal/1/s1',
      'after/t/wal/1/s2',
      'after/u/v',
    ]) {
      await repo.put(key, Buffer.from(key));
    }
    const listAfter = async (startAfter: string) => {
      const keys: string[] = [];
      for await (const info of repo.list('after/', { startAfter })) keys.push(info.key);
      return keys;
    };
    expect(await listAfter('after/a/x')).toEqual([
      'after/t/backups/1/m',
      'after/t/wal/1/s1',
      'after/t/wal/1/s2',
      'after/u/v',
    ]);
    expect(await listAfter('after/t/wal/1/s1')).toEqual(['after/t/wal/1/s2', 'after/u/v']);
    // Past everything under `after/t/wal/` ('0' follows '/').
    expect(await listAfter('after/t/wal0')).toEqual(['after/u/v']);
    expect(await listAfter('after/t0')).toEqual(['after/u/v']);
    expect(await listAfter('after/')).toHaveLength(5);
    expect(await listAfter('after/z')).toEqual([]);
  });

  it('deletes in batch, ignoring missing keys', async () => {
    const keys = Array.from({ length: 30 }, (_, i) => `del/${String(i).padStart(3, '0')}`);
    await Promise.all(keys.map((key) => repo.put(key, Buffer.from(key))));
    expect(await listKeys(repo, 'del/')).toEqual(keys);
    await repo.delete([...keys.slice(0, 20), 'del/missing', 'nowhere/at/all']);
    expect(await listKeys(repo, 'del/')).toEqual(keys.slice(20));
    await repo.delete([]);
    await repo.delete(keys);
    expect(await listKeys(repo, 'del/')).toEqual([]);
  });

  it('keeps the same contract for non-durable writes and deletes (locks, markers)', async () => {
    const info = await repo.put('locks/marker.json', Buffer.from('{"held":true}'), {
      ifAbsent: true,
      durable: false,
      metadata: { kind: 'marker' },
    });
    expect(info.size).toBe(13);
    expect((await readAll(await repo.get('locks/marker.json'))).toString()).toBe('{"held":true}');
    expect((await repo.head('locks/marker.json'))?.metadata).toEqual({ kind: 'marker' });
    await expect(
      repo.put('locks/marker.json', Buffer.from('x'), { ifAbsent: true, durable: false }),
    ).rejects.toBeInstanceOf(ObjectExistsError);
    await repo.delete(['locks/marker.json'], { durable: false });
    expect(await repo.head('locks/marker.json')).toBeUndefined();
    expect(await listKeys(repo, 'locks/')).toEqual([]);
  });

  it('refuses to overwrite with ifAbsent and leaves the object untouched', async () => {
    await repo.put('wal/000000010000000000000001', Buffer.from('first'), {
      ifAbsent: true,
      metadata: { sha256: 'first' },
    });
    const again = await repo
      .put('wal/000000010000000000000001', Buffer.from('second'), { ifAbsent: true })
      .catch((e: unknown) => e);
    expect(again).toBeInstanceOf(ObjectExistsError);
    expect(again).toBeInstanceOf(StorageError);
    expect((again as ObjectExistsError).code).toBe('exists');
    const source = Readable.from([Buffer.from('third')]);
    await expect(repo.put('wal/000000010000000000000001', source, { ifAbsent: true })).rejects.toBeInstanceOf(
      ObjectExistsError,
    );
    expect(source.destroyed).toBe(true);
    expect((await readAll(await repo.get('wal/000000010000000000000001'))).toString()).toBe('first');
    expect((await repo.head('wal/000000010000000000000001'))?.metadata).toEqual({ sha256: 'first' });
  });

  it('reports a missing key as not-found', async () => {
    const err = await repo.get('does/not/exist').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ObjectNotFoundError);
    expect(err).toBeInstanceOf(StorageError);
    expect(err).toMatchObject({ code: 'not-found', notFound: true, exitCode: 5, key: 'does/not/exist' });
  });

  it('rejects invalid keys before touching storage', async () => {
    for (const key of ['../escape', '/abs', 'a//b', 'a/']) {
      await expect(repo.put(key, Buffer.from('x'))).rejects.toBeInstanceOf(InvalidKeyError);
      await expect(repo.get(key)).rejects.toBeInstanceOf(InvalidKeyError);
      await expect(repo.head(key)).rejects.toBeInstanceOf(InvalidKeyError);
      await expect(repo.delete([key])).rejects.toBeInstanceOf(InvalidKeyError);
    }
    await expect(collect(repo.list('/abs'))).rejects.toBeInstanceOf(InvalidKeyError);
  });

  it('leaves nothing behind when the source stream fails', async () => {
    const source = new PassThrough();
    const putting = repo.put('failed/upload', source);
    source.write(randomBytes(9 * 1024 * 1024));
    setTimeout(() => source.destroy(new Error('compressor failed')), 50);
    await expect(putting).rejects.toThrow('compressor failed');
    expect(await repo.head('failed/upload')).toBeUndefined();
    expect(await listKeys(repo, 'failed/')).toEqual([]);
  });

  it('stops on abort without creating the object', async () => {
    const controller = new AbortController();
    const source = new PassThrough();
    const putting = repo.put('aborted/upload', source, { signal: controller.signal });
    source.write(randomBytes(1024 * 1024));
    setTimeout(() => controller.abort(), 50);
    await expect(putting).rejects.toThrow(/abort/i);
    expect(await repo.head('aborted/upload')).toBeUndefined();
  });

  it('passes the doctor probe and cleans up after it', async () => {
    const result = await probeRepository(repo);
    expect(result).toMatchObject({ ok: true, write: true, read: true, delete: true });
    expect(result.error).toBeUndefined();
    expect(await listKeys(repo, '.dbops-probe/')).toEqual([]);
  });
});
