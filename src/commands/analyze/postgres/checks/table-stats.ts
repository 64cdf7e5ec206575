import { quoteIdent } from '../../../../connections/index.js';
import type { Finding } from '../../types.js';
import type { PgCheck } from '../context.js';
import { num, userSchemaFilter } from '../session.js';

const TABLE_STATS_SQL = (columns: string) => `
select s.schemaname as schema, s.relname as table, ${columns}
  from pg_stat_user_tables s join pg_namespace n on n.nspname = s.schemaname
 where ${userSchemaFilter('n')}`;

// Table size from pg_class.reltuples: n_live_tup is zeroed by pg_stat_reset().
export const SEQ_SCAN_SQL = TABLE_STATS_SQL(
  's.seq_scan::float8 as seq_scan, coalesce(s.idx_scan, 0)::float8 as idx_scan, s.seq_tup_read::float8 as seq_tup_read, greatest((select c.reltuples from pg_class c where c.oid = s.relid), 0)::float8 as live',
);

/** Heavy sequential scanning, summed over the primary and the replicas (reads happen there too). */
export const seqScanCheck: PgCheck = {
  id: 'table.seq-scan',
  async run(ctx) {
    const s = ctx.settings('table.seq-scan');
    const totals = new Map<
      string,
      { schema: string; table: string; seq: number; idx: number; read: number; live: number }
    >();
    for (const node of ctx.nodes) {
      for (const r of await node.query(SEQ_SCAN_SQL, [ctx.excludeSchemas])) {
        const key = `${r.schema}.${r.table}`;
        const t = totals.get(key) ?? { schema: r.schema, table: r.table, seq: 0, idx: 0, read: 0, live: 0 };
        t.seq += num(r.seq_scan);
        t.idx += num(r.idx_scan);
        t.read += num(r.seq_tup_read);
        t.live = Math.max(t.live, num(r.live));
        totals.set(key, t);
      }
    }
    const findings: Finding[] = [];
    for (const [key, t] of totals) {
      const scans = t.seq + t.idx;
      if (scans === 0 || t.live < s.thresholds.minRows!) continue;
      const pct = (100 * t.seq) / scans;
      if (pct <= s.thresholds.maxSeqScanPct!) continue;
      findings.push({
        check: 'table.seq-scan',
        severity: s.severity ?? 'warning',
        object: key,
        value: Math.round(pct * 10) / 10,
        threshold: s.thresholds.maxSeqScanPct!,
        unit: '% seq scans',
        message: `${key} (${t.live.toLocaleString('en-US')} rows): ${t.seq} sequential scans of ${scans} (${pct.toFixed(1)} %), ${t.read.toLocaleString('en-US')} rows read by them`,
        fix: `dbops analyze advise   # finds and proves the missing index on ${key}`,
        evidence: {
          sql: SEQ_SCAN_SQL,
          source: ctx.nodes.map((n) => n.node).join(', '),
          values: { seqScans: t.seq, indexScans: t.idx, seqRowsRead: t.read, liveRows: t.live },
        },
      });
    }
    return { findings };
  },
};

export const DEAD_TUPLES_SQL = TABLE_STATS_SQL(
  's.n_live_tup::float8 as live, s.n_dead_tup::float8 as dead, s.n_mod_since_analyze::float8 as modified, greatest(s.last_vacuum, s.last_autovacuum) as last_vacuum, greatest(s.last_analyze, s.last_autoanalyze) as last_analyze',
);

