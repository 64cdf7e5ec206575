import type { AnalyzeConfig } from '../../../config/sections/analyze.js';
import {
  describePgError,
  withClient,
  withPostgres,
  type ResolvedTarget,
} from '../../../connections/index.js';
import { ConfigError } from '../../../errors.js';
import { silentLogger, type Logger } from '../../../logger.js';
import { gate } from '../baseline.js';
import { catalogue } from '../catalogue.js';
import { analyzeConfigOf, parseDuration } from '../settings.js';
import type { CheckRun, Finding, GateVerdict, Severity } from '../types.js';
import { severityRank } from '../types.js';
import { loadCorpus } from './corpus.js';
import { explainEntry, explainStatement, relationRows } from './explainer.js';
import { planShape, relationOf, scansByRelation, shapeHash, walk, type ExplainOutput } from './plan.js';
import { readPlanBaseline, regressionFindings, writePlanBaseline, type PlanRecord } from './plan-baseline.js';
import { planFindings } from './plan-rules.js';

export interface ExplainOptions {
  target: ResolvedTarget;
  files?: string[];
  config?: AnalyzeConfig | undefined;
  analyze?: boolean;
  failOn?: Severity;
  baselinePath?: string;
  writeBaselinePath?: string;
}

export interface ExplainedQuery {
  name: string;
  file: string;
  line: number;
  totalCost?: number;
  planningMs?: number;
  executionMs?: number;
  shapeHash?: string;
  shape?: string[];
  baselineCost?: number;
  findings: number;
  error?: string;
}

export interface ExplainReport {
  kind: 'explain';
  target: string;
  where: string;
  analyzed: boolean;
  startedAt: string;
  durationMs: number;
  queriesSent: number;
  queries: ExplainedQuery[];
  checks: CheckRun[];
  findings: Finding[];
  verdict: GateVerdict;
}

const planChecks = (Object.keys(catalogue) as (keyof typeof catalogue)[]).filter(
  (id) => catalogue[id].group === 'plans' && catalogue[id].engines.includes('postgres'),
);

