import type { AnalyzeConfig } from '../../../config/sections/analyze.js';
import {
  describePgError,
  quoteIdent,
  withClient,
  withPostgres,
  type PoolClient,
  type ResolvedTarget,
} from '../../../connections/index.js';
import { ConfigError } from '../../../errors.js';
import { silentLogger, type Logger } from '../../../logger.js';
import { gate } from '../baseline.js';
import { loadCorpus } from '../explain/corpus.js';
import { walk, type ExplainOutput } from '../explain/plan.js';
import { columnsText, readIndexes, type IndexRow } from '../postgres/checks/index-catalogue.js';
import { coveredBy } from '../postgres/checks/redundant-index.js';
import { countingRunner, type QueryCounter } from '../postgres/session.js';
import { analyzeConfigOf, parseDuration } from '../settings.js';
import type { CheckRun, Finding, GateVerdict, Severity } from '../types.js';
import { candidateKey, candidatesFor, columnUses, type AdviceSource, type Candidate } from './candidates.js';

export interface AdviseOptions {
  target: ResolvedTarget;
  files?: string[];
  config?: AnalyzeConfig | undefined;
  /** Take candidate queries from pg_stat_statements too (default true). */
  slowQueries?: boolean;
  failOn?: Severity;
}

export interface CandidateProof {
  query: string;
  before: number;
  after: number;
  savingPct: number;
  used: boolean;
}

export interface AdviceCandidate {
  relation: string;
  columns: string[];
  definition: string;
  status: 'proven' | 'rejected' | 'unproven';
  reason: string;
  proofs: CandidateProof[];
  sizeBytes?: number;
}

export interface DropAdvice {
  index: string;
  status: 'proven' | 'rejected' | 'unproven';
  reason: string;
  worstQuery?: { query: string; before: number; after: number; increasePct: number };
}

export interface AdviseReport {
  kind: 'advise';
  target: string;
  where: string;
  startedAt: string;
  durationMs: number;
  queriesSent: number;
  hypopg: { installed: boolean; version: string | null; canHide: boolean };
  sources: { name: string; cost?: number; error?: string; skipped?: string }[];
  candidates: AdviceCandidate[];
  drops: DropAdvice[];
  checks: CheckRun[];
  findings: Finding[];
  verdict: GateVerdict;
}

const PROBE_SQL = `
select (select extversion from pg_extension where extname = 'hypopg') as hypopg,
       to_regproc('hypopg_hide_index') is not null as can_hide,
       to_regclass('pg_stat_statements') is not null as pgss`;

const SLOW_SQL = `
select queryid::text as queryid, query from pg_stat_statements
 where dbid = (select oid from pg_database where datname = current_database()) and toplevel
   and query ~* '^\\s*(select|with|update|delete)\\s' and query !~* '(\\mpg_|hypopg|explain|information_schema)'
 order by total_exec_time desc limit 20`;

const COLUMNS_SQL = `
select n.nspname || '.' || c.relname as relation, a.attname as column
  from unnest($1::text[], $2::text[]) as r(schema, name)
  join pg_namespace n on n.nspname = r.schema
  join pg_class c on c.relnamespace = n.oid and c.relname = r.name and c.relkind in ('r', 'm', 'p')
  join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
 where a.atttypid not in ('json'::regtype, 'jsonb'::regtype, 'point'::regtype, 'xml'::regtype)`;

const qualified = (rel: string) => {
  const dot = rel.indexOf('.');
  return `${quoteIdent(rel.slice(0, dot))}.${quoteIdent(rel.slice(dot + 1))}`;
};
const createSql = (c: Candidate, concurrently: boolean) =>
  `CREATE INDEX${concurrently ? ' CONCURRENTLY' : ''} ON ${qualified(c.relation)} (${c.columns.map(quoteIdent).join(', ')})`;
const pct = (before: number, after: number) => (before > 0 ? (100 * (before - after)) / before : 0);
const round = (n: number) => Math.round(n * 100) / 100;

/**
 * Index advice proven with HypoPG: candidates come from the columns the plans of the corpus
 * and of the slowest pg_stat_statements queries filter, join and sort on; each is created as
 * a hypothetical index and the query re-planned. Only a cost drop of at least the threshold
 * makes a proven advice. Nothing real is created: hypothetical indexes live in this session.
 */
