import { createHash } from 'node:crypto';

import type { Finding } from '../../types.js';
import type { PgCheck } from '../context.js';
import { num } from '../session.js';

export const HAS_PG_STAT_STATEMENTS_SQL = `select to_regclass('pg_stat_statements') is not null as present`;

/** PostgreSQL 13+ column names (total_exec_time, mean_exec_time). */
export const SLOW_QUERIES_SQL = `
select queryid::text as queryid, query, calls::float8 as calls, total_exec_time::float8 as total_ms,
       rows::float8 as rows, shared_blks_hit::float8 as hit, shared_blks_read::float8 as read
  from pg_stat_statements
 where dbid = (select oid from pg_database where datname = current_database()) and toplevel
 order by total_exec_time desc
 limit 500`;

/** A hash of the normalized text: stable when queryid is not (another major version). */
export function queryHash(query: string): string {
  return createHash('sha256')
    .update(query.replace(/\s+/g, ' ').trim().toLowerCase())
    .digest('hex')
    .slice(0, 16);
}

export const slowQueriesCheck: PgCheck = {
  id: 'query.slow',
  async run(ctx) {
    const s = ctx.settings('query.slow');
    const [probe] = await ctx.primary.query(HAS_PG_STAT_STATEMENTS_SQL);
    if (!probe?.present) {
      return {
        findings: [],
        skipped: {
          note: 'pg_stat_statements is not installed in this database',
          hint: 'add pg_stat_statements to shared_preload_libraries (restart), then CREATE EXTENSION pg_stat_statements;',
        },
      };
    }
    const totals = new Map<
      string,
      { query: string; calls: number; total: number; rows: number; hit: number; read: number }
    >();
    for (const node of ctx.nodes) {
      let rows;
      try {
        rows = await node.query(SLOW_QUERIES_SQL);
      } catch {
        continue; // the extension view may be missing on a replica's preload list; the primary still counts
      }
      for (const r of rows) {
        const t = totals.get(r.queryid) ?? { query: r.query, calls: 0, total: 0, rows: 0, hit: 0, read: 0 };
        t.calls += num(r.calls);
        t.total += num(r.total_ms);
        t.rows += num(r.rows);
        t.hit += num(r.hit);
        t.read += num(r.read);
        totals.set(r.queryid, t);
      }
    }
    const findings: Finding[] = [];
    for (const [queryid, t] of totals) {
      const mean = t.calls ? t.total / t.calls : 0;
      if (t.calls < s.thresholds.minCalls! || mean < s.thresholds.minMeanMs!) continue;
      const hitPct = t.hit + t.read ? (100 * t.hit) / (t.hit + t.read) : 100;
      findings.push({
        check: 'query.slow',
        severity: s.severity ?? 'info',
        object: `query:${queryid}`,
        value: Math.round(mean * 100) / 100,
        threshold: s.thresholds.minMeanMs!,
        unit: 'ms mean',
        message: `mean ${mean.toFixed(1)} ms × ${t.calls} calls = ${(t.total / 1000).toFixed(1)} s total, ${t.rows} rows, ${hitPct.toFixed(1)} % cache hit: ${t.query.replace(/\s+/g, ' ').slice(0, 200)}`,
        fix: 'dbops analyze explain / dbops analyze advise on this query',
        evidence: {
          sql: SLOW_QUERIES_SQL,
          source: ctx.nodes.map((n) => n.node).join(', '),
          values: {
            queryid,
            queryHash: queryHash(t.query),
            query: t.query,
            calls: t.calls,
            totalMs: t.total,
            meanMs: mean,
            rows: t.rows,
            hitPct,
          },
        },
      });
    }
    return { findings };
  },
};
