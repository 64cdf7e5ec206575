import type { Config } from '../../config/schema.js';
import type { RetentionPolicyConfig, RetentionSettings } from '../../config/sections/retention.js';
import { ConfigError } from '../../errors.js';
import { ageToIsoInterval, parseAge, parseDuration, type Age } from '../../config/duration.js';

export type RetentionAction = 'delete' | 'archive-table' | 'archive-storage';

/** Throttling, with every default filled in and durations in milliseconds. */
export interface PolicyLimits {
  batchSize: number;
  minBatchSize: number;
  maxBatchSize: number;
  maxBatchDurationMs: number;
  pauseMs: number;
  /** 0 = do not watch replicas. */
  maxReplicaLagMs: number;
  /** 0 = no limit. */
  maxRunTimeMs: number;
  lockTimeoutMs: number;
  statementTimeoutMs: number;
  lockRetries: number;
  synchronousCommit: boolean;
  /** The batch session's wal_compression; undefined = the server's setting. */
  walCompression: string | undefined;
}

/** A policy from the config, validated and with defaults applied: what the engines work from. */
export interface RetentionPolicy extends PolicyLimits {
  name: string;
  /** Target name from the config, or undefined for the command's target. */
  target: string | undefined;
  engine: 'postgres' | 'mongodb';
  /** Table (PostgreSQL) or collection (MongoDB) as written in the config. */
  relation: string;
  ageColumn: string | undefined;
  olderThan: Age | undefined;
  /** The age as written (`7y`) and as an ISO 8601 interval (`P7Y`). */
  olderThanText: string | undefined;
  olderThanInterval: string | undefined;
  where: string | undefined;
  filter: Record<string, unknown> | undefined;
  key: string[] | undefined;
  walk: 'auto' | 'key' | 'pages';
  action: RetentionAction;
  archiveTable: string | undefined;
  repository: string | undefined;
}

/**
 * Defaults from the research behind issue 7: batches of ~1k–10k rows are 100× faster than tiny
 * commits, and a 500 ms bound keeps row locks and WAL bursts short; never fewer than 10 rows a
 * batch (1-row batches run at ~1.8k rows/s, commit-bound).
 */
export const DEFAULT_LIMITS: PolicyLimits = {
  batchSize: 1000,
  minBatchSize: 10,
  maxBatchSize: 50_000,
  maxBatchDurationMs: 500,
  pauseMs: 0,
  maxReplicaLagMs: 30_000,
  maxRunTimeMs: 0,
  lockTimeoutMs: 2000,
  statementTimeoutMs: 60_000,
  lockRetries: 5,
  synchronousCommit: false,
  walCompression: undefined,
};

function limitsOf(...layers: (RetentionSettings | undefined)[]): PolicyLimits {
  const merged: RetentionSettings = Object.assign({}, ...layers.filter(Boolean));
  const ms = (v: string | number | undefined, d: number) => (v === undefined ? d : parseDuration(v));
  const minBatchSize = merged.minBatchSize ?? DEFAULT_LIMITS.minBatchSize;
  const maxBatchSize = merged.maxBatchSize ?? Math.max(DEFAULT_LIMITS.maxBatchSize, merged.batchSize ?? 0);
  return {
    batchSize: Math.min(Math.max(merged.batchSize ?? DEFAULT_LIMITS.batchSize, minBatchSize), maxBatchSize),
    minBatchSize,
    maxBatchSize,
    maxBatchDurationMs: ms(merged.maxBatchDuration, DEFAULT_LIMITS.maxBatchDurationMs),
    pauseMs: ms(merged.pause, DEFAULT_LIMITS.pauseMs),
    maxReplicaLagMs: ms(merged.maxReplicaLag, DEFAULT_LIMITS.maxReplicaLagMs),
    maxRunTimeMs: ms(merged.maxRunTime, DEFAULT_LIMITS.maxRunTimeMs),
    lockTimeoutMs: ms(merged.lockTimeout, DEFAULT_LIMITS.lockTimeoutMs),
    statementTimeoutMs: ms(merged.statementTimeout, DEFAULT_LIMITS.statementTimeoutMs),
    lockRetries: merged.lockRetries ?? DEFAULT_LIMITS.lockRetries,
    synchronousCommit: merged.synchronousCommit ?? DEFAULT_LIMITS.synchronousCommit,
    walCompression: merged.walCompression ?? DEFAULT_LIMITS.walCompression,
  };
}

export function resolvePolicy(
  name: string,
  p: Omit<RetentionPolicyConfig, 'walk'> & { walk?: RetentionPolicyConfig['walk'] },
  defaults: RetentionSettings | undefined,
): RetentionPolicy {
  const olderThan = p.olderThan ? parseAge(p.olderThan) : undefined;
  return {
    name,
    target: p.target,
    engine: p.collection ? 'mongodb' : 'postgres',
    relation: (p.table ?? p.collection)!,
    ageColumn: p.ageColumn,
    olderThan,
    olderThanText: p.olderThan,
    olderThanInterval: olderThan ? ageToIsoInterval(olderThan) : undefined,
    where: p.where,
    filter: p.filter,
    key: p.key,
    walk: p.walk ?? 'auto',
    action: p.action,
    archiveTable: p.archiveTable,
    repository: p.repository,
    ...limitsOf(defaults, p),
  };
}

/** The named policies (all when none are named), in config order; an unknown name is exit 2. */
export function selectPolicies(config: Config, names: string[]): RetentionPolicy[] {
  const section = config.retention;
  const all = Object.entries(section?.policies ?? {});
  if (all.length === 0) {
    throw new ConfigError('no retention policies are configured', {
      hint: 'add a retention: policies: section to the config (see docs/retention.md)',
    });
  }
  const unknown = names.filter((n) => !all.some(([name]) => name === n));
  if (unknown.length > 0) {
    throw new ConfigError(
      `unknown retention ${unknown.length === 1 ? 'policy' : 'policies'}: ${unknown.join(', ')}`,
      {
        hint: `configured policies: ${all.map(([n]) => n).join(', ')}`,
      },
    );
  }
  return all
    .filter(([name]) => names.length === 0 || names.includes(name))
    .map(([name, p]) => resolvePolicy(name, p, section?.defaults));
}
