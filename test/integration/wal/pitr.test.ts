import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { json } from '../../support/cli.js';
import { queryUrl, startArchivingCluster, stopRestored, type ArchivingCluster } from './cluster.js';

/**
 * End to end through a real archive_command: base backup, batches A, B, C with a restore point
 * and a noted time between them, then recovery into new data directories to each point.
 */
let c: ArchivingCluster;
const restored: string[] = [];
let stopTime = '';
let lastSegmentOfB = '';
const expected: Record<'a' | 'ab' | 'abc', { count: number; md5: string }> = {} as never;

async function snapshot(): Promise<{ count: number; md5: string }> {
  const [r] = await c.query<{ n: string; h: string }>(
    `select count(*) as n, md5(coalesce(string_agg(t::text, ',' order by id), '')) as h from items t`,
  );
  return { count: Number(r!.n), md5: r!.h };
}

async function batch(label: string, n: number): Promise<void> {
  await c.query(`insert into items (batch, payload) select $1, md5(g::text) from generate_series(1, $2) g`, [
    label,
    n,
  ]);
}

interface RestoreJson {
  id: string;
  port: number;
  reached: { state: string; lsn: string | null; logLines: string[] };
}

async function restore(
  args: string[],
): Promise<{ json: RestoreJson; url: string; stderr: string; exitCode: number }> {
  const pgdata = join(c.dir, `restore-${restored.length}`);
  restored.push(pgdata);
  const r = await c.dbops([
    '--format',
    'json',
    'restore',
    'run',
    'latest',
    '--physical',
    '--pgdata',
    pgdata,
    '--start',
    ...args,
  ]);
  if (r.exitCode !== 0) throw new Error(`restore failed (${r.exitCode}): ${r.stderr}\n${r.stdout}`);
  const out = json<RestoreJson>(r);
  const u = new URL(c.sandbox.url);
  u.port = String(out.port);
  return { json: out, url: u.toString(), stderr: r.stderr, exitCode: r.exitCode };
}

async function contents(url: string): Promise<{ count: number; md5: string }> {
  const [r] = await queryUrl<{ n: string; h: string }>(
    url,
    `select count(*) as n, md5(coalesce(string_agg(t::text, ',' order by id), '')) as h from items t`,
  );
  return { count: Number(r!.n), md5: r!.h };
}

beforeAll(async () => {
  c = await startArchivingCluster({
    name: 'pitr',
    repositoryYaml: (dir) => `{ type: local, path: "${dir}" }`,
  });
  await c.query('create table items (id bigserial primary key, batch text not null, payload text not null)');
  await c.switchAndWait();
  const backup = await c.dbops(['--format', 'json', 'backup', 'run', '--physical']);
  expect(backup.exitCode, backup.stderr).toBe(0);
  expect(json<{ physical: { startLsn: string } }>(backup).physical.startLsn).toMatch(
    /^[0-9A-F]+\/[0-9A-F]+$/,
  );

  await batch('A', 1000);
  expected.a = await snapshot();
  await c.query(`select pg_create_restore_point('before_b')`);
  await batch('B', 700);
  expected.ab = await snapshot();
  lastSegmentOfB = await c.switchAndWait();
  await new Promise((r) => setTimeout(r, 1100));
  stopTime = (await c.query<{ t: Date }>('select now() as t'))[0]!.t.toISOString();
  await new Promise((r) => setTimeout(r, 1100));
  await batch('C', 300);
  expected.abc = await snapshot();
  await c.switchAndWait();
}, 180_000);

afterAll(async () => {
  for (const d of restored) await stopRestored(c.sandbox.binDir, d);
  await c?.stop();
});

