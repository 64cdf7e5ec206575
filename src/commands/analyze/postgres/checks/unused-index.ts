import type { Finding } from '../../types.js';
import type { PgCheck } from '../context.js';
import { userSchemaFilter } from '../session.js';
import { dropIndexSql } from './index-catalogue.js';

/**
 * Scans per index, with what makes an index exempt: unique, primary key, backing any constraint,
 * or starting with the columns of a foreign key (pg-index-health #467: FK-backing indexes
 * serve the cascades and lock checks that statistics do not show as scans).
 */
export const UNUSED_INDEX_SQL = `
select n.nspname as schema, t.relname as table, i.relname as index, s.idx_scan::float8 as scans,
       pg_relation_size(x.indexrelid)::float8 as size, x.indisunique as unique, x.indisprimary as primary,
       exists (select 1 from pg_constraint c where c.conindid = x.indexrelid) as backs_constraint,
       exists (select 1 from pg_constraint c
                where c.contype = 'f' and c.conrelid = x.indrelid
                  and (select array_agg(k.attnum order by k.attnum)
                         from unnest(x.indkey::int2[]) with ordinality k(attnum, ord)
                        where k.ord <= cardinality(c.conkey))
                      = (select array_agg(a order by a) from unnest(c.conkey) a)) as backs_foreign_key,
       pg_get_indexdef(x.indexrelid) as definition
  from pg_stat_user_indexes s
  join pg_index x on x.indexrelid = s.indexrelid
  join pg_class i on i.oid = x.indexrelid
  join pg_class t on t.oid = x.indrelid
  join pg_namespace n on n.oid = t.relnamespace
 where x.indisvalid and ${userSchemaFilter('n')}`;

interface Row {
  schema: string;
  table: string;
  index: string;
  scans: number;
  size: number;
  unique: boolean;
  primary: boolean;
  backs_constraint: boolean;
  backs_foreign_key: boolean;
  definition: string;
}

function days(seconds: number): string {
  return `${(seconds / 86400).toFixed(1)} d`;
}

export const unusedIndexCheck: PgCheck = {
  id: 'index.unused',
  async run(ctx) {
    const t = ctx.settings('index.unused').thresholds;
    if (ctx.unreachableReplicas.length > 0) {
      return {
        findings: [],
        skipped: {
          note: `replica(s) ${ctx.unreachableReplicas.map((r) => r.where).join(', ')} unreachable: an index unused on the primary may serve reads there`,
          hint: 'fix the replica connection, or remove it from the target config',
        },
      };
    }
    const shortest = Math.min(...ctx.windows.map((w) => w.days ?? 0));
    if (shortest * 86400 < ctx.minWindowSeconds) {
      return {
        findings: [],
        skipped: {
          note: `observation window ${days(shortest * 86400)} is shorter than --min-window ${days(ctx.minWindowSeconds)}: no "unused" verdict`,
          hint: 'wait until statistics cover a full business cycle, or pass --min-window 0 on a test database',
        },
      };
    }
    const scans = new Map<string, { row: Row; perNode: Record<string, number> }>();
    for (const node of ctx.nodes) {
      for (const r of await node.query<Row>(UNUSED_INDEX_SQL, [ctx.excludeSchemas])) {
        const key = `${r.schema}.${r.table}.${r.index}`;
        const entry = scans.get(key) ?? { row: { ...r, scans: 0 }, perNode: {} };
        entry.row.scans += Number(r.scans);
        entry.perNode[node.node] = Number(r.scans);
        scans.set(key, entry);
      }
    }
    const findings: Finding[] = [];
    for (const [key, { row, perNode }] of scans) {
      if (row.unique || row.primary || row.backs_constraint || row.backs_foreign_key) continue;
      if (row.scans > t.maxScans! || Number(row.size) < t.minSizeBytes!) continue;
      findings.push({
        check: 'index.unused',
        severity: ctx.settings('index.unused').severity ?? 'warning',
        object: key,
        value: row.scans,
        threshold: t.maxScans!,
        unit: 'scans',
        message: `${row.index} on ${row.schema}.${row.table} had ${row.scans} scans on ${ctx.nodes.length} node(s) in ${days(shortest * 86400)} (size ${Math.round(Number(row.size) / 1024)} KiB)`,
        fix: dropIndexSql(row),
        evidence: {
          sql: UNUSED_INDEX_SQL,
          source: ctx.nodes.map((n) => n.node).join(', '),
          values: {
            scansPerNode: perNode,
            sizeBytes: Number(row.size),
            windowDays: shortest,
            definition: row.definition,
          },
        },
      });
    }
    return { findings };
  },
};
