import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from '../../../connections/postgres/pg.js';

import { quoteIdent } from '../../../connections/postgres/quote.js';
import type { ResolvedPostgresTarget } from '../../../connections/target.js';
import { postgresToolEnv } from '../../../connections/tool-env.js';
import type { Logger, Progress } from '../../../logger.js';
import { withSandbox } from '../../../sandbox/cluster.js';
import type { Repository } from '../../../storage/repository.js';
import type { ReadPipelineOptions } from '../../../streams/pipeline.js';
import type { BackupManifest } from '../manifest.js';
import { restorePostgresArchive } from './restore.js';
import { compareRowCounts, countRows, type RowCountDifference } from './row-counts.js';

const DRILL_DATABASE = 'restore_drill';

/**
 * A restore drill: a throwaway cluster (initdb, private port), the backup restored into it without
 * owners or privileges (its roles do not exist there), then every table counted and compared with
 * the counts recorded in the manifest. The cluster is always removed.
 */
export async function restoreIntoSandbox(
  repo: Repository,
  m: BackupManifest,
  read: ReadPipelineOptions,
  o: { signal: AbortSignal; logger: Logger; progress: Progress; tempRoot?: string },
): Promise<{ differences: RowCountDifference[]; tables: number; ms: number }> {
  // Not under a 0700 temp dir: when dbops runs as root the server runs as another OS user.
  const dir = join(o.tempRoot ?? tmpdir(), `dbops-drill-${randomBytes(6).toString('hex')}`);
  return withSandbox({ dir, logger: o.logger, signal: o.signal }, async (s) => {
    const started = performance.now();
    const admin = new pg.Client({ connectionString: s.url });
    await admin.connect();
    try {
      await admin.query(`create database ${quoteIdent(DRILL_DATABASE)}`);
    } finally {
      await admin.end();
    }
    const target: ResolvedPostgresTarget = {
      name: 'sandbox',
      engine: 'postgres',
      url: s.url,
      replicas: [],
      connectTimeout: 10,
      production: false,
      maxReplicaLag: 30,
    };
    await restorePostgresArchive({
      repo,
      manifest: m,
      object: m.objects[0]!,
      read,
      env: postgresToolEnv(target, { database: DRILL_DATABASE }),
      database: DRILL_DATABASE,
      jobs: 1,
      clean: false,
      noOwner: true,
      schemas: [],
      tables: [],
      signal: o.signal,
      progress: o.progress,
      ...(o.tempRoot ? { tempRoot: o.tempRoot } : {}),
    });
    const client = new pg.Client({ connectionString: postgresUrlFor(s.url, DRILL_DATABASE) });
    await client.connect();
    let counts: Record<string, number>;
    try {
      counts = await countRows(client);
    } finally {
      await client.end();
    }
    const differences = m.rowCounts ? compareRowCounts(m.rowCounts.tables, counts) : [];
    return { differences, tables: Object.keys(counts).length, ms: performance.now() - started };
  });
}

function postgresUrlFor(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${encodeURIComponent(database)}`;
  return u.toString();
}