describe('point-in-time recovery through dbops wal push / fetch (local repository)', () => {
  it('wal status shows the archive, no gaps, and the base backup with its WAL', async () => {
    const r = await c.dbops(['--format', 'json', 'wal', 'status', '--max-age', '10m']);
    expect(r.exitCode, r.stderr + r.stdout).toBe(0);
    const s = json<{
      ok: boolean;
      timelines: { gaps: unknown[] }[];
      backups: { restorable: boolean }[];
      server: { ready: number };
    }>(r);
    expect(s.ok).toBe(true);
    expect(s.timelines[0]!.gaps).toEqual([]);
    expect(s.backups).toHaveLength(1);
    expect(s.backups[0]!.restorable).toBe(true);
    expect(s.server.ready).toBe(0);
    // backup list carries the same coverage, one line per target.
    const list = await c.dbops(['--format', 'json', 'backup', 'list']);
    expect(list.exitCode, list.stderr).toBe(0);
    const wal = json<{ wal: { timelines: { missing: number }[]; backups: { restorable: boolean }[] }[] }>(
      list,
    ).wal;
    expect(wal).toHaveLength(1);
    expect(wal[0]!.timelines[0]!.missing).toBe(0);
    expect(wal[0]!.backups).toEqual([expect.objectContaining({ restorable: true })]);
    const table = await c.dbops(['backup', 'list']);
    expect(table.stdout).toMatch(/WAL of .*timeline 1 .*physical backups with all their WAL: 1\/1/);
  });

  it('wal setup sees the archive_command already in place and proposes archive_timeout', async () => {
    const r = await c.dbops(['--format', 'json', 'wal', 'setup']);
    expect(r.exitCode, r.stderr).toBe(0);
    const s = json<{ settings: { name: string; changed: boolean }[]; restartNeeded: boolean }>(r);
    const changed = Object.fromEntries(s.settings.map((x) => [x.name, x.changed]));
    expect(changed).toEqual({
      wal_level: false,
      archive_mode: false,
      archive_command: false,
      archive_timeout: true,
    });
    expect(s.restartNeeded).toBe(false);
  });

  it('recovers to a restore point (A), to a time (A+B) and to the end (A+B+C)', async () => {
    // Three independent data directories, recovered at the same time to keep the file short.
    const [toName, toTime, toEnd] = await Promise.all([
      restore(['--target-name', 'before_b']),
      restore(['--target-time', stopTime]),
      restore([]),
    ]);
    for (const r of [toName, toTime, toEnd])
      expect(r.json.reached.state, JSON.stringify(r.json.reached)).toBe('promoted');
    expect(await contents(toName.url)).toEqual(expected.a);
    expect(await contents(toTime.url)).toEqual(expected.ab);
    expect(await contents(toEnd.url)).toEqual(expected.abc);
    expect(toEnd.json.reached.lsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
  });

  it('refuses a time without a zone, and a time before the oldest backup', async () => {
    const noZone = await c.dbops([
      'restore',
      'run',
      'latest',
      '--physical',
      '--pgdata',
      join(c.dir, 'x'),
      '--target-time',
      '2030-01-01 00:00:00',
    ]);
    expect(noZone.exitCode).toBe(2);
    expect(noZone.stderr).toMatch(/no time zone/);
    const tooOld = await c.dbops([
      'restore',
      'run',
      'latest',
      '--physical',
      '--pgdata',
      join(c.dir, 'x'),
      '--target-time',
      '2001-01-01T00:00:00Z',
    ]);
    expect(tooOld.exitCode).toBe(2);
    expect(tooOld.stderr).toMatch(/before the oldest physical backup/);
    const beyond = await c.dbops([
      'restore',
      'run',
      'latest',
      '--physical',
      '--pgdata',
      join(c.dir, 'x'),
      '--target-time',
      '2099-01-01T00:00:00Z',
    ]);
    expect(beyond.exitCode).toBe(2);
    expect(beyond.stderr).toMatch(/beyond the archive/);
  });

  it('a corrupted archived segment fails its checksum and recovery stops before it', async () => {
    // The segment after B's last one holds batch C.
    const f = lastSegmentOfB;
    const next = `${f.slice(0, 16)}${(parseInt(f.slice(16), 16) + 1).toString(16).toUpperCase().padStart(8, '0')}`;
    const file = join(c.repoDir, 'main', 'wal', f.slice(0, 8), next);
    const bytes = await readFile(file);
    const at = Math.floor(bytes.length / 2);
    bytes[at] = bytes[at]! ^ 0xff;
    // Same size, new content; the metadata sidecar is re-pointed at the new mtime so that the
    // damage is found by the checksum, not by a missing sidecar.
    const sidecar = JSON.parse(await readFile(`${file}.dbops-meta.json`, 'utf8')) as { mtimeNs: string };
    await writeFile(file, bytes);
    const { statSync } = await import('node:fs');
    sidecar.mtimeNs = statSync(file, { bigint: true }).mtimeNs.toString();
    await writeFile(`${file}.dbops-meta.json`, JSON.stringify(sidecar));

    const fetch = await c.dbops(['wal', 'fetch', next, join(c.dir, 'fetched-segment')]);
    expect(fetch.exitCode).toBe(1);
    expect(fetch.stderr).toMatch(/checksum mismatch/);

    const r = await restore([]);
    expect(r.json.reached.state, JSON.stringify(r.json.reached)).toBe('promoted');
    expect(await contents(r.url)).toEqual(expected.ab);
  });
});