export async function adviseRun(
  options: AdviseOptions,
  deps: { logger?: Logger; signal?: AbortSignal } = {},
): Promise<AdviseReport> {
  const started = Date.now();
  const config = analyzeConfigOf(options.config);
  const logger = deps.logger ?? silentLogger;
  if (options.target.engine !== 'postgres') {
    throw new ConfigError('dbops analyze advise works on PostgreSQL targets');
  }
  const files = options.files?.length ? options.files : config.explain.corpus;
  const corpus = files.length ? await loadCorpus(files) : [];
  const statementTimeoutMs = parseDuration(config.statementTimeout, 'analyze.statementTimeout') * 1000;
  const counter: QueryCounter = { sent: 3 };
  const a = config.advise;

  const result = await withPostgres(
    options.target,
    async (pg) =>
      withClient(
        pg.pool,
        async (client) => {
          const db = countingRunner(client, pg.where, 'primary', counter);
          const [probe] = await db.query<{ hypopg: string | null; can_hide: boolean; pgss: boolean }>(
            PROBE_SQL,
          );
          const hypopg = {
            installed: Boolean(probe?.hypopg),
            version: probe?.hypopg ?? null,
            canHide: Boolean(probe?.can_hide),
          };
          const sources: AdviceSource[] = corpus.map((e) => ({ ...e }));
          if (options.slowQueries !== false && probe?.pgss) {
            for (const r of await db.query<{ queryid: string; query: string }>(SLOW_SQL)) {
              sources.push({
                name: `query:${r.queryid}`,
                sql: r.query,
                params: [],
                file: 'pg_stat_statements',
                line: 1,
                generic: true,
              });
            }
          }
          try {
            return {
              hypopg,
              ...(await advise(client, db.query.bind(db), sources, hypopg, config, counter, deps.signal)),
              where: pg.where,
            };
          } finally {
            counter.sent += 2;
            await client.query('deallocate all').catch(() => {});
            if (hypopg.installed) await client.query('select hypopg_reset()').catch(() => {});
          }
        },
        { statementTimeout: Math.round(statementTimeoutMs) },
      ),
    { logger, maxConnections: 1 },
  );

  const findings: Finding[] = [];
  for (const c of result.candidates) {
    if (c.status === 'rejected') continue;
    const best = c.proofs.reduce<CandidateProof | undefined>(
      (m, p) => (!m || p.savingPct > m.savingPct ? p : m),
      undefined,
    );
    const object = `${c.relation}(${c.columns.join(', ')})`;
    findings.push({
      check: 'index.missing',
      severity: c.status === 'proven' ? 'warning' : 'info',
      object,
      ...(best
        ? { value: round(best.savingPct), threshold: a.minCostSavingPct, unit: '% cost saving' }
        : { value: 'unproven', threshold: 'HypoPG proof' }),
      message:
        c.status === 'proven'
          ? `index on ${object} cuts ${c.proofs.map((p) => `${p.query} ${round(p.before)} → ${round(p.after)} (−${round(p.savingPct)} %)`).join('; ')}${c.sizeBytes ? `; estimated size ${Math.round(c.sizeBytes / 1024)} KiB` : ''}`
          : `unproven candidate ${object}: ${c.reason}`,
      fix: `${c.definition};`,
      evidence: { sql: c.definition, values: { proofs: c.proofs, status: c.status } },
    });
  }
  for (const d of result.drops) {
    if (d.status !== 'proven') continue;
    findings.push({
      check: 'index.redundant',
      severity: 'warning',
      object: d.index,
      value: d.worstQuery ? round(d.worstQuery.increasePct) : 0,
      threshold: a.maxDropCostIncreasePct,
      unit: '% worst cost increase when hidden',
      message: `dropping ${d.index} is proven safe: ${d.reason}`,
      fix: `DROP INDEX CONCURRENTLY ${d.index
        .split('.')
        .filter((_, i, arr) => i !== arr.length - 2)
        .map(quoteIdent)
        .join('.')};`,
      evidence: { values: { ...d } },
    });
  }
  const checks: CheckRun[] = [
    {
      check: 'index.missing',
      status:
        result.sources.length === 0
          ? 'skipped'
          : findings.some((f) => f.check === 'index.missing')
            ? 'findings'
            : 'ok',
      findings: findings.filter((f) => f.check === 'index.missing').length,
      ...(result.sources.length === 0
        ? { note: 'no queries: pass corpus files or install pg_stat_statements' }
        : {}),
      ...(!result.hypopg.installed
        ? {
            note: 'HypoPG is not installed: candidates are unproven',
            hint: 'install postgresql-15-hypopg and CREATE EXTENSION hypopg;',
          }
        : {}),
    },
  ];
  return {
    kind: 'advise',
    target: options.target.name,
    where: result.where,
    startedAt: new Date(started).toISOString(),
    durationMs: Date.now() - started,
    queriesSent: counter.sent,
    hypopg: result.hypopg,
    sources: result.sources,
    candidates: result.candidates,
    drops: result.drops,
    checks,
    findings,
    verdict: gate(findings, options.failOn ?? 'error', undefined),
  };
}

