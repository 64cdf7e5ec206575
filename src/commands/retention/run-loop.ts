import { BatchSizer } from './batch-sizer.js';
import type { RetentionPolicy } from './policy.js';
import type { PolicyRunResult } from './types.js';

/** The book-keeping both engines' batch loops share: the result, when to stop, one batch. */

export function newRunResult(
  policy: RetentionPolicy,
  engine: 'postgres' | 'mongodb',
  targetName: string,
  batchLog: boolean | undefined,
): PolicyRunResult {
  return {
    policy: policy.name,
    target: targetName,
    engine,
    relation: policy.relation,
    action: policy.action,
    outcome: 'complete',
    rows: 0,
    batches: 0,
    maxBatchMs: 0,
    durationMs: 0,
    settledRows: 0,
    lockRetries: 0,
    boundCancels: 0,
    lagWaitMs: 0,
    cutoff: undefined,
    ...(batchLog ? { batchLog: [] } : {}),
  };
}

export function sizerFor(policy: RetentionPolicy): BatchSizer {
  return new BatchSizer(
    policy.batchSize,
    policy.minBatchSize,
    policy.maxBatchSize,
    policy.maxBatchDurationMs,
  );
}

export function runDeadline(policy: RetentionPolicy): number {
  return policy.maxRunTimeMs > 0 ? Date.now() + policy.maxRunTimeMs : Number.POSITIVE_INFINITY;
}

/** Checked between batches only: a batch, once started, finishes (or rolls back) whole. */
export function stopBetweenBatches(
  result: PolicyRunResult,
  signal: AbortSignal | undefined,
  deadline: number,
): boolean {
  const stoppedBy = signal?.aborted ? 'signal' : Date.now() >= deadline ? 'max-run-time' : undefined;
  if (!stoppedBy) return false;
  result.outcome = 'partial';
  result.stoppedBy = stoppedBy;
  return true;
}

/**
 * A committed batch: `rows` deleted, `size` asked for, `fetched` rows the batch found (what the
 * sizer learns from: a partial batch says nothing about speed), `ms` from start to commit.
 */
export function recordBatch(
  result: PolicyRunResult,
  sizer: BatchSizer,
  batch: { rows: number; size: number; fetched: number; ms: number },
): void {
  const ms = Math.round(batch.ms * 10) / 10;
  result.rows += batch.rows;
  result.batches += 1;
  result.maxBatchMs = Math.max(result.maxBatchMs, ms);
  result.batchLog?.push({ rows: batch.rows, size: batch.size, ms });
  sizer.record(batch.fetched, batch.size, batch.ms);
}
