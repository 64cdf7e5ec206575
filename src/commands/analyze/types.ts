import type { AnalyzeCheckId } from '../../config/sections/analyze.js';

export type Severity = 'info' | 'warning' | 'error';
export const severityRank: Record<Severity, number> = { info: 1, warning: 2, error: 3 };

export type CheckGroup =
  'indexes' | 'tables' | 'queries' | 'activity' | 'locks' | 'config' | 'replication' | 'plans';

/** The numbers behind a finding and the statement that produced them. */
export interface Evidence {
  /** The catalogue query (or EXPLAIN) that produced the numbers. */
  sql?: string;
  /** Where it was read: primary, a replica, or each node for usage checks. */
  source?: string;
  values?: Record<string, unknown>;
}

export interface Finding {
  check: AnalyzeCheckId;
  severity: Severity;
  /** Stable identity of the object: schema.table.index, schema.table, constraint, queryid, pid … */
  object: string;
  /** The measured value compared with the threshold (a number, or a short text). */
  value?: number | string;
  threshold?: number | string;
  unit?: string;
  message: string;
  /** SQL (or a command) that fixes it, when one exists. */
  fix?: string;
  evidence?: Evidence;
  /** Set by the gate: how this finding compares to the baseline. */
  baseline?: 'new' | 'known' | 'worse';
}

export interface SuppressedFinding extends Finding {
  reason: string;
  by: 'allow-list' | 'baseline';
}

export type CheckStatus = 'ok' | 'findings' | 'skipped' | 'error';

export interface CheckRun {
  check: AnalyzeCheckId;
  status: CheckStatus;
  findings: number;
  /** Why a check was skipped or failed (missing extension, window too short, permission). */
  note?: string;
  hint?: string;
}

export interface ObservationWindow {
  /** Where the numbers were read. */
  node: string;
  role: 'primary' | 'replica';
  statsReset: string | null;
  days: number | null;
}

export interface GateVerdict {
  failOn: Severity;
  failed: boolean;
  /** Findings at or above failOn that count against the gate (new or worse). */
  failing: number;
  newFindings: number;
  worseFindings: number;
  knownFindings: number;
  /** Baseline entries whose expiry passed (they no longer silence anything). */
  expiredBaselineEntries: number;
  exitCode: 0 | 1;
}

export interface AnalyzeReport {
  kind: 'analyze';
  engine: 'postgres' | 'mongodb';
  target: string;
  where: string;
  startedAt: string;
  durationMs: number;
  /** Every statement sent to the servers, setup included (no per-table round trips). */
  queriesSent: number;
  window: ObservationWindow[];
  minWindowDays: number;
  checks: CheckRun[];
  findings: Finding[];
  suppressed: SuppressedFinding[];
  verdict: GateVerdict;
}
