import { createHash, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { gunzip, gzip } from 'node:zlib';

import type { Logger } from '../../logger.js';
import type { Repository } from '../../storage/repository.js';

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

/**
 * Archive files in a repository: `<target>/archive/<policy>/<runId>/batch-000001.ndjson.gz`, one
 * gzip-compressed NDJSON file per batch (one row per line, `row_to_json` for PostgreSQL, canonical
 * Extended JSON for MongoDB), and `<runId>/manifest.json` written last, when the run ends.
 *
 * The hand-off is idempotent rather than transactional: a batch file is stored durably before
 * its rows are deleted, and the delete removes exactly the keys in the file. A run killed between
 * the two leaves a run folder without a manifest; the next run "settles" it first by deleting the
 * keys of every batch file in it that still exist. Rows are thus never lost (the file exists
 * before the delete) and never archived twice (they are deleted before anything else is archived).
 */

export const MANIFEST_NAME = 'manifest.json';

export function archivePrefix(target: string, policy: string): string {
  return `${target}/archive/${policy}/`;
}

/** Sortable and unique: `20250101T020304Z-1a2b3c`. */
export function newRunId(now = new Date()): string {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}Z$/, 'Z');
  return `${stamp}-${randomBytes(3).toString('hex')}`;
}

export function batchKey(prefix: string, runId: string, n: number): string {
  return `${prefix}${runId}/batch-${String(n).padStart(6, '0')}.ndjson.gz`;
}

export interface BatchFile {
  key: string;
  rows: number;
  bytes: number;
  sha256: string;
  /** Keyset position of the first and last row (text), for people reading the manifest. */
  first?: string[];
  last?: string[];
}

export interface ArchiveManifest {
  format: 'dbops-retention-archive/1';
  policy: string;
  target: string;
  relation: string;
  engine: 'postgres' | 'mongodb';
  runId: string;
  cutoff: string | undefined;
  startedAt: string;
  finishedAt: string;
  rows: number;
  batches: BatchFile[];
  /** Set when this manifest was written by a later run that settled a killed one. */
  settledBy?: string;
  settledRows?: number;
  outcome: string;
}

/** Writes one batch file durably (the promise resolves only once it is stored). */
export async function writeBatchFile(
  repo: Repository,
  key: string,
  lines: string[],
  meta: { cutoff: string | undefined; first?: string[]; last?: string[] },
  signal?: AbortSignal,
): Promise<BatchFile> {
  const body = await gzipAsync(Buffer.from(lines.length ? `${lines.join('\n')}\n` : '', 'utf8'), {
    level: 1,
  });
  const sha256 = createHash('sha256').update(body).digest('hex');
  await repo.put(key, body, {
    ifAbsent: true,
    contentLength: body.byteLength,
    metadata: {
      rows: String(lines.length),
      sha256,
      ...(meta.cutoff ? { cutoff: meta.cutoff } : {}),
    },
    ...(signal ? { signal } : {}),
  });
  return {
    key,
    rows: lines.length,
    bytes: body.byteLength,
    sha256,
    ...(meta.first ? { first: meta.first } : {}),
    ...(meta.last ? { last: meta.last } : {}),
  };
}

async function readAll(stream: AsyncIterable<Buffer | string>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(typeof c === 'string' ? Buffer.from(c) : c);
  return Buffer.concat(chunks);
}

/** The lines of a batch file, checked against the checksum stored with it. */
export async function readBatchFile(
  repo: Repository,
  key: string,
): Promise<{ lines: string[]; cutoff: string | undefined }> {
  const info = await repo.head(key);
  const body = await readAll(await repo.get(key));
  const sha = createHash('sha256').update(body).digest('hex');
  if (info?.metadata.sha256 && info.metadata.sha256 !== sha) {
    throw new Error(`archive file ${key} does not match its checksum`);
  }
  const text = (await gunzipAsync(body)).toString('utf8');
  return { lines: text.split('\n').filter((l) => l !== ''), cutoff: info?.metadata.cutoff };
}

export async function writeManifest(
  repo: Repository,
  prefix: string,
  manifest: ArchiveManifest,
): Promise<string> {
  const key = `${prefix}${manifest.runId}/${MANIFEST_NAME}`;
  await repo.put(key, Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`, 'utf8'));
  return key;
}

/** Run folders with batch files but no manifest: runs that were killed (or are running now). */
export async function findUnsettledRuns(
  repo: Repository,
  prefix: string,
): Promise<{ runId: string; batchKeys: string[] }[]> {
  const runs = new Map<string, { batchKeys: string[]; manifest: boolean }>();
  for await (const obj of repo.list(prefix)) {
    const rest = obj.key.slice(prefix.length);
    const slash = rest.indexOf('/');
    if (slash < 0) continue;
    const runId = rest.slice(0, slash);
    const name = rest.slice(slash + 1);
    const run = runs.get(runId) ?? { batchKeys: [], manifest: false };
    if (name === MANIFEST_NAME) run.manifest = true;
    else if (/^batch-\d+\.ndjson\.gz$/.test(name)) run.batchKeys.push(obj.key);
    runs.set(runId, run);
  }
  return [...runs.entries()]
    .filter(([, r]) => !r.manifest && r.batchKeys.length > 0)
    .map(([runId, r]) => ({ runId, batchKeys: r.batchKeys.sort() }));
}

/**
 * Settles killed runs: for each of their batch files, `deleteKeys` removes the rows still present
 * (idempotent), then a manifest marks the run settled. Returns the rows deleted now.
 */
export async function settleUnfinishedRuns(
  repo: Repository,
  prefix: string,
  base: Omit<
    ArchiveManifest,
    'runId' | 'startedAt' | 'finishedAt' | 'rows' | 'batches' | 'outcome' | 'cutoff'
  >,
  currentRunId: string,
  deleteKeys: (lines: string[], cutoff: string | undefined) => Promise<number>,
  logger: Logger,
): Promise<number> {
  let settled = 0;
  for (const run of await findUnsettledRuns(repo, prefix)) {
    const batches: BatchFile[] = [];
    let runSettled = 0;
    let cutoff: string | undefined;
    for (const key of run.batchKeys) {
      const file = await readBatchFile(repo, key);
      cutoff = file.cutoff;
      const deleted = await deleteKeys(file.lines, file.cutoff);
      runSettled += deleted;
      const info = await repo.head(key);
      batches.push({
        key,
        rows: file.lines.length,
        bytes: info?.size ?? 0,
        sha256: info?.metadata.sha256 ?? '',
      });
    }
    const now = new Date().toISOString();
    await writeManifest(repo, prefix, {
      ...base,
      runId: run.runId,
      cutoff,
      startedAt: now,
      finishedAt: now,
      rows: batches.reduce((s, b) => s + b.rows, 0),
      batches,
      settledBy: currentRunId,
      settledRows: runSettled,
      outcome: 'settled',
    });
    if (runSettled > 0)
      logger.warn(`settled interrupted archive run ${run.runId}: deleted ${runSettled} archived rows`);
    else logger.info(`closed interrupted archive run ${run.runId} (nothing left to delete)`);
    settled += runSettled;
  }
  return settled;
}
