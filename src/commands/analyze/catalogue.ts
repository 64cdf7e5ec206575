import { analyzeThresholdDefaults, type AnalyzeCheckId } from '../../config/sections/analyze.js';
import type { CheckGroup, Severity } from './types.js';

/**
 * The one catalogue of check ids, shared by PostgreSQL and MongoDB. The SARIF rule id and the
 * JUnit test name are these ids; docs/analyze.md renders this table.
 */
export interface CheckInfo {
  id: AnalyzeCheckId;
  group: CheckGroup;
  engines: ('postgres' | 'mongodb')[];
  /** Severity when the check has no graded thresholds. */
  severity: Severity;
  title: string;
  rationale: string;
  /** The default threshold in words. */
  threshold: string;
  fix: string;
  /** D catalogue (deterministic), S usage stats (needs a window), P plan, L live. */
  kind: 'D' | 'S' | 'P' | 'L';
  /** For the baseline's "got worse": does a higher value mean worse? */
  worseWhen: 'higher' | 'lower' | 'never';
}

const c = (info: Omit<CheckInfo, 'engines'> & { engines?: CheckInfo['engines'] }): CheckInfo => ({
  engines: ['postgres'],
  ...info,
});

export const catalogue: Record<AnalyzeCheckId, CheckInfo> = {
  'index.invalid': c({
    id: 'index.invalid',
    group: 'indexes',
    severity: 'error',
    title: 'Invalid index',
    rationale:
      'A failed CREATE INDEX CONCURRENTLY leaves an invalid index: never used by queries, still updated on every write.',
    threshold: 'any',
    fix: 'DROP INDEX CONCURRENTLY the index, then create it again.',
    kind: 'D',
    worseWhen: 'never',
  }),
  'index.redundant': c({
    id: 'index.redundant',
    group: 'indexes',
    engines: ['postgres', 'mongodb'],
    severity: 'warning',
    title: 'Duplicate or prefix-covered index',
    rationale:
      'An index whose keys are identical to, or a leading prefix of, another index on the same table (same method, operator classes, predicate and expressions) is served by the other one; it only costs writes and space. Unique and primary-key indexes are never reported redundant to a non-unique one.',
    threshold: 'any',
    fix: 'DROP INDEX CONCURRENTLY the covered index (prove it first with `dbops analyze advise`).',
    kind: 'D',
    worseWhen: 'never',
  }),
  'index.unused': c({
    id: 'index.unused',
    group: 'indexes',
    engines: ['postgres', 'mongodb'],
    severity: 'warning',
    title: 'Unused index',
    rationale:
      'No scans since the statistics were reset, summed over the primary and every replica. Refused when the observation window is shorter than --min-window; unique, primary-key, constraint- and foreign-key-backing (and MongoDB _id_/TTL) indexes are never reported.',
    threshold: '≤ 0 scans on all nodes, size ≥ 10 MiB, window ≥ 14 d',
    fix: 'DROP INDEX CONCURRENTLY the index.',
    kind: 'S',
    worseWhen: 'never',
  }),
  'index.bloat': c({
    id: 'index.bloat',
    group: 'indexes',
    severity: 'warning',
    title: 'Bloated B-tree index (estimate)',
    rationale:
      'Estimated from pg_class.relpages against the size expected from pg_stats (ioguix estimate); needs fresh ANALYZE.',
    threshold: 'bloat ≥ 50 % and ≥ 100 MiB wasted',
    fix: 'REINDEX INDEX CONCURRENTLY the index.',
    kind: 'S',
    worseWhen: 'higher',
  }),
  'fk.missing-index': c({
    id: 'fk.missing-index',
    group: 'indexes',
    severity: 'warning',
    title: 'Foreign key without a supporting index',
    rationale:
      'Deleting or updating a referenced row scans the referencing table when no index starts with the foreign-key columns; joins on the key also lack an index.',
    threshold: 'any',
    fix: 'CREATE INDEX CONCURRENTLY on the foreign-key columns.',
    kind: 'D',
    worseWhen: 'never',
  }),
  'table.no-primary-key': c({
    id: 'table.no-primary-key',
    group: 'tables',
    severity: 'warning',
    title: 'Table without a primary key',
    rationale:
      'Rows cannot be addressed reliably; logical replication cannot replicate UPDATE/DELETE without a replica identity.',
    threshold: 'any',
    fix: 'ALTER TABLE … ADD PRIMARY KEY (build a unique index CONCURRENTLY first, then ADD PRIMARY KEY USING INDEX).',
    kind: 'D',
    worseWhen: 'never',
  }),
  'table.seq-scan': c({
    id: 'table.seq-scan',
    group: 'tables',
    severity: 'warning',
    title: 'Heavy sequential scanning of a large table',
    rationale:
      'Most scans of a large table read it whole: a missing index (PgHero: index used < 95 % of the time on ≥ 10k rows).',
    threshold: 'seq scans > 5 % of scans on tables ≥ 10,000 rows',
    fix: 'Find the queries with `dbops analyze advise` and add the index it proves.',
    kind: 'S',
    worseWhen: 'higher',
  }),
  'table.dead-tuples': c({
    id: 'table.dead-tuples',
    group: 'tables',
    severity: 'warning',
    title: 'Many dead tuples',
    rationale: 'Autovacuum is not keeping up: dead rows slow scans and bloat the table.',
    threshold: 'dead ≥ 20 % of rows and ≥ 10,000 dead rows',
    fix: 'VACUUM (ANALYZE) the table; tune autovacuum_vacuum_scale_factor for it.',
    kind: 'S',
    worseWhen: 'higher',
  }),
  'table.stale-stats': c({
    id: 'table.stale-stats',
    group: 'tables',
    severity: 'info',
    title: 'Statistics are stale',
    rationale: 'Many rows changed since the last ANALYZE: the planner estimates from old numbers.',
    threshold: 'modified since analyze ≥ 20 % of rows and ≥ 10,000 rows',
    fix: 'ANALYZE the table; lower autovacuum_analyze_scale_factor for it.',
    kind: 'S',
    worseWhen: 'higher',
  }),
  'table.bloat': c({
    id: 'table.bloat',
    group: 'tables',
    severity: 'warning',
    title: 'Bloated table (estimate)',
    rationale: 'Estimated from relpages against the size expected from pg_stats widths; needs fresh ANALYZE.',
    threshold: 'bloat ≥ 50 % and ≥ 100 MiB wasted',
    fix: 'pg_repack the table, or VACUUM FULL in a maintenance window.',
    kind: 'S',
    worseWhen: 'higher',
  }),
  'cache.hit-rate': c({
    id: 'cache.hit-rate',
    group: 'tables',
    severity: 'info',
    title: 'Low cache hit rate',
    rationale: 'Share of table and index blocks found in shared buffers since the stats reset.',
    threshold: '< 99 % over ≥ 100,000 blocks',
    fix: 'Raise shared_buffers or memory, or reduce the working set (indexes, partitioning).',
    kind: 'S',
    worseWhen: 'lower',
  }),
  'constraint.not-valid': c({
    id: 'constraint.not-valid',
    group: 'tables',
    severity: 'warning',
    title: 'Constraint left NOT VALID',
    rationale: 'A migration added a constraint NOT VALID and never validated it: old rows are unchecked.',
    threshold: 'any',
    fix: 'ALTER TABLE … VALIDATE CONSTRAINT …',
    kind: 'D',
    worseWhen: 'never',
  }),
  'seq.overflow': c({
    id: 'seq.overflow',
    group: 'tables',
    severity: 'warning',
    title: 'Sequence or integer key near overflow',
    rationale:
      'A sequence close to its own maximum, or feeding a column whose type (smallint, integer) ends sooner than the sequence (PgHero and pg-index-health combined).',
    threshold: '≥ 75 % used (warning), ≥ 90 % (error)',
    fix: 'ALTER TABLE … ALTER COLUMN … TYPE bigint (and ALTER SEQUENCE … AS bigint).',
    kind: 'D',
    worseWhen: 'higher',
  }),
  'txid.wraparound': c({
    id: 'txid.wraparound',
    group: 'tables',
    severity: 'warning',
    title: 'Transaction-ID wraparound',
    rationale:
      'Age of the oldest unfrozen XID / MultiXact against 2^31; at the limit PostgreSQL stops accepting writes.',
    threshold: '≥ 50 % (warning), ≥ 80 % (error)',
    fix: 'VACUUM (FREEZE) the oldest tables; end long transactions and stale replication slots holding xmin.',
    kind: 'L',
    worseWhen: 'higher',
  }),
  'query.slow': c({
    id: 'query.slow',
    group: 'queries',
    engines: ['postgres', 'mongodb'],
    severity: 'info',
    title: 'Slow query',
    rationale:
      'From pg_stat_statements (or the MongoDB profiler): mean time and calls since the stats reset.',
    threshold: 'mean ≥ 20 ms and calls ≥ 100',
    fix: 'EXPLAIN it (`dbops analyze explain`) and prove an index with `dbops analyze advise`.',
    kind: 'S',
    worseWhen: 'higher',
  }),
  'activity.long-running': c({
    id: 'activity.long-running',
    group: 'activity',
    engines: ['postgres', 'mongodb'],
    severity: 'warning',
    title: 'Long-running query',
    rationale:
      'A statement running for long holds locks and the xmin horizon (vacuum cannot clean behind it).',
    threshold: '≥ 60 s',
    fix: 'Investigate; SELECT pg_cancel_backend(pid) (MongoDB: db.killOp(opid)).',
    kind: 'L',
    worseWhen: 'higher',
  }),
  'activity.idle-in-transaction': c({
    id: 'activity.idle-in-transaction',
    group: 'activity',
    severity: 'warning',
    title: 'Idle in transaction',
    rationale: 'An open transaction doing nothing holds locks and blocks vacuum.',
    threshold: '≥ 1800 s',
    fix: 'Fix the client; set idle_in_transaction_session_timeout; SELECT pg_terminate_backend(pid).',
    kind: 'L',
    worseWhen: 'higher',
  }),
  'locks.blocked': c({
    id: 'locks.blocked',
    group: 'locks',
    severity: 'warning',
    title: 'Blocked session',
    rationale:
      'A session waits for a lock held by another (pg_blocking_pids covers every heavyweight lock type).',
    threshold: 'waiting ≥ 5 s',
    fix: 'End or fix the blocking session (shown with its query); use lock_timeout in migrations.',
    kind: 'L',
    worseWhen: 'never',
  }),
  'connections.usage': c({
    id: 'connections.usage',
    group: 'activity',
    severity: 'warning',
    title: 'Connections near max_connections',
    rationale: 'Share of max_connections (minus superuser-reserved slots) in use.',
    threshold: '≥ 80 % (warning), ≥ 95 % (error)',
    fix: 'Use a pooler (PgBouncer) or raise max_connections.',
    kind: 'L',
    worseWhen: 'higher',
  }),
  'replication.lag': c({
    id: 'replication.lag',
    group: 'replication',
    severity: 'warning',
    title: 'Replica lag',
    rationale: 'A replica replays WAL late: reads are stale and failover loses time.',
    threshold: '≥ 30 s (warning), ≥ 300 s (error)',
    fix: 'Check the replica’s I/O and network; look for long queries on it (hot_standby_feedback).',
    kind: 'L',
    worseWhen: 'higher',
  }),
  'replication.inactive-slot': c({
    id: 'replication.inactive-slot',
    group: 'replication',
    severity: 'warning',
    title: 'Inactive replication slot',
    rationale: 'An inactive slot retains WAL (disk fills up) and may hold back xmin.',
    threshold: 'any',
    fix: "SELECT pg_drop_replication_slot('name') when the consumer is gone.",
    kind: 'L',
    worseWhen: 'never',
  }),
  'replication.replica-unreachable': c({
    id: 'replication.replica-unreachable',
    group: 'replication',
    severity: 'warning',
    title: 'Configured replica unreachable',
    rationale: 'A replica in the config cannot be read: usage-based verdicts are refused without it.',
    threshold: 'any',
    fix: 'Check the replica URL and the server.',
    kind: 'L',
    worseWhen: 'never',
  }),
  'config.risky-setting': c({
    id: 'config.risky-setting',
    group: 'config',
    severity: 'warning',
    title: 'Risky server setting',
    rationale:
      'fsync or full_page_writes off risk corruption; archive_mode off breaks point-in-time recovery when WAL archiving is configured.',
    threshold:
      'fsync=off, full_page_writes=off (error); archive_mode=off with a wal: section, synchronous_commit=off (warning)',
    fix: 'ALTER SYSTEM SET … and reload/restart.',
    kind: 'D',
    worseWhen: 'never',
  }),
  'collection.index-size': c({
    id: 'collection.index-size',
    group: 'indexes',
    engines: ['mongodb'],
    severity: 'info',
    title: 'Indexes larger than the data',
    rationale:
      'From collStats: total index size above the data size usually means redundant or oversized indexes.',
    threshold: 'index size > 100 % of data size on collections ≥ 100 MiB',
    fix: 'Review the collection’s indexes (index.unused, index.redundant).',
    kind: 'S',
    worseWhen: 'higher',
  }),
  'index.missing': c({
    id: 'index.missing',
    group: 'plans',
    severity: 'warning',
    title: 'Missing index (proven with HypoPG)',
    rationale:
      "From `dbops analyze advise`: a hypothetical index (HypoPG) on columns of a query's filters, joins or sort cuts its estimated cost by at least analyze.advise.minCostSavingPct; the before/after costs are the proof. Without HypoPG candidates are listed as unproven.",
    threshold: 'cost saving ≥ 50 %',
    fix: 'CREATE INDEX CONCURRENTLY as printed.',
    kind: 'P',
    worseWhen: 'never',
  }),
  'plan.seq-scan': c({
    id: 'plan.seq-scan',
    group: 'plans',
    engines: ['postgres', 'mongodb'],
    severity: 'error',
    title: 'Sequential scan / COLLSCAN on a large table',
    rationale: 'The plan reads a whole large table (MongoDB: a COLLSCAN winning plan).',
    threshold: 'table ≥ 10,000 rows (pg_class.reltuples / collection count)',
    fix: 'Add the index `dbops analyze advise` proves.',
    kind: 'P',
    worseWhen: 'never',
  }),
  'plan.cost-budget': c({
    id: 'plan.cost-budget',
    group: 'plans',
    severity: 'error',
    title: 'Plan cost above budget',
    rationale:
      "The root node's total cost exceeds the query's budget (header `-- max-cost:` or explain.maxCost).",
    threshold: 'the budget (none by default)',
    fix: 'Rewrite the query or add an index; or raise the budget knowingly.',
    kind: 'P',
    worseWhen: 'higher',
  }),
  'plan.misestimate': c({
    id: 'plan.misestimate',
    group: 'plans',
    severity: 'warning',
    title: 'Row mis-estimate (ANALYZE mode)',
    rationale:
      'Estimated and actual rows differ by a large factor: the planner chooses on wrong numbers (pev2 steps 10×/100×).',
    threshold: 'factor ≥ 10 (warning), ≥ 100 (error), nodes ≥ 1,000 rows',
    fix: 'ANALYZE; raise the statistics target; CREATE STATISTICS for correlated columns.',
    kind: 'P',
    worseWhen: 'higher',
  }),
  'plan.spill': c({
    id: 'plan.spill',
    group: 'plans',
    severity: 'warning',
    title: 'Sort or hash spilled to disk',
    rationale:
      'Sort Space Type Disk, Hash Batches > 1 or lossy bitmap blocks: work_mem is too small for this query.',
    threshold: 'any spill (ANALYZE mode)',
    fix: 'Raise work_mem for this query, or reduce the rows sorted/hashed.',
    kind: 'P',
    worseWhen: 'never',
  }),
  'plan.in-memory-sort': c({
    id: 'plan.in-memory-sort',
    group: 'plans',
    engines: ['mongodb'],
    severity: 'warning',
    title: 'Blocking in-memory SORT stage',
    rationale:
      'No index supplies the order: MongoDB sorts in memory (100 MB limit, or spills with allowDiskUse).',
    threshold: 'SORT stage on ≥ 1,000 documents',
    fix: 'Add an index whose keys follow equality, sort, range order.',
    kind: 'P',
    worseWhen: 'never',
  }),
  'plan.nested-loop': c({
    id: 'plan.nested-loop',
    group: 'plans',
    severity: 'warning',
    title: 'Nested loop with a large outer side',
    rationale:
      'The inner side runs once per outer row: with many outer rows a hash or merge join is usually cheaper.',
    threshold: 'outer rows ≥ 1,000',
    fix: 'Index the inner join key, or fix the outer estimate (ANALYZE).',
    kind: 'P',
    worseWhen: 'higher',
  }),
  'plan.scan-efficiency': c({
    id: 'plan.scan-efficiency',
    group: 'plans',
    engines: ['postgres', 'mongodb'],
    severity: 'warning',
    title: 'Filter discards most rows read',
    rationale:
      'Rows Removed by Filter ≥ 90 % of rows read (pev2), or MongoDB docsExamined ÷ nReturned above 1000 (Atlas query targeting).',
    threshold: 'removed ≥ 90 % of ≥ 10,000 rows; docs examined ÷ returned > 1000',
    fix: 'A partial or multicolumn index matching the filter.',
    kind: 'P',
    worseWhen: 'higher',
  }),
  'plan.buffers': c({
    id: 'plan.buffers',
    group: 'plans',
    severity: 'warning',
    title: 'Shared buffers above budget',
    rationale: 'Shared blocks hit + read by the query (ANALYZE mode) exceed its budget.',
    threshold: 'the budget (header `-- max-buffers:` or explain.maxSharedBuffers; none by default)',
    fix: 'Read fewer pages: index, narrower rows, covering index.',
    kind: 'P',
    worseWhen: 'higher',
  }),
  'plan.cost-regression': c({
    id: 'plan.cost-regression',
    group: 'plans',
    severity: 'error',
    title: 'Plan cost grew against the baseline',
    rationale:
      'Regression mode: the total cost grew more than the allowed percentage since the stored plan baseline.',
    threshold: '> 20 % growth',
    fix: 'Find the schema change that caused it (dropped index, changed type); or re-record the baseline knowingly.',
    kind: 'P',
    worseWhen: 'higher',
  }),
  'plan.shape-change': c({
    id: 'plan.shape-change',
    group: 'plans',
    severity: 'error',
    title: 'Plan node changed kind against the baseline',
    rationale: 'Regression mode: a relation is now read differently (e.g. Index Scan → Seq Scan).',
    threshold: 'any change of scan kind or index on a relation',
    fix: 'Restore the index the old plan used, or re-record the baseline knowingly.',
    kind: 'P',
    worseWhen: 'never',
  }),
};

export const groups: Record<CheckGroup, AnalyzeCheckId[]> = {
  indexes: [],
  tables: [],
  queries: [],
  activity: [],
  locks: [],
  config: [],
  replication: [],
  plans: [],
};
for (const info of Object.values(catalogue)) groups[info.group].push(info.id);

export function defaultThresholds(id: AnalyzeCheckId): Record<string, number> {
  return analyzeThresholdDefaults[id];
}

export const DOCS_URL = 'https://github.com/dbops/dbops/blob/main/docs/analyze.md';
export function helpUri(id: AnalyzeCheckId): string {
  return `${DOCS_URL}#${id.replace(/\./g, '')}`;
}
