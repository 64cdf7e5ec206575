import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statfsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

import { runDbops } from '../support/cli.js';
import { copyFinishedSegment, createDatabase, withClient } from '../support/pg.js';
import { backupWorld, databaseExists, expectExit, json, type BackupWorld } from './backup/helpers.js';
import { queryUrl } from './wal/cluster.js';

// A full disk needs a small filesystem: a tmpfs, which only root may mount. Elsewhere the test is
// skipped with a notice rather than faked (an ENOSPC thrown by a stub would not show what zstd,
// the kernel and dbops really do).
const SIZE_KB = 256;
const mountPoint = mkdtempSync(join(tmpdir(), 'dbops-full-disk-'));
function tryMount(): string | undefined {
  if (process.getuid?.() !== 0) return 'not running as root (a tmpfs mount needs root)';
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${SIZE_KB}k,mode=0700`, 'tmpfs', mountPoint], {
      stdio: 'pipe',
    });
    return undefined;
  } catch (err) {
    return `cannot mount a tmpfs: ${(err as Error).message.split('\n')[0]}`;
  }
}
const skipReason = tryMount();
if (skipReason) {
  console.warn(`[dbops] full-disk tests SKIPPED: ${skipReason}`);
  rmSync(mountPoint, { recursive: true, force: true });
}
afterAll(() => {
  if (skipReason) return;
  try {
    execFileSync('umount', [mountPoint], { stdio: 'pipe' });
  } finally {
    rmSync(mountPoint, { recursive: true, force: true });
  }
});

/** Every file under the small filesystem (the repository's own lease/lock files included). */
function filesOnDisk(): string[] {
  return readdirSync(mountPoint, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(mountPoint.length + 1))
    .sort();
}

const freeBytes = () => {
  const s = statfsSync(mountPoint);
  return s.bavail * s.bsize;
};

/** Fills the filesystem up to `leave` free bytes; returns a function that frees it again. */
async function fillDisk(leave: number): Promise<() => Promise<void>> {
  const filler = join(mountPoint, 'filler');
  await writeFile(filler, Buffer.alloc(Math.max(0, freeBytes() - leave)));
  return () => rm(filler);
}

describe.skipIf(skipReason !== undefined)('backup to a full disk', () => {
  let w: BackupWorld;
  let storedBytes = 0;
  beforeAll(async () => {
    const s3 = inject('s3');
    w = await backupWorld({
      messages: 20000,
      extraRepositories:
        `  full:\n    type: local\n    path: ${JSON.stringify(join(mountPoint, 'repo'))}\n` +
        // An S3 repository whose upload parts are staged on the small filesystem.
        `  s3spool:\n    type: s3\n    bucket: ${s3.bucket}\n    prefix: full-disk-${Date.now()}/\n` +
        `    endpoint: ${s3.endpoint}\n    accessKeyId: ${s3.accessKeyId}\n    secretAccessKey: ${s3.secretAccessKey}\n` +
        `    spoolDir: ${JSON.stringify(join(mountPoint, 'parts'))}\n`,
    });
    // The same backup fits elsewhere; it must not fit here, or the test proves nothing.
    storedBytes = json<{ storedBytes: number }>(
      expectExit(await w.dbops(['-f', 'json', 'backup', 'run', '--no-encrypt']), 0),
    ).storedBytes;
    expect(storedBytes).toBeGreaterThan(SIZE_KB * 1024);
  });
  afterAll(async () => {
    await w?.cleanup();
    await rm(join(mountPoint, 'repo'), { recursive: true, force: true });
  });

  async function expectCleanFailure(args: string[]): Promise<void> {
    const before = freeBytes();
    const r = await w.dbops(['backup', 'run', '--repo', 'full', ...args]);
    expect(r.exitCode, r.stderr).toBe(5);
    expect(r.stderr).toMatch(/no space left on device/);
    expect(r.stderr).toMatch(/free space on the filesystem|prune old backups/);
    // Nothing is left behind: no partial object, no marker, no manifest, and the space is back.
    expect(filesOnDisk().filter((f) => f.includes('/backups/'))).toEqual([]);
    expect(freeBytes()).toBeGreaterThanOrEqual(before - 8192);
    const list = json<{ backups: unknown[] }>(
      expectExit(await w.dbops(['-f', 'json', 'backup', 'list', '--repo', 'full']), 0),
    );
    expect(list.backups).toEqual([]);
  }

  it('zstd writing the repository file itself: exit 5, nothing left, space freed', async () => {
    await expectCleanFailure(['--no-encrypt']);
  });

  it('through dbops (encrypted): exit 5, nothing left, space freed', async () => {
    await expectCleanFailure(['--encrypt']);
  });

  it('restore --jobs 2 with a full temp directory: exit 5 naming it, no database, no spool left', async () => {
    const { id } = json<{ id: string }>(
      expectExit(await w.dbops(['-f', 'json', 'backup', 'run', '--no-encrypt']), 0),
    );
    const tempDir = join(mountPoint, 'spool');
    await mkdir(tempDir);
    const free = await fillDisk(64 * 1024);
    try {
      const database = `full_${Date.now()}`;
      const args = `restore run ${id} --database ${database} --create --jobs 2 --temp-dir ${tempDir}`.split(
        ' ',
      );
      // Checked before spooling: fails at once.
      const early = await w.dbops(args);
      expect(early.exitCode, early.stderr).toBe(5);
      expect(early.stderr).toMatch(
        new RegExp(`not enough space in ${tempDir} for the spooled archive: \\d+ MiB needed, 0 MiB free`),
      );
      expect(early.stderr).toMatch(/--jobs 1/);
      // Unchecked (or filled up by someone else meanwhile): zstd hits the full disk mid-spool.
      // Not mistaken for a damaged backup, and nothing left: no database, no spool.
      const r = await w.dbops(args, { DBOPS_NO_SPACE_CHECK: '1' });
      expect(r.exitCode, r.stderr).toBe(5);
      expect(r.stderr).toContain(`no space left in ${tempDir} for the spooled archive`);
      expect(r.stderr).toMatch(/--jobs 1/);
      expect(r.stderr).not.toMatch(/damaged|cannot decompress/);
      expect(await databaseExists(database)).toBe(false);
      expect(readdirSync(tempDir)).toEqual([]);
    } finally {
      await free();
      await rm(tempDir, { recursive: true });
    }
  });

  it('a directory-format dump staged on a full temp directory: exit 5 naming it, nothing left', async () => {
    const tempDir = join(mountPoint, 'stage');
    await mkdir(tempDir);
    const free = await fillDisk(16 * 1024);
    try {
      const r = await w.dbops([
        'backup',
        'run',
        '--format',
        'directory',
        '--jobs',
        '2',
        '--temp-dir',
        tempDir,
      ]);
      expect(r.exitCode, r.stderr).toBe(5);
      expect(r.stderr).toContain(`no space left in ${tempDir} for the directory-format dump`);
      expect(readdirSync(tempDir)).toEqual([]);
    } finally {
      await free();
      await rm(tempDir, { recursive: true });
    }
  });

  it('an S3 upload whose part staging fills the disk: exit 5 naming the directory, nothing left', async () => {
    const parts = join(mountPoint, 'parts');
    await mkdir(parts);
    const free = await fillDisk(64 * 1024);
    try {
      const r = await w.dbops(['backup', 'run', '--repo', 's3spool', '--no-encrypt']);
      expect(r.exitCode, r.stderr).toBe(5);
      expect(r.stderr).toMatch(
        new RegExp(`cannot stage a part of .* in ${parts}/dbops-s3-parts-\\w+: no space left`),
      );
      expect(r.stderr).toMatch(/spoolDir/);
      expect(readdirSync(parts)).toEqual([]);
      const list = json<{ backups: unknown[] }>(
        expectExit(await w.dbops(['-f', 'json', 'backup', 'list', '--repo', 's3spool']), 0),
      );
      expect(list.backups).toEqual([]);
    } finally {
      await free();
      await rm(parts, { recursive: true });
    }
  });

  it('once there is room again, the next backup succeeds and verifies', async () => {
    execFileSync('mount', ['-o', `remount,size=${Math.ceil((storedBytes * 4) / 1024) + 1024}k`, mountPoint]);
    const { id } = json<{ id: string }>(
      expectExit(await w.dbops(['-f', 'json', 'backup', 'run', '--repo', 'full', '--no-encrypt']), 0),
    );
    expectExit(await w.dbops(['backup', 'verify', id, '--repo', 'full']), 0);
  });
});

describe.skipIf(skipReason !== undefined)('wal push to a full disk', () => {
  let dir: string;
  let config: string;
  let name: string;
  let segment: Buffer;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'dbops-full-disk-wal-'));
    await mkdir(join(dir, 'pg_wal', 'archive_status'), { recursive: true });
    config = join(dir, 'dbops.config.yaml');
    await writeFile(
      config,
      `repositories:\n  archive: { type: local, path: "${join(mountPoint, 'wal-repo')}" }\nwal: { parallel: 1, target: full }\n`,
    );
    // A finished segment of the shared cluster with records in it (not only zeros).
    const url = inject('pgUrl');
    await queryUrl(url, `create table if not exists full_disk_wal (x text)`);
    // Random text: the segment must compress to far more than the few KiB left free below.
    await queryUrl(
      url,
      `insert into full_disk_wal select (select string_agg(md5(random()::text || g || i), '') from generate_series(1, 20) i)
         from generate_series(1, 3000) g`,
    );
    name = await copyFinishedSegment(url, inject('pgDir'), join(dir, 'pg_wal'));
    segment = await readFile(join(dir, 'pg_wal', name));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('exit 5 while the disk is full (PostgreSQL keeps the segment and retries); archived once there is room', async () => {
    execFileSync('mount', ['-o', 'remount,size=32m', mountPoint]);
    const push = () => runDbops(['--config', config, 'wal', 'push', `pg_wal/${name}`], { cwd: dir });
    // Not a byte left, whatever the segment compresses to.
    const free = await fillDisk(0);
    const full = await push();
    expect(full.exitCode, full.stderr).toBe(5);
    expect(full.stderr).toMatch(/no space left on device/);
    expect(filesOnDisk().filter((f) => f.startsWith('wal-repo/') && f.includes(name))).toEqual([]);

    await free();
    const again = await push();
    expect(again.exitCode, again.stderr).toBe(0);
    const dest = join(dir, 'RECOVERYXLOG');
    const fetched = await runDbops(['--config', config, 'wal', 'fetch', name, dest], { cwd: dir });
    expect(fetched.exitCode, fetched.stderr).toBe(0);
    expect((await readFile(dest)).equals(segment)).toBe(true);
  });
});

describe.skipIf(skipReason !== undefined)('retention archive-storage to a full disk', () => {
  it('stops (exit 1) and loses no row; the next run archives the rest, each row once', async () => {
    execFileSync('mount', ['-o', 'remount,size=32m', mountPoint]);
    const db = await createDatabase(inject('pgUrl'));
    const dir = mkdtempSync(join(tmpdir(), 'dbops-full-disk-retention-'));
    try {
      await withClient(db.url, (c) =>
        c.query(`create table events (id bigserial primary key, created_at timestamptz not null, payload text);
                 insert into events (created_at, payload)
                 select now() - (case when g % 2 = 0 then interval '3 years' else interval '1 day' end),
                        md5(random()::text) || md5(g::text)
                   from generate_series(1, 20000) g`),
      );
      const eligibleIds = () =>
        withClient(db.url, async (c) =>
          (
            await c.query<{ id: string }>(
              `select id::text from events where created_at < now() - interval '2 years' order by id`,
            )
          ).rows.map((r) => r.id),
        );
      const before = await eligibleIds();
      const config = join(dir, 'dbops.config.yaml');
      await writeFile(
        config,
        `targets:\n  main: { engine: postgres, url: "${db.url}" }\nrepositories:\n  arch: { type: local, path: "${join(mountPoint, 'archive-repo')}" }\n` +
          `retention:\n  policies:\n    old:\n      table: events\n      ageColumn: created_at\n      olderThan: 2y\n      action: archive-storage\n      repository: arch\n      batchSize: 500\n      maxBatchSize: 500\n`,
      );
      const run = () => runDbops(['retention', 'run', '--config', config, '--yes'], { cwd: dir });
      // Room for a few batch files, not for all 20 of them.
      const free = await fillDisk(96 * 1024);
      const full = await run();
      // A failed policy exits 1 (the others still run); the log says why and what to do.
      expect(full.exitCode, full.stderr).toBe(1);
      expect(full.stderr).toMatch(/policy old failed: .*no space left on device/);
      expect(full.stderr).toMatch(/free space on the filesystem/);
      // Some batches were archived and deleted before the disk filled, not all.
      const left = await eligibleIds();
      expect(left.length).toBeGreaterThan(0);
      expect(left.length).toBeLessThan(before.length);

      await free();
      const again = await run();
      expect(again.exitCode, again.stderr).toBe(0);
      expect(await eligibleIds()).toEqual([]);
      const ids: string[] = [];
      const root = join(mountPoint, 'archive-repo', 'main', 'archive', 'old');
      for (const runDir of await readdir(root)) {
        for (const f of await readdir(join(root, runDir))) {
          if (!f.endsWith('.ndjson.gz')) continue;
          const text = gunzipSync(await readFile(join(root, runDir, f))).toString('utf8');
          for (const line of text.split('\n').filter(Boolean))
            ids.push(String((JSON.parse(line) as { id: number }).id));
        }
      }
      expect(new Set(ids).size).toBe(ids.length);
      expect(ids.sort()).toEqual([...before].sort());
    } finally {
      await db.drop().catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
