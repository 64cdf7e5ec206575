import type { AnalyzeCheckId, AnalyzeConfig } from '../../../config/sections/analyze.js';
import type { CheckSettings } from '../settings.js';
import type { Finding, ObservationWindow } from '../types.js';
import type { SqlRunner } from './session.js';

/** What a PostgreSQL check gets: where to read, its thresholds, and the run's settings. */
export interface PgCheckContext {
  /** Catalogue reads: a healthy replica when configured, else the primary. */
  reader: SqlRunner;
  /** The primary (vacuum stats, live activity, settings). */
  primary: SqlRunner;
  /** Usage statistics: the primary and every reachable replica. */
  nodes: SqlRunner[];
  unreachableReplicas: { where: string; error: string }[];
  replicaHealth: { where: string; ok: boolean; lagSeconds?: number | null; error?: string }[];
  windows: ObservationWindow[];
  minWindowSeconds: number;
  excludeSchemas: string[];
  /** A `wal:` section exists, so archive_mode=off is a finding. */
  expectsWalArchiving: boolean;
  config: AnalyzeConfig;
  /** Results shared between checks that read the same snapshot (activity, locks). */
  memo: Map<string, Promise<unknown>>;
  settings(id: AnalyzeCheckId): CheckSettings;
}

export interface CheckOutcome {
  findings: Finding[];
  /** Set when the check could not give a verdict (window too short, extension missing). */
  skipped?: { note: string; hint?: string };
}

export interface PgCheck {
  id: AnalyzeCheckId;
  run(ctx: PgCheckContext): Promise<CheckOutcome>;
}
