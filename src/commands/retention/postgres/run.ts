import type { PostgresHandle } from '../../../connections/postgres/handle.js';
import type { PoolClient } from '../../../connections/postgres/pool.js';
import { withTransaction } from '../../../connections/postgres/scope.js';
import { describePgError } from '../../../connections/postgres/errors.js';
import { DbopsError } from '../../../errors.js';
import type { Logger, Progress } from '../../../logger.js';
import type { Repository } from '../../../storage/repository.js';
import {
  archivePrefix,
  batchKey,
  newRunId,
  settleUnfinishedRuns,
  writeBatchFile,
  writeManifest,
  type BatchFile,
} from '../archive-storage.js';
import type { RetentionPolicy } from '../policy.js';
import { sleep } from '../../../sleep.js';
import type { PolicyRunResult } from '../types.js';
import { newRunResult, recordBatch, runDeadline, sizerFor, stopBetweenBatches } from '../run-loop.js';
import { rowsPerPageOf } from './introspect.js';
import { withHeldXactLock } from './policy-lock.js';
import { waitForReplicas, type LagQuery } from './replica-lag.js';
import { preparePolicy } from './prepare.js';
import { buildBatchSql } from './sql.js';
import { BatchSizer } from '../batch-sizer.js';
import { applyWalCompression } from './wal-compression.js';

export interface PostgresRunDeps {
  pg: PostgresHandle;
  targetName: string;
  /** archive-storage only. */
  repository?: Repository;
  logger: Logger;
  progress: Progress;
  signal?: AbortSignal;
  /** Keep every batch's size and duration in the result. */
  batchLog?: boolean;
}

const LOCK_NOT_AVAILABLE = '55P03';
const QUERY_CANCELED = '57014';

const pgCode = (err: unknown): string | undefined =>
  typeof err === 'object' && err !== null && 'code' in err
    ? String((err as { code: unknown }).code)
    : undefined;

/**
 * statement_timeout for a batch: statement_timeout stops counting before the commit, whose WAL
 * flush (megabytes for a large batch; up to 150 ms measured under load) and round trip are part
 * of the batch's duration too, so the statement gets 70 % of the bound and the commit the rest.
 */
export function statementBoundMs(maxBatchDurationMs: number): number {
  return Math.max(Math.floor(maxBatchDurationMs * 0.7), 40);
}

export function policyLockName(policy: string): string {
  return `retention:${policy}`;
}

/** Runs one policy against PostgreSQL: settle, then batches until done, stopped or out of time. */
export async function runPostgresPolicy(
  policy: RetentionPolicy,
  deps: PostgresRunDeps,
): Promise<PolicyRunResult> {
  const started = Date.now();
  const result = newRunResult(policy, 'postgres', deps.targetName, deps.batchLog);
  const locked = await withHeldXactLock(deps.pg.pool, policyLockName(policy.name), (lock) =>
    // Session lock_timeout too: catalog reads and the row estimate must not queue behind DDL.
    deps.pg.withClient((client) => runBatches(policy, deps, client, result, () => lock.check()), {
      lockTimeout: policy.lockTimeoutMs,
    }),
  );
  if (!locked.acquired) {
    result.outcome = 'skipped-running';
    result.message = `policy ${policy.name} is already running elsewhere (advisory lock held); skipped`;
    deps.logger.warn(result.message);
  }
  result.durationMs = Date.now() - started;
  return result;
}