/** EXPLAIN every corpus query, apply the plan rules and, with a baseline, the regression rules. */
export async function explainRun(
  options: ExplainOptions,
  deps: { logger?: Logger; signal?: AbortSignal } = {},
): Promise<ExplainReport> {
  const started = Date.now();
  const config = analyzeConfigOf(options.config);
  const logger = deps.logger ?? silentLogger;
  if (options.target.engine !== 'postgres') {
    throw new ConfigError('dbops analyze explain runs SQL corpora against PostgreSQL targets', {
      hint: 'for MongoDB, explain output is checked by the mongodb plan rules (see docs/analyze.md)',
    });
  }
  const files = options.files?.length ? options.files : config.explain.corpus;
  const corpus = await loadCorpus(files);
  const baselinePath = options.baselinePath ?? config.explain.baseline;
  const baseline =
    baselinePath && !options.writeBaselinePath ? await readPlanBaseline(baselinePath) : undefined;
  const analyze = options.analyze ?? false;
  const statementTimeoutMs = parseDuration(config.statementTimeout, 'analyze.statementTimeout') * 1000;
  const counter = { sent: 1 };

  const result = await withPostgres(
    options.target,
    async (pg) => {
      // Plain EXPLAIN only plans: a replica will do. ANALYZE executes, so it needs the primary.
      const pool = analyze ? pg.pool : (await pg.reader()).pool;
      counter.sent += 2;
      return withClient(
        pool,
        async (client) => {
          const plans = new Map<string, ExplainOutput>();
          const errors = new Map<string, string>();
          for (const entry of corpus) {
            deps.signal?.throwIfAborted();
            try {
              plans.set(
                entry.name,
                await explainEntry(client, entry, { analyze, statementTimeoutMs, counter }),
              );
            } catch (err) {
              errors.set(entry.name, describePgError(err));
              logger.warn(`${entry.name}: EXPLAIN failed: ${describePgError(err)}`);
            }
          }
          const relations = new Set<string>();
          for (const p of plans.values())
            for (const { node } of walk(p.Plan)) if (relationOf(node)) relations.add(relationOf(node)!);
          const rows = await relationRows(client, relations, counter);
          return { plans, errors, rows, where: pg.where };
        },
        { statementTimeout: Math.round(statementTimeoutMs) },
      );
    },
    { logger, maxConnections: 1 },
  );

  const findings: Finding[] = [];
  const queries: ExplainedQuery[] = [];
  const records: Record<string, PlanRecord> = {};
  for (const entry of corpus) {
    const explain = result.plans.get(entry.name);
    if (!explain) {
      queries.push({
        name: entry.name,
        file: entry.file,
        line: entry.line,
        findings: 0,
        error: result.errors.get(entry.name) ?? 'no plan',
      });
      continue;
    }
    const shape = planShape(explain.Plan);
    const record: PlanRecord = {
      totalCost: explain.Plan['Total Cost'],
      shapeHash: shapeHash(shape),
      shape,
      scans: scansByRelation(explain.Plan),
    };
    records[entry.name] = record;
    const mine = [
      ...planFindings({
        entry,
        explain,
        analyzed: analyze,
        relationRows: result.rows,
        config,
        statement: explainStatement(entry.sql, analyze),
      }),
      ...regressionFindings(entry, record, baseline?.queries[entry.name], config),
    ];
    findings.push(...mine);
    queries.push({
      name: entry.name,
      file: entry.file,
      line: entry.line,
      totalCost: record.totalCost,
      ...(explain['Planning Time'] !== undefined ? { planningMs: explain['Planning Time'] } : {}),
      ...(explain['Execution Time'] !== undefined ? { executionMs: explain['Execution Time'] } : {}),
      shapeHash: record.shapeHash,
      shape,
      ...(baseline?.queries[entry.name] ? { baselineCost: baseline.queries[entry.name]!.totalCost } : {}),
      findings: mine.length,
    });
  }
  if (options.writeBaselinePath) {
    await writePlanBaseline(options.writeBaselinePath, records);
    logger.info(
      `plan baseline with ${Object.keys(records).length} queries written to ${options.writeBaselinePath}`,
    );
  }

  findings.sort(
    (a, b) => severityRank[b.severity] - severityRank[a.severity] || a.object.localeCompare(b.object),
  );
  const checks: CheckRun[] = planChecks.map((id) => {
    const n = findings.filter((f) => f.check === id).length;
    const needsAnalyze = ['plan.misestimate', 'plan.spill', 'plan.scan-efficiency', 'plan.buffers'].includes(
      id,
    );
    const needsBaseline = id === 'plan.cost-regression' || id === 'plan.shape-change';
    if (n === 0 && needsAnalyze && !analyze)
      return { check: id, status: 'skipped', findings: 0, note: 'needs --analyze' };
    if (n === 0 && needsBaseline && !baseline)
      return { check: id, status: 'skipped', findings: 0, note: 'needs --baseline' };
    return { check: id, status: n ? 'findings' : 'ok', findings: n };
  });
  const verdict = gate(findings, options.failOn ?? config.failOn, undefined);
  // A corpus query that no longer plans (dropped column, syntax) is a failed gate too.
  const broken = queries.filter((q) => q.error);
  if (broken.length) {
    verdict.failed = true;
    verdict.exitCode = 1;
    for (const q of broken)
      checks.push({
        check: 'plan.cost-budget',
        status: 'error',
        findings: 0,
        note: `${q.name} (${q.file}:${q.line}): ${q.error}`,
      });
  }
  return {
    kind: 'explain',
    target: options.target.name,
    where: result.where,
    analyzed: analyze,
    startedAt: new Date(started).toISOString(),
    durationMs: Date.now() - started,
    queriesSent: counter.sent,
    queries,
    checks,
    findings,
    verdict,
  };
}
