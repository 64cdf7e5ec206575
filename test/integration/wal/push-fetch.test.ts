import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';

import { execa } from 'execa';

import { DBOPS_SH, json, runDbops } from '../../support/cli.js';
import { copyFinishedSegment } from '../../support/pg.js';

/**
 * wal push / fetch on real segments of the shared test cluster, without a private server:
 * idempotency, never overwriting different content, refusing another cluster's WAL, checksums.
 */
let dir: string;
let config: string;
let segment: Buffer;
let name: string;
let walDir: string;

const push = (path: string, extra: string[] = []) =>
  runDbops(['--config', config, ...extra, 'wal', 'push', path], { cwd: dir });
const fetch = (n: string, dest: string) =>
  runDbops(['--config', config, 'wal', 'fetch', n, dest], { cwd: dir });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dbops-wal-push-'));
  walDir = join(dir, 'pg_wal');
  await mkdir(join(walDir, 'archive_status'), { recursive: true });
  config = join(dir, 'dbops.config.yaml');
  await writeFile(
    config,
    `repositories:\n  archive: { type: local, path: "${join(dir, 'repo')}" }\nwal: { parallel: 1, target: shared }\n`,
  );
  // A finished segment of the shared cluster.
  name = await copyFinishedSegment(inject('pgUrl'), inject('pgDir'), walDir);
  segment = await readFile(join(walDir, name));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('wal push / fetch', () => {
  it('archives a segment, and pushing the same segment again exits 0', async () => {
    const first = await push(`pg_wal/${name}`, ['--format', 'json']);
    expect(first.exitCode, first.stderr).toBe(0);
    expect(json<{ status: string }>(first).status).toBe('archived');
    const again = await push(`pg_wal/${name}`, ['--format', 'json']);
    expect(again.exitCode, again.stderr).toBe(0);
    expect(json<{ status: string }>(again).status).toBe('already-archived');
  });

  it('fetches it back byte for byte, and a missing segment exits 1 quietly', async () => {
    const dest = join(dir, 'RECOVERYXLOG');
    const r = await fetch(name, dest);
    expect(r.exitCode, r.stderr).toBe(0);
    expect((await readFile(dest)).equals(segment)).toBe(true);
    const missing = await fetch('0000000100000FFF000000FF', join(dir, 'nothing'));
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toBe('');
    const history = await fetch('00000009.history', join(dir, 'nothing'));
    expect(history.exitCode).toBe(1);
  });

  it('refuses different content under an archived name and keeps the original', async () => {
    const other = Buffer.from(segment);
    other[100_000] = other[100_000]! ^ 0xff;
    const otherDir = join(dir, 'other', 'pg_wal');
    await mkdir(otherDir, { recursive: true });
    await writeFile(join(otherDir, name), other);
    const r = await push(join(otherDir, name));
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/DIFFERENT content/);
    const dest = join(dir, 'after-conflict');
    expect((await fetch(name, dest)).exitCode).toBe(0);
    expect((await readFile(dest)).equals(segment)).toBe(true);
  });

  it('refuses a segment of another cluster (system identifier in the page header)', async () => {
    const foreign = Buffer.from(segment);
    foreign.writeBigUInt64LE(foreign.readBigUInt64LE(24) + 1n, 24);
    const next = `${name.slice(0, 16)}${(parseInt(name.slice(16), 16) + 1).toString(16).toUpperCase().padStart(8, '0')}`;
    // The page address must match the new name, or the name check refuses it first.
    foreign.writeBigUInt64LE(foreign.readBigUInt64LE(8) + BigInt(foreign.readUInt32LE(32)), 8);
    const foreignDir = join(dir, 'foreign', 'pg_wal');
    await mkdir(foreignDir, { recursive: true });
    await writeFile(join(foreignDir, next), foreign);
    const r = await push(join(foreignDir, next));
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/system identifier .* refusing to mix/);
  });

  it('refuses a file that is not a WAL segment, and a renamed segment', async () => {
    await writeFile(join(dir, 'pg_wal', '000000010000000000000099'), Buffer.alloc(8192));
    expect((await push('pg_wal/000000010000000000000099')).exitCode).toBe(1);
    await copyFile(join(walDir, name), join(walDir, '0000000100000000000000AA'));
    const renamed = await push('pg_wal/0000000100000000000000AA');
    expect(renamed.exitCode).toBe(1);
    expect(renamed.stderr).toMatch(/not what the name says/);
  });

  /**
   * A pg_wal with the segment under its own name, marked .ready, and a history file: the "current"
   * call is for the history file, which carries no header, so the segment is the worker's.
   */
  async function pickUpWorld(sub: string, target: string): Promise<{ dir: string; cfg: string }> {
    const at = join(dir, sub);
    await mkdir(join(at, 'pg_wal', 'archive_status'), { recursive: true });
    const cfg = join(at, 'dbops.config.yaml');
    await writeFile(
      cfg,
      `repositories:\n  archive: { type: local, path: "${join(at, 'repo')}" }\nwal: { parallel: 4, target: ${target} }\n`,
    );
    await copyFile(join(walDir, name), join(at, 'pg_wal', name));
    await writeFile(join(at, 'pg_wal', 'archive_status', `${name}.ready`), '');
    await writeFile(join(at, 'pg_wal', '00000002.history'), '1\t0/3000000\tno recovery target specified\n');
    return { dir: at, cfg };
  }

  it('archives other .ready segments in a background worker, and their own calls return at once', async () => {
    const { dir: pickDir, cfg } = await pickUpWorld('pick', 'pick');
    const first = await runDbops(
      ['--config', cfg, '--format', 'json', 'wal', 'push', 'pg_wal/00000002.history'],
      { cwd: pickDir },
    );
    expect(first.exitCode, first.stderr).toBe(0);
    expect(json<{ workerStarted: boolean }>(first).workerStarted).toBe(true);
    // The detached worker records the segment in the spool once it is stored.
    const record = join(pickDir, 'pg_wal', '.dbops', 'ok', name);
    for (let i = 0; i < 200 && !(await stat(record).catch(() => undefined)); i++)
      await new Promise((r) => setTimeout(r, 100));
    // PostgreSQL's next call for that segment returns with the worker's record.
    const second = await runDbops(['--config', cfg, '--format', 'json', 'wal', 'push', `pg_wal/${name}`], {
      cwd: pickDir,
    });
    expect(second.exitCode, second.stderr).toBe(0);
    expect(json<{ status: string }>(second).status).toBe('picked-up-earlier');
    const stored = await readdir(join(pickDir, 'repo', 'pick', 'wal', '00000001'));
    expect(stored).toContain(name);
  });

  it('the shell entry (bin/dbops) answers a call for a segment the worker archived without starting Node', async () => {
    const { dir: shDir, cfg } = await pickUpWorld('pick-sh', 'picksh');
    // The first call goes to Node (nothing archived yet) and starts the worker for the segment.
    const first = await execa(DBOPS_SH, ['--config', cfg, '-q', 'wal', 'push', 'pg_wal/00000002.history'], {
      cwd: shDir,
      reject: false,
      env: { DBOPS_NODE: process.execPath },
    });
    expect(first.exitCode, first.stderr).toBe(0);
    const okq = join(shDir, 'pg_wal', '.dbops', 'okq');
    for (let i = 0; i < 200 && (await readdir(okq).catch(() => [])).length === 0; i++)
      await new Promise((r) => setTimeout(r, 100));
    expect((await readdir(okq))[0]).toMatch(new RegExp(`^${name}-\\d+\\.\\d+\\.16777216\\.\\d+-`));
    // With Node made unusable, only the script itself can answer.
    const noNode = { cwd: shDir, reject: false, env: { DBOPS_NODE: '/bin/false' } } as const;
    const second = await execa(DBOPS_SH, ['--config', cfg, '-q', 'wal', 'push', `pg_wal/${name}`], noNode);
    expect(second.exitCode).toBe(0);
    expect(await readdir(okq)).toEqual([]);
    expect(await stat(join(shDir, 'pg_wal', '.dbops', 'ok', name)).catch(() => undefined)).toBeUndefined();
    // The marker is used once: the same call again goes to Node.
    const third = await execa(DBOPS_SH, ['--config', cfg, '-q', 'wal', 'push', `pg_wal/${name}`], noNode);
    expect(third.exitCode).toBe(1);
  });

  it('the drop valve (off by default) reports success loudly when the repository is down and the backlog is over its limit', async () => {
    const dropDir = join(dir, 'drop');
    await mkdir(join(dropDir, 'pg_wal', 'archive_status'), { recursive: true });
    // A repository path under a regular file: every write fails as a storage error.
    await writeFile(join(dropDir, 'not-a-dir'), '');
    const cfg = (extra: string) =>
      `repositories:\n  archive: { type: local, path: "${join(dropDir, 'not-a-dir', 'repo')}" }\nwal: { parallel: 1, target: drop${extra} }\n`;
    await copyFile(join(walDir, name), join(dropDir, 'pg_wal', name));
    for (const n of ['A', 'B', 'C'])
      await writeFile(join(dropDir, 'pg_wal', 'archive_status', `00000001000000000000000${n}.ready`), '');
    await writeFile(join(dropDir, 'off.yaml'), cfg(''));
    const off = await runDbops(['--config', join(dropDir, 'off.yaml'), 'wal', 'push', `pg_wal/${name}`], {
      cwd: dropDir,
    });
    expect(off.exitCode).toBe(5);
    await writeFile(join(dropDir, 'on.yaml'), cfg(', dropReadyAbove: 2'));
    const on = await runDbops(
      ['--config', join(dropDir, 'on.yaml'), '--format', 'json', 'wal', 'push', `pg_wal/${name}`],
      { cwd: dropDir },
    );
    expect(on.exitCode, on.stderr).toBe(0);
    expect(json<{ status: string }>(on).status).toBe('dropped');
    expect(on.stderr).toMatch(/DROPPING WAL/);
    expect(await readFile(join(dropDir, 'pg_wal', '.dbops', 'dropped.log'), 'utf8')).toContain(name);
  });
});
