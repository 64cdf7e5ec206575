import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import pg from 'pg';

import { sandboxDown, sandboxUp } from '../../../src/sandbox/cluster.js';
import type { SandboxInfo } from '../../../src/sandbox/cluster.js';
import { DBOPS_SH, runDbops, type CliResult } from '../../support/cli.js';

/**
 * A private cluster per test file whose archive_command is the built dbops. As root the server
 * runs as `postgres`, and so does archive_command: the work directory is 0755, the repository
 * 0777 and the config 0644, so that user can read the config and write the repository.
 */
export interface ArchivingCluster {
  dir: string;
  repoDir: string;
  config: string;
  sandbox: SandboxInfo;
  dbops(args: string[], env?: Record<string, string>): Promise<CliResult>;
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    sql: string,
    params?: unknown[],
    url?: string,
  ): Promise<R[]>;
  /** Switches to a new segment and waits until the old one is archived. */
  switchAndWait(timeoutMs?: number): Promise<string>;
  stop(): Promise<void>;
}

export async function queryUrl<R extends pg.QueryResultRow>(
  url: string,
  sql: string,
  params: unknown[] = [],
): Promise<R[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<R>(sql, params)).rows;
  } finally {
    await c.end();
  }
}

export async function startArchivingCluster(o: {
  repositoryYaml: (repoDir: string) => string;
  walYaml?: string;
  name: string;
}): Promise<ArchivingCluster> {
  const dir = await mkdtemp(join(tmpdir(), `dbops-wal-${o.name}-`));
  await chmod(dir, 0o755);
  const repoDir = join(dir, 'repo');
  await mkdir(repoDir, { mode: 0o777 });
  await chmod(repoDir, 0o777);
  const config = join(dir, 'dbops.config.yaml');
  // The target URL is filled in once the port is known; the archive_command reads only repositories and wal.
  const write = async (url: string) =>
    writeFile(
      config,
      `targets:\n  main: { engine: postgres, url: "${url}" }\nrepositories:\n  archive: ${o.repositoryYaml(repoDir)}\n${o.walYaml ?? ''}`,
      { mode: 0o644 },
    );
  await write('postgresql://nobody@127.0.0.1:1/postgres');
  await chmod(config, 0o644);
  const sandbox = await sandboxUp({
    dir: join(dir, 'pg'),
    settings: {
      archive_mode: 'on',
      // What `dbops wal setup` writes: the shell entry, told which node to run.
      archive_command: `DBOPS_NODE=${process.execPath} ${DBOPS_SH} --config ${config} wal push %p`,
      archive_timeout: 0,
      max_wal_size: '64MB',
      checkpoint_timeout: '30min',
    },
  });
  await write(sandbox.url);
  const query = async <R extends pg.QueryResultRow>(sql: string, params: unknown[] = [], url = sandbox.url) =>
    queryUrl<R>(url, sql, params);
  return {
    dir,
    repoDir,
    config,
    sandbox,
    dbops: (args, env) =>
      runDbops(['--config', config, ...args], { ...(env ? { env } : {}), timeout: 180_000 }),
    query,
    async switchAndWait(timeoutMs = 60_000) {
      const [row] = await query<{ f: string }>(`select pg_walfile_name(pg_switch_wal()) as f`);
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const [a] = await query<{ w: string | null }>(`select last_archived_wal as w from pg_stat_archiver`);
        if (a?.w && a.w >= row!.f) return row!.f;
        if (Date.now() > deadline)
          throw new Error(`segment ${row!.f} was not archived within ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 200));
      }
    },
    async stop() {
      await sandboxDown(join(dir, 'pg'), { remove: true }).catch(() => {});
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Stops a restored cluster (pg_ctl as the data directory's owner). A directory that was never
 * created (its test failed before) is skipped, so clean-up after a failure still reaches the rest.
 */
export async function stopRestored(binDir: string, pgdata: string): Promise<void> {
  const { spawnSync } = await import('node:child_process');
  const { statSync } = await import('node:fs');
  let st;
  try {
    st = statSync(pgdata);
  } catch {
    return;
  }
  spawnSync(join(binDir, 'pg_ctl'), ['-D', pgdata, '-m', 'immediate', 'stop'], {
    uid: st.uid,
    gid: st.gid,
    stdio: 'ignore',
  });
}
