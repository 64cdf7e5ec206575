import { readdir } from 'node:fs/promises';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { DBOPS_BIN } from '../../support/cli.js';
import { withClient } from '../../support/pg.js';
import { startS3Server, type S3TestServer } from '../../support/s3-server.js';
import { backupWorld, expectExit, json, type BackupWorld } from './helpers.js';

describe('S3 server stopped mid-backup', () => {
  let s3: S3TestServer;
  let w: BackupWorld;
  beforeAll(async () => {
    s3 = await startS3Server();
    w = await backupWorld({
      extraRepositories: `  outage:
    type: s3
    bucket: ${s3.bucket}
    endpoint: ${s3.endpoint}
    accessKeyId: ${s3.accessKeyId}
    secretAccessKey: ${s3.secretAccessKey}
    maxAttempts: 1
`,
    });
  });
  afterAll(async () => {
    await w?.cleanup();
    await s3?.dispose();
  });

  it('exits 5 with a clear message and leaves no manifest', async () => {
    await withClient(w.db.url, async (c) => {
      // Hold pg_dump on a lock until the server is down, so the data upload meets the outage.
      await c.query('begin');
      await c.query('lock table messages in access exclusive mode');
      const child = execa(
        process.execPath,
        [DBOPS_BIN, '--config', w.configFile, '--repo', 'outage', 'backup', 'run', '--no-encrypt'],
        {
          cwd: w.dir,
          reject: false,
          env: { NO_COLOR: '1' },
        },
      );
      for (let i = 0; i < 300; i++) {
        const names = await readdir(s3.directory, { recursive: true }).catch(() => [] as string[]);
        if (names.some((n) => String(n).includes('in-progress.json'))) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      await s3.stop();
      await c.query('rollback');
      const r = await child;
      expect(r.exitCode).toBe(5);
      expect(r.stderr).toMatch(/unreachable|cannot write/);
      expect(r.stderr).toContain(s3.endpoint);
    });
    await s3.restart();
    const list = json<{ backups: unknown[]; incomplete: number }>(
      expectExit(await w.dbops(['--repo', 'outage', '-f', 'json', 'backup', 'list']), 0),
    );
    expect(list.backups).toHaveLength(0);
    // And the repository works again.
    expectExit(await w.dbops(['--repo', 'outage', 'backup', 'run', '--no-encrypt']), 0);
    expect(
      json<{ backups: unknown[] }>(await w.dbops(['--repo', 'outage', '-f', 'json', 'backup', 'list']))
        .backups,
    ).toHaveLength(1);
  });
});
