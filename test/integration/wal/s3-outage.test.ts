import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { json } from '../../support/cli.js';
import { startS3Server, type S3TestServer } from '../../support/s3-server.js';
import { queryUrl, startArchivingCluster, stopRestored, type ArchivingCluster } from './cluster.js';

/**
 * Archiving to an S3-compatible server that goes down under a write load: archive_command fails,
 * `.ready` files pile up and nothing is lost; when the server is back the backlog drains, the
 * archive has no gap, and recovery from S3 to the end has every committed row.
 */
let s3: S3TestServer;
let c: ArchivingCluster;
let restoredDir: string | undefined;

const readyCount = async () =>
  Number(
    (
      await c.query<{ n: string }>(
        `select count(*) as n from pg_ls_archive_statusdir() where name like '%.ready'`,
      )
    )[0]!.n,
  );
const snapshot = async (url?: string) => {
  const [r] = url
    ? await queryUrl<{ n: string; h: string }>(
        url,
        `select count(*) as n, md5(string_agg(t::text, ',' order by id)) as h from load t`,
      )
    : await c.query<{ n: string; h: string }>(
        `select count(*) as n, md5(string_agg(t::text, ',' order by id)) as h from load t`,
      );
  return { count: Number(r!.n), md5: r!.h };
};

beforeAll(async () => {
  s3 = await startS3Server();
  c = await startArchivingCluster({
    name: 's3',
    repositoryYaml: () =>
      `{ type: s3, bucket: ${s3.bucket}, endpoint: "${s3.endpoint}", accessKeyId: ${s3.accessKeyId}, secretAccessKey: ${s3.secretAccessKey}, maxAttempts: 2 }`,
  });
  await c.query('create table load (id bigserial primary key, payload text not null)');
  await c.switchAndWait(90_000);
}, 180_000);

afterAll(async () => {
  if (restoredDir) await stopRestored(c.sandbox.binDir, restoredDir);
  await c?.stop();
  await s3?.dispose();
});

describe('WAL archiving to S3 through an outage', () => {
  it('keeps every segment through an S3 outage and recovers to the end from S3', async () => {
    const backup = await c.dbops(['--format', 'json', 'backup', 'run', '--physical']);
    expect(backup.exitCode, backup.stderr).toBe(0);
    await c.query(`insert into load (payload) select md5(g::text) from generate_series(1, 500) g`);
    await c.switchAndWait(90_000);

    await s3.stop();
    for (let i = 0; i < 5; i++) {
      await c.query(`insert into load (payload) select md5(g::text) from generate_series(1, 200) g`);
      await c.query('select pg_switch_wal()');
      await new Promise((r) => setTimeout(r, 400));
    }
    await new Promise((r) => setTimeout(r, 2000));
    expect(await readyCount()).toBeGreaterThanOrEqual(3);
    const [archiver] = await c.query<{ failed_count: string }>('select failed_count from pg_stat_archiver');
    expect(Number(archiver!.failed_count)).toBeGreaterThan(0);
    const expected = await snapshot();

    await s3.restart();
    await c.query(`insert into load (payload) values ('wake up')`);
    expected.count += 1;
    const last = await c.switchAndWait(120_000);
    expect(await readyCount()).toBe(0);
    expect(last).toBeTruthy();
    const final = await snapshot();
    expect(final.count).toBe(expected.count);

    const status = await c.dbops(['--format', 'json', 'wal', 'status', '--max-backlog', '2']);
    expect(status.exitCode, status.stdout + status.stderr).toBe(0);
    const s = json<{ ok: boolean; timelines: { gaps: unknown[] }[]; backups: { restorable: boolean }[] }>(
      status,
    );
    expect(s.timelines[0]!.gaps).toEqual([]);
    expect(s.backups[0]!.restorable).toBe(true);

    restoredDir = join(c.dir, 'restored');
    const r = await c.dbops([
      '--format',
      'json',
      'restore',
      'run',
      'latest',
      '--physical',
      '--pgdata',
      restoredDir,
      '--start',
    ]);
    expect(r.exitCode, r.stderr).toBe(0);
    const out = json<{ port: number; reached: { state: string } }>(r);
    expect(out.reached.state).toBe('promoted');
    const u = new URL(c.sandbox.url);
    u.port = String(out.port);
    expect(await snapshot(u.toString())).toEqual(final);
  });
});