async function runBatches(
  policy: RetentionPolicy,
  deps: PostgresRunDeps,
  client: PoolClient,
  result: PolicyRunResult,
  checkLock: () => Promise<void>,
): Promise<void> {
  const { logger, progress, signal } = deps;
  const prepared = await preparePolicy(policy, client, (ddl) =>
    withTransaction(client, (c) => c.query(ddl), { lockTimeout: policy.lockTimeoutMs }),
  );
  const { cutoff, table, estimate: total } = prepared;
  let sql = prepared.sql;
  result.cutoff = cutoff ?? undefined;
  result.walk = sql.mode;
  logger.debug(`retention ${policy.name}: walks by ${sql.mode} (${prepared.walkReason})`);
  const deadline = runDeadline(policy);
  // A page walk sizes its batches in pages: the row limit becomes pages at the table's density.
  const rowsPerPage = rowsPerPageOf(table);
  const maxPages = Math.max(1, Math.ceil(policy.maxBatchSize / rowsPerPage));
  let sizer =
    sql.mode === 'pages'
      ? new BatchSizer(Math.ceil(policy.batchSize / rowsPerPage), 1, maxPages, policy.maxBatchDurationMs)
      : sizerFor(policy);
  // Pages added after the start hold rows inserted since, which are newer than the cutoff. Read
  // by the first batch, under its lock handling (the size query waits on a held table lock).
  let endPage: number | undefined;
  let page = 0;
  let skipLocked = false;

  // archive-storage: settle what a killed run left behind before archiving anything new.
  const storage = policy.action === 'archive-storage' ? deps.repository : undefined;
  if (policy.action === 'archive-storage' && !storage) throw new Error('archive-storage needs a repository');
  const prefix = archivePrefix(deps.targetName, policy.name);
  const runId = newRunId();
  const runStarted = new Date().toISOString();
  const files: BatchFile[] = [];
  let inDoubt = false;
  const manifestBase = {
    format: 'dbops-retention-archive/1' as const,
    policy: policy.name,
    target: deps.targetName,
    relation: policy.relation,
    engine: 'postgres' as const,
  };
  const deleteKeys = async (lines: string[], fileCutoff: string | undefined) => {
    if (lines.length === 0) return 0;
    const r = await withTransaction(
      client,
      (c) => c.query(sql.deleteByKeys!, [`[${lines.join(',')}]`, fileCutoff ?? cutoff]),
      {
        lockTimeout: policy.lockTimeoutMs,
        statementTimeout: policy.statementTimeoutMs,
      },
    );
    return r.rowCount ?? 0;
  };
  if (storage) {
    result.settledRows = await settleUnfinishedRuns(storage, prefix, manifestBase, runId, deleteKeys, logger);
  }

  progress.start(`retention ${policy.name}`, total);

  // The duration bound is enforced, not only aimed at: a statement running past it is cancelled
  // (rolled back, nothing lost) and the batch is retried smaller. Set once for the session (it
  // already carries lock_timeout) rather than per batch: every batch statement needs it, and two
  // set_config round trips per batch cost more than the batch's own planning.
  const statementBound = Math.min(policy.statementTimeoutMs, statementBoundMs(policy.maxBatchDurationMs));
  // A lock wait must end before the statement bound does, or a batch queued behind a lock would
  // be cancelled as "slow" and shrunk instead of retried later: lock waits get half the bound.
  // Batches do not wait for their commit's WAL flush (unless the policy asks): with other
  // sessions committing, each batch's megabytes of WAL queue behind their flushes (2M rows with a
  // concurrent insert loop: 840k vs 774k rows/s, archive-table 445k vs 373k). A crash can undo at
  // most the last ~0.6 s of batches (rows reappear, an archive-table batch vanishes from both
  // tables together): the next run does them again. archive-storage keeps durable commits: its
  // batch files are settled against committed deletes.
  await client.query(
    `select pg_catalog.set_config('statement_timeout', $1, false), pg_catalog.set_config('lock_timeout', $2, false),
            pg_catalog.set_config('synchronous_commit', $3, false)`,
    [
      String(statementBound),
      String(Math.max(1, Math.min(policy.lockTimeoutMs, Math.floor(statementBound / 2)))),
      policy.synchronousCommit || storage ? 'on' : 'off',
    ],
  );
  const walCompression = await applyWalCompression(client, policy, logger);
  if (walCompression) result.walCompression = walCompression;
  // Replica lag is read on the batch connection (no extra connection), in its own transaction
  // with the ordinary statement timeout, and at most about once a second: lag bounds are seconds,
  // and a catalog query per batch would be a round trip per batch for nothing.
  const lagQuery: LagQuery = async <R>(text: string) => {
    const r = await withTransaction(client, (c) => c.query(text), {
      statementTimeout: policy.statementTimeoutMs,
    });
    return { rows: r.rows as R[] };
  };
  const lagEveryMs = Math.min(1000, policy.maxReplicaLagMs / 4);
  let lagCheckedAt = Number.NEGATIVE_INFINITY;
  let last: string[] | undefined;
  let lockAttempts = 0;
  try {
    for (;;) {
      if (stopBetweenBatches(result, signal, deadline)) break;
      await checkLock();
      if (policy.maxReplicaLagMs > 0 && Date.now() - lagCheckedAt >= lagEveryMs) {
        result.lagWaitMs += await waitForReplicas(lagQuery, policy.maxReplicaLagMs, logger, signal, deadline);
        lagCheckedAt = Date.now();
        if (signal?.aborted || Date.now() >= deadline) continue;
      }
      const size = sizer.current;
      const t0 = performance.now();
      let batch: { rows: number; last?: string[]; nextPage?: number };
      try {
        if (sql.mode === 'pages') {
          endPage ??= Number(
            (
              await client.query<{ n: string }>(
                `select pg_catalog.pg_relation_size($1::oid) / current_setting('block_size')::int as n`,
                [table.oid],
              )
            ).rows[0]!.n,
          );
          if (page >= endPage) break;
          const to = Math.min(page + size, endPage);
          // A plain DELETE over the range; only after it met a row lock does the range run again
          // skipping locked rows (locking every row first costs ~35 % of the rate).
          const r = await client.query(skipLocked ? sql.pageBatchSkipLocked! : sql.pageBatch!, [
            cutoff,
            `(${page},0)`,
            `(${to},0)`,
          ]);
          batch = { rows: r.rowCount ?? 0, nextPage: to };
        } else if (!storage) {
          // One statement, so its own transaction (no BEGIN/COMMIT round trips): it locks, deletes
          // and (archive-table) inserts the batch atomically — archived and deleted together or not
          // at all, cancelled and rolled back whole by statement_timeout.
          const r = await client.query<Record<string, string | number>>(
            last ? sql.nextBatch! : sql.firstBatch!,
            [cutoff, size, ...(last ?? [])],
          );
          const first = r.rows[0];
          batch = first
            ? { rows: Number(first.rows), last: sql.walk.map((_, i) => String(first[`w${i}`])) }
            : { rows: 0 };
        } else {
          batch = await withTransaction(client, async (c) => {
            const sel = await c.query<Record<string, string>>(last ? sql.selectNext! : sql.selectFirst!, [
              cutoff,
              size,
              ...(last ?? []),
            ]);
            if (sel.rows.length === 0) return { rows: 0 };
            const lines = sel.rows.map((r) => r.j!);
            const walkOf = (r: Record<string, string>) => sql.walk.map((_, i) => r[`w${i}`]!);
            const lastRow = walkOf(sel.rows[sel.rows.length - 1]!);
            // Durable first: the file exists before the delete can commit.
            inDoubt = true;
            const file = await writeBatchFile(
              storage,
              batchKey(prefix, runId, files.length + 1),
              lines,
              { cutoff: cutoff ?? undefined, first: walkOf(sel.rows[0]!), last: lastRow },
              undefined,
            );
            const del = await c.query(sql.deleteByKeys!, [`[${lines.join(',')}]`, cutoff]);
            if ((del.rowCount ?? 0) !== lines.length) {
              // Rows are locked FOR UPDATE, so this cannot happen short of a bug: refuse to continue.
              throw new DbopsError(
                `archive batch ${file.key}: deleted ${del.rowCount} rows but archived ${lines.length}; rolled back`,
              );
            }
            files.push(file);
            return { rows: lines.length, last: lastRow };
          });
          inDoubt = false;
        }
      } catch (err) {
        const code = pgCode(err);
        if (inDoubt && storage) {
          // The last file may or may not have its delete committed; the next run settles it.
          files.pop();
          throw err;
        }
        if (code === LOCK_NOT_AVAILABLE && sql.mode === 'pages' && !skipLocked) {
          // A row in the range is locked by another session: redo the range, skipping it.
          result.lockRetries += 1;
          skipLocked = true;
          logger.debug(
            `pages ${page}–${page + size} of ${policy.relation} meet a row lock; skipping locked rows`,
          );
          continue;
        }
        if (code === LOCK_NOT_AVAILABLE) {
          lockAttempts += 1;
          result.lockRetries += 1;
          if (lockAttempts > policy.lockRetries) {
            result.outcome = 'retry-later';
            result.message = `table ${policy.relation} stayed locked (lock_timeout ${policy.lockTimeoutMs} ms, ${policy.lockRetries} retries); retry later`;
            logger.warn(result.message);
            break;
          }
          const backoff = Math.min(30_000, policy.lockTimeoutMs * 2 ** (lockAttempts - 1));
          logger.info(`batch hit lock_timeout on ${policy.relation}; retrying in ${backoff} ms`);
          await sleep(backoff, signal);
          continue;
        }
        if (code === QUERY_CANCELED && !signal?.aborted) {
          result.boundCancels += 1;
          if (sizer.atMinimum && sql.mode === 'pages') {
            // One page's rows take longer than the bound (triggers, cascades): walk by key, where
            // a batch can be as small as minBatchSize rows. Rows already gone stay gone.
            sql = buildBatchSql(policy, table, prepared.archive, 'key');
            sizer = sizerFor(policy);
            result.walk = 'key';
            logger.info(
              `retention ${policy.name}: one page of ${policy.relation} takes longer than maxBatchDuration; walking by key instead`,
            );
            continue;
          }
          if (sizer.atMinimum) {
            throw new DbopsError(
              `retention policy ${policy.name}: a batch of ${size} rows takes longer than maxBatchDuration (${policy.maxBatchDurationMs} ms)`,
              {
                hint: 'raise maxBatchDuration, lower minBatchSize, or check the plan with `dbops retention plan`',
              },
            );
          }
          sizer.timedOut();
          logger.debug(
            `batch of ${size} rows exceeded ${policy.maxBatchDurationMs} ms; retrying with ${sizer.current}`,
          );
          continue;
        }
        throw err;
      }
      const ms = performance.now() - t0;
      if (batch.rows === 0 && !batch.last && batch.nextPage === undefined) break;
      lockAttempts = 0;
      skipLocked = false;
      // A page range is always read whole, so every page batch tells the sizer about speed.
      const fetched = sql.mode === 'pages' ? size : batch.rows;
      recordBatch(result, sizer, { rows: batch.rows, size, fetched, ms });
      if (sql.mode === 'pages') {
        page = batch.nextPage!;
        // maxBatchSize bounds rows, not pages: where few rows go (the young end of a table that
        // grows in time order), a batch may span more pages, up to 8× — 40 batches of 910
        // nearly empty pages cost 13 % of a 5M-row run. Growth stays at most 2× per batch.
        const density = batch.rows / Math.max(1, size * rowsPerPage);
        sizer.setMax(Math.ceil(maxPages / Math.min(1, Math.max(density, 1 / 8))));
      } else last = batch.last;
      progress.update(result.rows, total);
      await sleep(policy.pauseMs, signal);
    }
  } catch (err) {
    result.outcome = 'failed';
    result.message = err instanceof DbopsError ? err.message : describePgError(err);
    logger.error(
      `retention policy ${policy.name} failed: ${result.message}`,
      err instanceof DbopsError && err.hint ? { hint: err.hint } : undefined,
    );
  } finally {
    progress.stop();
  }
  if (storage && !inDoubt && (files.length > 0 || result.settledRows > 0)) {
    result.manifest = await writeManifest(storage, prefix, {
      ...manifestBase,
      runId,
      cutoff: cutoff ?? undefined,
      startedAt: runStarted,
      finishedAt: new Date().toISOString(),
      rows: files.reduce((s, f) => s + f.rows, 0),
      batches: files,
      outcome: result.outcome,
    });
  }
}