type Query = <R extends Record<string, unknown>>(sql: string, params?: unknown[]) => Promise<R[]>;

async function advise(
  client: PoolClient,
  query: Query,
  sources: AdviceSource[],
  hypopg: { installed: boolean; canHide: boolean },
  config: AnalyzeConfig,
  counter: QueryCounter,
  signal: AbortSignal | undefined,
) {
  const a = config.advise;
  let generic = false;
  let prepared = 0;
  const plan = async (src: AdviceSource): Promise<ExplainOutput> => {
    if (!src.generic) {
      const [row] = await query<{ 'QUERY PLAN': ExplainOutput[] }>(
        `EXPLAIN (FORMAT JSON) ${src.sql}`,
        src.params,
      );
      return row!['QUERY PLAN'][0]!;
    }
    // pg_stat_statements text has $n placeholders: plan it generically, as PG16's GENERIC_PLAN does.
    if (!generic) {
      await query(`select set_config('plan_cache_mode', 'force_generic_plan', false)`);
      generic = true;
    }
    const n = Math.max(0, ...[...src.sql.matchAll(/\$(\d+)/g)].map((m) => Number(m[1])));
    const name = `dbops_advise_${++prepared}`;
    await query(`PREPARE ${name} AS ${src.sql}`);
    const args = n ? `(${Array(n).fill('NULL').join(', ')})` : '';
    const [row] = await query<{ 'QUERY PLAN': ExplainOutput[] }>(
      `EXPLAIN (FORMAT JSON) EXECUTE ${name}${args}`,
    );
    return row!['QUERY PLAN'][0]!;
  };

  const planned: { src: AdviceSource; cost: number; plan: ExplainOutput }[] = [];
  const sourceReport: AdviseReport['sources'] = [];
  for (const src of sources) {
    signal?.throwIfAborted();
    try {
      const p = await plan(src);
      const cost = p.Plan['Total Cost'];
      if (cost < a.minQueryCost) {
        sourceReport.push({
          name: src.name,
          cost,
          skipped: `cost ${round(cost)} < minQueryCost ${a.minQueryCost}`,
        });
        continue;
      }
      planned.push({ src, cost, plan: p });
      sourceReport.push({ name: src.name, cost });
    } catch (err) {
      sourceReport.push({ name: src.name, error: describePgError(err) });
    }
  }

  // Candidates per query, validated against the catalogue in one query.
  const perQuery = planned.map((p) => ({ ...p, candidates: candidatesFor(columnUses(p.plan.Plan)) }));
  const rels = [...new Set(perQuery.flatMap((q) => q.candidates.map((c) => c.relation)))];
  const cols = new Set(
    (
      await query<{ relation: string; column: string }>(COLUMNS_SQL, [
        rels.map((r) => r.slice(0, r.indexOf('.'))),
        rels.map((r) => r.slice(r.indexOf('.') + 1)),
      ])
    ).map((r) => `${r.relation}\u0000${r.column}`),
  );
  const indexes = await readIndexes(countingRunner(client, '', 'primary', counter), []);

  const candidates = new Map<string, AdviceCandidate>();
  const coveredReason = (c: Candidate): string | undefined => {
    const existing = indexes.find(
      (i) =>
        `${i.schema}.${i.table}` === c.relation &&
        i.valid &&
        i.method === 'btree' &&
        !i.predicate &&
        c.columns.every((col, k) => i.keys[k] === col),
    );
    return existing ? `covered by ${existing.index} (${columnsText(existing.keys)})` : undefined;
  };
  for (const q of perQuery) {
    const valid = q.candidates.filter((c) => c.columns.every((col) => cols.has(`${c.relation}\u0000${col}`)));
    let best: { c: Candidate; after: number } | undefined;
    for (const c of valid) {
      signal?.throwIfAborted();
      const key = candidateKey(c);
      const entry =
        candidates.get(key) ??
        ({
          relation: c.relation,
          columns: c.columns,
          definition: createSql(c, true),
          status: 'unproven',
          reason: '',
          proofs: [],
        } as AdviceCandidate);
      candidates.set(key, entry);
      const covered = coveredReason(c);
      if (covered) {
        entry.status = 'rejected';
        entry.reason = covered;
        continue;
      }
      if (!hypopg.installed) {
        entry.reason =
          'HypoPG is not installed (CREATE EXTENSION hypopg; Debian package postgresql-15-hypopg)';
        continue;
      }
      const [h] = await query<{ indexrelid: number; indexname: string }>(
        'select indexrelid, indexname from hypopg_create_index($1)',
        [createSql(c, false)],
      );
      try {
        const after = await plan(q.src);
        const used = [...walk(after.Plan)].some(({ node }) => node['Index Name'] === h!.indexname);
        const saving = pct(q.cost, after.Plan['Total Cost']);
        entry.proofs.push({
          query: q.src.name,
          before: q.cost,
          after: after.Plan['Total Cost'],
          savingPct: saving,
          used,
        });
        if (used && saving >= a.minCostSavingPct) {
          if (
            !best ||
            after.Plan['Total Cost'] < best.after * 0.95 ||
            (after.Plan['Total Cost'] <= best.after * 1.05 && c.columns.length < best.c.columns.length)
          ) {
            best = { c, after: after.Plan['Total Cost'] };
            const [size] = await query<{ size: number }>('select hypopg_relation_size($1)::float8 as size', [
              h!.indexrelid,
            ]);
            entry.sizeBytes = Number(size?.size ?? 0);
          }
        }
      } finally {
        await query('select hypopg_drop_index($1)', [h!.indexrelid]);
      }
    }
    if (hypopg.installed) {
      for (const c of valid) {
        const entry = candidates.get(candidateKey(c))!;
        if (entry.status === 'rejected' && entry.reason.startsWith('covered')) continue;
        if (best && candidateKey(best.c) === candidateKey(c)) {
          entry.status = 'proven';
          entry.reason = `cost saving ≥ ${a.minCostSavingPct} %`;
        } else if (entry.status !== 'proven') {
          const proof = entry.proofs.find((p) => p.query === q.src.name);
          entry.status = 'rejected';
          entry.reason = !proof
            ? 'not tried'
            : !proof.used
              ? 'the planner does not use it'
              : proof.savingPct < a.minCostSavingPct
                ? `cost saving ${round(proof.savingPct)} % < ${a.minCostSavingPct} %`
                : `another candidate is cheaper for ${q.src.name}`;
        }
      }
    }
  }
  for (const entry of candidates.values())
    if (entry.status === 'proven')
      entry.proofs = entry.proofs.filter((p) => p.used && p.savingPct >= a.minCostSavingPct);

  const drops = await dropAdvice(indexes, planned, hypopg, query, plan, config);
  counter.sent += 0;
  return { sources: sourceReport, candidates: [...candidates.values()], drops };
}