/** Vacuum statistics exist only on the primary. */
export const deadTuplesCheck: PgCheck = {
  id: 'table.dead-tuples',
  async run(ctx) {
    const s = ctx.settings('table.dead-tuples');
    const rows = await ctx.primary.query(DEAD_TUPLES_SQL, [ctx.excludeSchemas]);
    const findings: Finding[] = [];
    for (const r of rows) {
      const dead = num(r.dead);
      const total = dead + num(r.live);
      const pct = total ? (100 * dead) / total : 0;
      if (dead < s.thresholds.minDeadRows! || pct < s.thresholds.maxDeadPct!) continue;
      findings.push({
        check: 'table.dead-tuples',
        severity: s.severity ?? 'warning',
        object: `${r.schema}.${r.table}`,
        value: Math.round(pct * 10) / 10,
        threshold: s.thresholds.maxDeadPct!,
        unit: '% dead',
        message: `${r.schema}.${r.table}: ${dead.toLocaleString('en-US')} dead rows (${pct.toFixed(1)} %), last vacuum ${r.last_vacuum ? new Date(r.last_vacuum).toISOString() : 'never'}`,
        fix: `VACUUM (ANALYZE) ${quoteIdent(r.schema)}.${quoteIdent(r.table)};`,
        evidence: { sql: DEAD_TUPLES_SQL, source: ctx.primary.node, values: { dead, live: num(r.live) } },
      });
    }
    return { findings };
  },
};

export const staleStatsCheck: PgCheck = {
  id: 'table.stale-stats',
  async run(ctx) {
    const s = ctx.settings('table.stale-stats');
    const rows = await ctx.primary.query(DEAD_TUPLES_SQL, [ctx.excludeSchemas]);
    const findings: Finding[] = [];
    for (const r of rows) {
      const modified = num(r.modified);
      const live = Math.max(num(r.live), 1);
      const pct = (100 * modified) / live;
      if (modified < s.thresholds.minModifiedRows! || pct < s.thresholds.maxModifiedPct!) continue;
      findings.push({
        check: 'table.stale-stats',
        severity: s.severity ?? 'info',
        object: `${r.schema}.${r.table}`,
        value: Math.round(pct * 10) / 10,
        threshold: s.thresholds.maxModifiedPct!,
        unit: '% modified since analyze',
        message: `${r.schema}.${r.table}: ${modified.toLocaleString('en-US')} rows modified since the last ANALYZE (${r.last_analyze ? new Date(r.last_analyze).toISOString() : 'never'})`,
        fix: `ANALYZE ${quoteIdent(r.schema)}.${quoteIdent(r.table)};`,
        evidence: { sql: DEAD_TUPLES_SQL, source: ctx.primary.node, values: { modified, live: num(r.live) } },
      });
    }
    return { findings };
  },
};

export const CACHE_HIT_SQL = `
select (select coalesce(sum(heap_blks_hit), 0)::float8 from pg_statio_user_tables) as table_hit,
       (select coalesce(sum(heap_blks_read), 0)::float8 from pg_statio_user_tables) as table_read,
       (select coalesce(sum(idx_blks_hit), 0)::float8 from pg_statio_user_indexes) as index_hit,
       (select coalesce(sum(idx_blks_read), 0)::float8 from pg_statio_user_indexes) as index_read`;

/** Per node: each server has its own buffer cache. */
export const cacheHitCheck: PgCheck = {
  id: 'cache.hit-rate',
  async run(ctx) {
    const s = ctx.settings('cache.hit-rate');
    const findings: Finding[] = [];
    for (const node of ctx.nodes) {
      const [r] = await node.query(CACHE_HIT_SQL);
      for (const kind of ['table', 'index'] as const) {
        const hit = num(r?.[`${kind}_hit`]);
        const read = num(r?.[`${kind}_read`]);
        if (hit + read < s.thresholds.minBlocks!) continue;
        const pct = (100 * hit) / (hit + read);
        if (pct >= s.thresholds.minHitPct!) continue;
        findings.push({
          check: 'cache.hit-rate',
          severity: s.severity ?? 'info',
          object: `${node.role === 'primary' ? 'primary' : node.node}:${kind}s`,
          value: Math.round(pct * 100) / 100,
          threshold: s.thresholds.minHitPct!,
          unit: '% hit',
          message: `${kind} cache hit rate ${pct.toFixed(2)} % on ${node.node} over ${(hit + read).toLocaleString('en-US')} blocks`,
          fix: 'raise shared_buffers (and memory), or shrink the working set',
          evidence: { sql: CACHE_HIT_SQL, source: node.node, values: { hit, read } },
        });
      }
    }
    return { findings };
  },
};
