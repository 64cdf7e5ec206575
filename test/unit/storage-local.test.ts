import { mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { ExitCode, StorageError } from '../../src/errors.js';
import { ObjectExistsError, ObjectNotFoundError, RepositoryError } from '../../src/storage/errors.js';
import { LocalRepository } from '../../src/storage/local.js';
import { openRepository, withRepository } from '../../src/storage/open.js';
import { probeRepository } from '../../src/storage/probe.js';

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** Every file under dir, including the hidden temp files and sidecars. */
async function rawFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort();
}

let dir: string;
let repo: LocalRepository;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'dbops-local-'));
  repo = new LocalRepository('default', { path: path.join(dir, 'repo') });
});
afterEach(async () => {
  await repo.close();
  await rm(dir, { recursive: true, force: true });
});

describe('LocalRepository', () => {
  it('creates the root on first write, with private modes', async () => {
    const info = await repo.put('backups/main/one.bin', Buffer.from('hello'));
    expect(info).toMatchObject({ key: 'backups/main/one.bin', size: 5, metadata: {} });
    expect((await stat(path.join(dir, 'repo'))).mode & 0o777).toBe(0o700);
    expect((await stat(path.join(dir, 'repo/backups/main'))).mode & 0o777).toBe(0o700);
    expect((await stat(path.join(dir, 'repo/backups/main/one.bin'))).mode & 0o777).toBe(0o600);
    // The object is a plain file that standard tools read.
    expect(await readFile(path.join(dir, 'repo/backups/main/one.bin'), 'utf8')).toBe('hello');
  });

  it('keeps metadata in a sidecar hidden from list()', async () => {
    await repo.put('a/obj', Buffer.from('x'), { metadata: { sha256: 'abc' } });
    expect(await rawFiles(path.join(dir, 'repo'))).toEqual(['a/obj', 'a/obj.dbops-meta.json']);
    expect((await repo.head('a/obj'))?.metadata).toEqual({ sha256: 'abc' });
    const listed = [];
    for await (const o of repo.list('')) listed.push(o.key);
    expect(listed).toEqual(['a/obj']);
    // Overwriting without metadata removes the old sidecar.
    await repo.put('a/obj', Buffer.from('y'));
    expect(await rawFiles(path.join(dir, 'repo'))).toEqual(['a/obj']);
    expect((await repo.head('a/obj'))?.metadata).toEqual({});
  });

  it('ignores a sidecar that describes another version of the file', async () => {
    await repo.put('obj', Buffer.from('first'), { metadata: { sha256: 'first' } });
    // As if a crash happened between renaming new data into place and renaming its sidecar.
    await writeFile(path.join(dir, 'repo/obj'), 'other');
    await utimes(path.join(dir, 'repo/obj'), new Date(), new Date(Date.now() + 5000));
    expect((await repo.head('obj'))?.metadata).toEqual({});
  });

  it('putFromDescriptor: a child process writes the object, read back while it runs', async () => {
    const { spawn } = await import('node:child_process');
    const { createHash } = await import('node:crypto');
    const { followFile } = await import('../../src/streams/follow-file.js');
    // Three bursts with pauses: the reader meets the end of what is written and must wait.
    const script = 'for i in 1 2 3; do head -c 300000 /dev/zero | tr "\\0" "$i"; sleep 0.05; done';
    let seen = '';
    const info = await repo.putFromDescriptor(
      'a/child.bin',
      async (sink) => {
        const child = spawn('/bin/sh', ['-c', script], { stdio: ['ignore', sink.fd, 'inherit'] });
        const exited = new Promise<void>((resolve, reject) =>
          child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`exit ${code}`)))),
        );
        const hash = createHash('sha256');
        const n = await followFile(sink.read, {
          writerDone: exited,
          onChunk: (chunk) => void hash.update(chunk),
          chunkSize: 64 * 1024,
          pollMs: 5,
        });
        await exited;
        expect(n).toBe(900_000);
        seen = hash.digest('hex');
      },
      { ifAbsent: true, metadata: { 'dbops-content': 'test' } },
    );
    expect(info.size).toBe(900_000);
    const stored = await readAll(await repo.get('a/child.bin'));
    expect(createHash('sha256').update(stored).digest('hex')).toBe(seen);
    expect(stored.subarray(0, 1).toString()).toBe('1');
    expect(stored.subarray(-1).toString()).toBe('3');
    expect((await repo.head('a/child.bin'))?.metadata).toEqual({ 'dbops-content': 'test' });
    expect(await rawFiles(path.join(dir, 'repo'))).toEqual(['a/child.bin', 'a/child.bin.dbops-meta.json']);
  });

  it('putFromDescriptor: a failed writer stores nothing; an existing key is refused', async () => {
    await expect(
      repo.putFromDescriptor('a/failed.bin', async (sink) => {
        const { writeSync } = await import('node:fs');
        writeSync(sink.fd, Buffer.from('half a dump'));
        throw new Error('zstd exited with code 1');
      }),
    ).rejects.toThrow('zstd exited with code 1');
    expect(await rawFiles(path.join(dir, 'repo'))).toEqual([]);
    await repo.put('a/taken.bin', Buffer.from('x'));
    await expect(
      repo.putFromDescriptor('a/taken.bin', () => Promise.resolve(), { ifAbsent: true }),
    ).rejects.toBeInstanceOf(ObjectExistsError);
  });

  it('removes the temp file when the source stream fails', async () => {
    const source = new PassThrough();
    const putting = repo.put('x/broken', source);
    source.write(Buffer.alloc(1000));
    setTimeout(() => source.destroy(new Error('pg_dump died')), 20);
    await expect(putting).rejects.toThrow('pg_dump died');
    expect(await rawFiles(path.join(dir, 'repo'))).toEqual([]);
    expect(await repo.head('x/broken')).toBeUndefined();
  });

  it('stops and cleans up when aborted', async () => {
    const controller = new AbortController();
    const source = new PassThrough();
    const putting = repo.put('x/aborted', source, { signal: controller.signal });
    source.write(Buffer.alloc(1000));
    setTimeout(() => controller.abort(), 20);
    await expect(putting).rejects.toThrow(/abort/i);
    expect(source.destroyed).toBe(true);
    expect(await rawFiles(path.join(dir, 'repo'))).toEqual([]);
  });

  it('checks contentLength before the object becomes visible', async () => {
    const err = await repo.put('short', Buffer.from('abc'), { contentLength: 4 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RepositoryError);
    expect((err as RepositoryError).code).toBe('integrity');
    expect(await repo.head('short')).toBeUndefined();
  });

  it('writes ifAbsent atomically: exactly one of concurrent writers wins', async () => {
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) =>
        repo.put('wal/seg', Buffer.from(`writer ${i}`), { ifAbsent: true }),
      ),
    );
    const won = results.filter((r) => r.status === 'fulfilled');
    expect(won).toHaveLength(1);
    for (const r of results) {
      if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(ObjectExistsError);
    }
    expect(await rawFiles(path.join(dir, 'repo'))).toEqual(['wal/seg']);
  });

  it('reports a missing key as not-found', async () => {
    const err = await repo.get('nope/missing').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ObjectNotFoundError);
    expect(err).toBeInstanceOf(StorageError);
    expect((err as ObjectNotFoundError).notFound).toBe(true);
    expect((err as ObjectNotFoundError).exitCode).toBe(ExitCode.storage);
    // A directory is not an object.
    await repo.put('dir/file', Buffer.from('1'));
    await expect(repo.get('dir')).rejects.toBeInstanceOf(ObjectNotFoundError);
    expect(await repo.head('dir')).toBeUndefined();
  });

  it('fails with a StorageError naming the path when the directory cannot be created', async () => {
    // /dev/null is a file: creating anything below it fails, also for root.
    const bad = new LocalRepository('broken', { path: '/dev/null/backups' });
    const err = await bad.put('a/b', Buffer.from('x')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageError);
    expect((err as StorageError).exitCode).toBe(5);
    expect((err as Error).message).toContain('/dev/null/backups');
    expect((err as StorageError).hint).toContain('repositories.broken.path');
    const probe = await probeRepository(bad);
    expect(probe).toMatchObject({ ok: false, write: false });
    expect(probe.error).toContain('/dev/null/backups');
  });

  it('deletes objects with their sidecars and prunes empty directories', async () => {
    await repo.put('wal/a/1', Buffer.from('1'), { metadata: { n: '1' } });
    await repo.put('wal/a/2', Buffer.from('2'));
    await repo.put('wal/b/3', Buffer.from('3'));
    await repo.delete(['wal/a/1', 'wal/a/2', 'wal/missing', 'nothing/here']);
    expect(await rawFiles(path.join(dir, 'repo'))).toEqual(['wal/b/3']);
    expect(await readdir(path.join(dir, 'repo/wal'))).toEqual(['b']);
    await repo.delete(['wal/b/3']);
    expect(await readdir(path.join(dir, 'repo'))).toEqual([]);
  });

  it('lists in S3 order with string prefixes', async () => {
    for (const key of ['b', 'a/x', 'a-b', 'a/y/z', 'ab', 'c/d']) await repo.put(key, Buffer.from(key));
    const keys = async (prefix: string): Promise<string[]> => {
      const out: string[] = [];
      for await (const o of repo.list(prefix)) out.push(o.key);
      return out;
    };
    expect(await keys('')).toEqual(['a-b', 'a/x', 'a/y/z', 'ab', 'b', 'c/d']);
    expect(await keys('a')).toEqual(['a-b', 'a/x', 'a/y/z', 'ab']);
    expect(await keys('a/')).toEqual(['a/x', 'a/y/z']);
    expect(await keys('a/y')).toEqual(['a/y/z']);
    expect(await keys('zzz/')).toEqual([]);
  });

  it('opens through openRepository / withRepository', async () => {
    const opened = await openRepository('r', { type: 'local', path: path.join(dir, 'other') });
    expect(opened.location).toBe(path.join(dir, 'other'));
    const result = await withRepository('r', { type: 'local', path: path.join(dir, 'other') }, async (r) => {
      await r.put('k', Readable.from([Buffer.from('stream '), Buffer.from('body')]));
      return (await readAll(await r.get('k'))).toString();
    });
    expect(result).toBe('stream body');
    expect(await probeRepository(opened)).toMatchObject({ ok: true, write: true, read: true, delete: true });
    expect(await readdir(path.join(dir, 'other'))).toEqual(['k']);
  });
});
