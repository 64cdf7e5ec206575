import type { RetentionAction } from './policy.js';

export type PolicyOutcome =
  /** Every eligible row was handled. */
  | 'complete'
  /** maxRunTime reached or interrupted between batches: the next run continues. */
  | 'partial'
  /** Another run holds this policy's lock. */
  | 'skipped-running'
  /** lock_timeout kept firing: the table is busy (e.g. DDL); retry later. */
  | 'retry-later'
  | 'failed';

export interface BatchRecord {
  rows: number;
  /** Rows asked for (the batch size at the time); heap pages for a page walk. */
  size: number;
  ms: number;
}

export interface PolicyRunResult {
  policy: string;
  target: string;
  engine: 'postgres' | 'mongodb';
  relation: string;
  action: RetentionAction;
  outcome: PolicyOutcome;
  /** Rows (documents) deleted; for archive actions, also archived. */
  rows: number;
  batches: number;
  maxBatchMs: number;
  durationMs: number;
  /** Rows settled from a previous, killed archive-storage run (deleted now, archived then). */
  settledRows: number;
  lockRetries: number;
  /** Batches cancelled by the duration bound (rolled back, retried smaller). */
  boundCancels: number;
  /** Milliseconds spent waiting for replicas to catch up. */
  lagWaitMs: number;
  /** ISO timestamp: rows older than this were eligible. */
  cutoff: string | undefined;
  /** PostgreSQL: how the table was walked (ranges of heap pages, or by key along an index). */
  walk?: 'pages' | 'key';
  /** PostgreSQL: the batch session's wal_compression, when the policy set it (and was allowed to). */
  walCompression?: string;
  /** archive-storage: the run's manifest key. */
  manifest?: string;
  stoppedBy?: 'max-run-time' | 'signal';
  message?: string;
  /** Per batch, only when asked for (`--batches`) or in tests. */
  batchLog?: BatchRecord[];
}

export interface RetentionRunResult {
  dryRun: false;
  policies: PolicyRunResult[];
  rows: number;
  durationMs: number;
  /** 0 ok, 1 some policy did not complete (retry-later/failed), 130 interrupted. */
  exitCode: number;
}

export interface PolicyPlan {
  policy: string;
  target: string;
  engine: 'postgres' | 'mongodb';
  relation: string;
  action: RetentionAction;
  eligible: number;
  oldest: string | null;
  newest: string | null;
  cutoff: string | undefined;
  /** Keyset columns the run walks, in order (empty for a page walk). */
  walk: string[];
  /** PostgreSQL: heap page ranges or keyset, and why. */
  walkMode?: 'pages' | 'key';
  walkReason?: string;
  batchSize: number;
  estimatedBatches: number;
  /** Rough: from typical rates on this kind of work, not a measurement of this server. */
  estimatedMs: number;
  /** The statement(s) one batch runs ($n are parameters). */
  statements: string[];
  warnings: string[];
  archiveTarget?: string;
}

export interface RetentionPlanResult {
  dryRun: true;
  policies: PolicyPlan[];
}

export interface PolicyStatus {
  policy: string;
  target: string;
  relation: string;
  olderThan: string | undefined;
  /** Age of the oldest row in seconds (null when the table is empty or the policy has no age). */
  oldestAgeSeconds: number | null;
  oldest: string | null;
  /** Rows past the policy right now. */
  rowsPastPolicy: number;
  violated: boolean;
  reason?: string;
}

export interface RetentionStatusResult {
  policies: PolicyStatus[];
  violated: number;
  exitCode: number;
}
