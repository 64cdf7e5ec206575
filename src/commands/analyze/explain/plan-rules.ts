import { checkSettings } from '../settings.js';
import type { AnalyzeConfig } from '../../../config/sections/analyze.js';
import type { Finding } from '../types.js';
import type { CorpusEntry } from './corpus.js';
import { accessOf, actualTotal, relationOf, walk, type ExplainOutput, type PlanNode } from './plan.js';

export interface PlanRuleInput {
  entry: CorpusEntry;
  explain: ExplainOutput;
  analyzed: boolean;
  /** schema.table → pg_class.reltuples */
  relationRows: Map<string, number>;
  config: AnalyzeConfig;
  /** The EXPLAIN statement, for the evidence. */
  statement: string;
}

const round = (n: number) => Math.round(n * 100) / 100;

/**
 * The plan rules (pev2, pganalyze, PgHero thresholds). Node-level findings are identified by
 * query name and relation, so the baseline survives plan reordering.
 */
export function planFindings(input: PlanRuleInput): Finding[] {
  const { entry, explain, analyzed, relationRows, config } = input;
  const s = (id: Parameters<typeof checkSettings>[1]) => checkSettings(config, id);
  const out: Finding[] = [];
  const evidence = (values: Record<string, unknown>) => ({
    sql: input.statement,
    values: { file: entry.file, line: entry.line, query: entry.name, ...values },
  });
  const push = (f: Finding) => {
    if (!entry.allow.includes(f.check) && checkSettings(config, f.check).enabled) out.push(f);
  };
  const root = explain.Plan;

  const seq = s('plan.seq-scan');
  const minRows = entry.seqScanRows ?? seq.thresholds.minRows!;
  const misest = s('plan.misestimate');
  const eff = s('plan.scan-efficiency');
  const nl = s('plan.nested-loop');
  for (const { node } of walk(root)) {
    const rel = relationOf(node);
    const type = node['Node Type'];
    if (type === 'Seq Scan' && rel) {
      const rows = relationRows.get(rel) ?? 0;
      if (rows >= minRows) {
        push({
          check: 'plan.seq-scan',
          severity: seq.severity ?? 'error',
          object: `${entry.name}:${rel}`,
          value: Math.round(rows),
          threshold: minRows,
          unit: 'rows in table',
          message: `${entry.name}: sequential scan on ${rel} (${Math.round(rows).toLocaleString('en-US')} rows)${node.Filter ? ` filtering ${node.Filter}` : ''}`,
          fix: `dbops analyze advise ${entry.file}   # proves the index for ${node.Filter ?? rel}`,
          evidence: evidence({
            node: accessOf(node),
            filter: node.Filter,
            reltuples: rows,
            planRows: node['Plan Rows'],
          }),
        });
      }
    }
    if (analyzed) {
      const actual = node['Actual Rows'];
      if (actual !== undefined) {
        const plan = node['Plan Rows'];
        const loops = node['Actual Loops'] ?? 1;
        if (loops > 0 && Math.max(plan, actual) * loops >= misest.thresholds.minRows!) {
          const factor = Math.max(plan, actual) / Math.max(Math.min(plan, actual), 1);
          if (factor >= misest.thresholds.warningFactor!) {
            const severity =
              misest.severity ?? (factor >= misest.thresholds.errorFactor! ? 'error' : 'warning');
            push({
              check: 'plan.misestimate',
              severity,
              object: `${entry.name}:${rel ?? type}`,
              value: round(factor),
              threshold:
                severity === 'error' ? misest.thresholds.errorFactor! : misest.thresholds.warningFactor!,
              unit: '× off',
              message: `${entry.name}: ${accessOf(node)}${rel ? ` on ${rel}` : ''} estimated ${plan} rows, got ${actual} (${actual > plan ? 'under' : 'over'}-estimated ${round(factor)}×)`,
              fix: `ANALYZE${rel ? ` ${rel}` : ''}; raise the column statistics target or CREATE STATISTICS for correlated columns`,
              evidence: evidence({ planRows: plan, actualRows: actual, loops }),
            });
          }
        }
        const removed =
          ((node['Rows Removed by Filter'] ?? 0) +
            (node['Rows Removed by Join Filter'] ?? 0) +
            (node['Rows Removed by Index Recheck'] ?? 0)) *
          loops;
        const kept = actualTotal(node) ?? 0;
        const scanned = removed + kept;
        if (removed > 0 && scanned >= eff.thresholds.minRows!) {
          const pct = (100 * removed) / scanned;
          if (pct >= eff.thresholds.minRemovedPct!) {
            push({
              check: 'plan.scan-efficiency',
              severity: eff.severity ?? 'warning',
              object: `${entry.name}:${rel ?? type}`,
              value: round(pct),
              threshold: eff.thresholds.minRemovedPct!,
              unit: '% of rows read discarded',
              message: `${entry.name}: ${accessOf(node)}${rel ? ` on ${rel}` : ''} read ${scanned} rows and discarded ${removed} (${pct.toFixed(1)} %)${node.Filter ? ` by ${node.Filter}` : ''}`,
              fix: 'a partial or multicolumn index matching the filter',
              evidence: evidence({ removed, kept, filter: node.Filter }),
            });
          }
        }
        const spill =
          node['Sort Space Type'] === 'Disk'
            ? `sort spilled to disk (${node['Sort Method']})`
            : (node['Hash Batches'] ?? 1) > 1
              ? `hash used ${node['Hash Batches']} batches`
              : (node['HashAgg Batches'] ?? 1) > 1 || (node['Disk Usage'] ?? 0) > 0
                ? `hash aggregate spilled to disk (${node['Disk Usage'] ?? '?'} kB)`
                : (node['Lossy Heap Blocks'] ?? 0) > 0
                  ? `bitmap went lossy (${node['Lossy Heap Blocks']} blocks)`
                  : undefined;
        if (spill) {
          push({
            check: 'plan.spill',
            severity: s('plan.spill').severity ?? 'warning',
            object: `${entry.name}:${type}${rel ? `:${rel}` : ''}`,
            value: spill,
            threshold: 'in memory',
            message: `${entry.name}: ${type} ${spill}`,
            fix: 'raise work_mem for this query (SET LOCAL work_mem) or sort/hash fewer rows',
            evidence: evidence({
              node: type,
              sortMethod: node['Sort Method'],
              hashBatches: node['Hash Batches'],
            }),
          });
        }
      }
    }
    if (type === 'Nested Loop' && node.Plans?.[0]) {
      const outer: PlanNode = node.Plans[0];
      const rows = analyzed ? (actualTotal(outer) ?? outer['Plan Rows']) : outer['Plan Rows'];
      if (rows >= nl.thresholds.maxOuterRows!) {
        push({
          check: 'plan.nested-loop',
          severity: nl.severity ?? 'warning',
          object: `${entry.name}:${relationOf(outer) ?? outer['Node Type']}`,
          value: Math.round(rows),
          threshold: nl.thresholds.maxOuterRows!,
          unit: analyzed ? 'outer rows' : 'outer rows (estimate)',
          message: `${entry.name}: nested loop runs its inner side ${Math.round(rows)} times (outer: ${accessOf(outer)}${relationOf(outer) ? ` on ${relationOf(outer)}` : ''})`,
          fix: 'index the inner join key, or fix the outer estimate (ANALYZE)',
          evidence: evidence({ outer: accessOf(outer), rows }),
        });
      }
    }
  }

  const maxCost =
    entry.maxCost ?? config.explain.maxCost ?? (s('plan.cost-budget').thresholds.maxCost || undefined);
  if (maxCost !== undefined && root['Total Cost'] > maxCost) {
    push({
      check: 'plan.cost-budget',
      severity: s('plan.cost-budget').severity ?? 'error',
      object: `query:${entry.name}`,
      value: round(root['Total Cost']),
      threshold: maxCost,
      unit: 'cost',
      message: `${entry.name}: total cost ${round(root['Total Cost'])} exceeds the budget ${maxCost}`,
      fix: 'rewrite the query or add an index; or raise -- max-cost knowingly',
      evidence: evidence({ totalCost: root['Total Cost'] }),
    });
  }
  const maxBuffers =
    entry.maxBuffers ??
    config.explain.maxSharedBuffers ??
    (s('plan.buffers').thresholds.maxSharedBuffers || undefined);
  if (analyzed && maxBuffers !== undefined) {
    const buffers = (root['Shared Hit Blocks'] ?? 0) + (root['Shared Read Blocks'] ?? 0);
    if (buffers > maxBuffers) {
      push({
        check: 'plan.buffers',
        severity: s('plan.buffers').severity ?? 'warning',
        object: `query:${entry.name}`,
        value: buffers,
        threshold: maxBuffers,
        unit: 'shared blocks',
        message: `${entry.name}: ${buffers} shared blocks hit or read (budget ${maxBuffers})`,
        fix: 'read fewer pages: an index, a covering index, narrower rows',
        evidence: evidence({ hit: root['Shared Hit Blocks'], read: root['Shared Read Blocks'] }),
      });
    }
  }
  return out;
}