/** Redundant indexes: hide each (HypoPG ≥ 1.4) and show no query's cost rises past the limit. */
async function dropAdvice(
  indexes: IndexRow[],
  planned: { src: AdviceSource; cost: number }[],
  hypopg: { installed: boolean; canHide: boolean },
  query: Query,
  plan: (src: AdviceSource) => Promise<ExplainOutput>,
  config: AnalyzeConfig,
): Promise<DropAdvice[]> {
  const out: DropAdvice[] = [];
  for (const idx of indexes) {
    if (idx.backs_constraint) continue;
    const by = indexes.find((b) => coveredBy(idx, b));
    if (!by) continue;
    const name = `${idx.schema}.${idx.table}.${idx.index}`;
    if (!hypopg.canHide) {
      out.push({
        index: name,
        status: 'unproven',
        reason: `covered by ${by.index} (${columnsText(by.keys)}); ${hypopg.installed ? 'this HypoPG has no hypopg_hide_index (needs ≥ 1.4)' : 'HypoPG is not installed'}, so the drop is not proven`,
      });
      continue;
    }
    await query('select hypopg_hide_index($1::regclass)', [
      `${quoteIdent(idx.schema)}.${quoteIdent(idx.index)}`,
    ]);
    let worst: DropAdvice['worstQuery'];
    try {
      for (const p of planned) {
        const after = (await plan(p.src)).Plan['Total Cost'];
        const increasePct = -pct(p.cost, after);
        if (!worst || increasePct > worst.increasePct)
          worst = { query: p.src.name, before: p.cost, after, increasePct };
      }
    } finally {
      await query('select hypopg_unhide_all_indexes()');
    }
    const ok = !worst || worst.increasePct <= config.advise.maxDropCostIncreasePct;
    out.push({
      index: name,
      status: ok ? 'proven' : 'rejected',
      reason: worst
        ? `with it hidden the worst corpus query (${worst.query}) costs ${round(worst.before)} → ${round(worst.after)} (${worst.increasePct >= 0 ? '+' : ''}${round(worst.increasePct)} %, limit ${config.advise.maxDropCostIncreasePct} %)`
        : `covered by ${by.index}; no corpus query to prove it against`,
      ...(worst ? { worstQuery: worst } : {}),
    });
  }
  return out;
}
