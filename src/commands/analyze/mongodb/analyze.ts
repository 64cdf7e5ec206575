import type { AnalyzeCheckId } from '../../../config/sections/analyze.js';
import type { CheckSettings } from '../settings.js';
import type { Finding } from '../types.js';

/**
 * MongoDB checks as pure functions over what the server returns ($indexStats, collStats,
 * explain, currentOp, system.profile), so they are tested on recorded outputs.
 */
export type Settings = (id: AnalyzeCheckId) => CheckSettings;

export interface IndexStatsDoc {
  name: string;
  key: Record<string, unknown>;
  host?: string;
  accesses: { ops: number | { $numberLong: string }; since: string | Date };
  spec?: {
    unique?: boolean;
    expireAfterSeconds?: number;
    hidden?: boolean;
    sparse?: boolean;
    partialFilterExpression?: unknown;
    collation?: unknown;
  };
  building?: boolean;
}

export interface CollStats {
  ns: string;
  size: number;
  count: number;
  totalIndexSize: number;
  indexSizes: Record<string, number>;
}

const n = (v: unknown) =>
  typeof v === 'object' && v !== null && '$numberLong' in v
    ? Number((v as { $numberLong: string }).$numberLong)
    : Number(v ?? 0);
const keyText = (k: Record<string, unknown>) => JSON.stringify(k);

/** Unused: no ops on every member, counters older than the window; _id_, unique, TTL, hidden never. */
export function mongoUnusedIndexes(
  ns: string,
  members: IndexStatsDoc[][],
  sizes: Record<string, number>,
  settings: Settings,
  options: { now: Date; minWindowSeconds: number },
): { findings: Finding[]; skipped?: { note: string } } {
  const s = settings('index.unused');
  const sinceOf = (d: IndexStatsDoc) => new Date(d.accesses.since).getTime();
  const windowSeconds = Math.min(...members.flat().map((d) => (options.now.getTime() - sinceOf(d)) / 1000));
  if (!(windowSeconds >= options.minWindowSeconds)) {
    return {
      findings: [],
      skipped: {
        note: `$indexStats counters on ${ns} cover ${(windowSeconds / 86400).toFixed(1)} d < --min-window ${(options.minWindowSeconds / 86400).toFixed(1)} d (they reset on restart)`,
      },
    };
  }
  const byName = new Map<string, { doc: IndexStatsDoc; ops: number; perHost: Record<string, number> }>();
  for (const member of members) {
    for (const d of member) {
      const e = byName.get(d.name) ?? { doc: d, ops: 0, perHost: {} };
      e.ops += n(d.accesses.ops);
      e.perHost[d.host ?? '?'] = n(d.accesses.ops);
      byName.set(d.name, e);
    }
  }
  const findings: Finding[] = [];
  for (const [name, { doc, ops, perHost }] of byName) {
    const spec = doc.spec ?? {};
    if (
      name === '_id_' ||
      spec.unique ||
      spec.expireAfterSeconds !== undefined ||
      spec.hidden ||
      doc.building
    )
      continue;
    const size = sizes[name] ?? 0;
    if (ops > s.thresholds.maxScans! || size < s.thresholds.minSizeBytes!) continue;
    findings.push({
      check: 'index.unused',
      severity: s.severity ?? 'warning',
      object: `${ns}.${name}`,
      value: ops,
      threshold: s.thresholds.maxScans!,
      unit: 'ops',
      message: `${name} ${keyText(doc.key)} on ${ns}: ${ops} ops on ${members.length} member(s) in ${(windowSeconds / 86400).toFixed(1)} d (size ${Math.round(size / 1048576)} MiB)`,
      fix: `db.getSiblingDB("${ns.split('.')[0]}").${ns.split('.').slice(1).join('.')}.dropIndex("${name}")   // or hideIndex first`,
      evidence: {
        sql: '{ $indexStats: {} } on every member',
        values: { opsPerHost: perHost, sizeBytes: size },
      },
    });
  }
  return { findings };
}

/** Prefix-redundant: same collation, partial filter and sparseness (percona-toolkit #1132). */
export function mongoRedundantIndexes(ns: string, indexes: IndexStatsDoc[], settings: Settings): Finding[] {
  const s = settings('index.redundant');
  const findings: Finding[] = [];
  for (const a of indexes) {
    if (a.name === '_id_') continue;
    const ak = Object.entries(a.key);
    for (const b of indexes) {
      if (a === b) continue;
      const bk = Object.entries(b.key);
      if (ak.length > bk.length) continue;
      if (!ak.every(([f, d], i) => bk[i]?.[0] === f && String(bk[i]?.[1]) === String(d))) continue;
      const same = (x: unknown, y: unknown) => JSON.stringify(x ?? null) === JSON.stringify(y ?? null);
      if (
        !same(a.spec?.collation, b.spec?.collation) ||
        !same(a.spec?.partialFilterExpression, b.spec?.partialFilterExpression)
      )
        continue;
      if (Boolean(a.spec?.sparse) !== Boolean(b.spec?.sparse)) continue;
      if (a.spec?.unique && !(b.spec?.unique && ak.length === bk.length)) continue;
      if (a.spec?.expireAfterSeconds !== undefined) continue;
      if (ak.length === bk.length && a.name < b.name) continue; // identical: report one
      findings.push({
        check: 'index.redundant',
        severity: s.severity ?? 'warning',
        object: `${ns}.${a.name}`,
        value: ak.length === bk.length ? 'duplicate' : 'prefix',
        threshold: 'not covered',
        message: `${a.name} ${keyText(a.key)} on ${ns} is covered by ${b.name} ${keyText(b.key)}`,
        fix: `db.getSiblingDB("${ns.split('.')[0]}").${ns.split('.').slice(1).join('.')}.dropIndex("${a.name}")`,
        evidence: { values: { index: a.key, coveredBy: b.key } },
      });
      break;
    }
  }
  return findings;
}

export function mongoIndexSize(stats: CollStats, settings: Settings): Finding[] {
  const s = settings('collection.index-size');
  if (stats.size < s.thresholds.minDataBytes!) return [];
  const pct = (100 * stats.totalIndexSize) / Math.max(stats.size, 1);
  if (pct <= s.thresholds.maxIndexToDataPct!) return [];
  return [
    {
      check: 'collection.index-size',
      severity: s.severity ?? 'info',
      object: stats.ns,
      value: Math.round(pct),
      threshold: s.thresholds.maxIndexToDataPct!,
      unit: '% of data size',
      message: `${stats.ns}: indexes take ${Math.round(stats.totalIndexSize / 1048576)} MiB for ${Math.round(stats.size / 1048576)} MiB of data (${stats.count} documents); largest: ${Object.entries(
        stats.indexSizes,
      )
        .sort((x, y) => y[1] - x[1])
        .slice(0, 3)
        .map(([k, v]) => `${k} ${Math.round(v / 1048576)} MiB`)
        .join(', ')}`,
      fix: 'review index.unused and index.redundant for this collection',
      evidence: { sql: '{ $collStats: { storageStats: {} } }', values: { ...stats } },
    },
  ];
}

interface Stage {
  stage: string;
  inputStage?: Stage;
  inputStages?: Stage[];
  docsExamined?: number;
  nReturned?: number;
  usedDisk?: boolean;
  indexName?: string;
  [k: string]: unknown;
}

export interface MongoExplain {
  queryPlanner: { namespace: string; winningPlan: Stage; queryHash?: string; planCacheKey?: string };
  executionStats?: {
    nReturned: number;
    totalDocsExamined: number;
    totalKeysExamined: number;
    executionStages?: Stage;
  };
}

function* stages(s: Stage | undefined): Generator<Stage> {
  if (!s) return;
  yield s;
  yield* stages(s.inputStage);
  for (const c of s.inputStages ?? []) yield* stages(c);
  // 7.0+ slot-based plans nest the classic plan under queryPlan.
  if (s.queryPlan) yield* stages(s.queryPlan as Stage);
}

/** Plan rules on a find/aggregate explain: COLLSCAN, docs examined ÷ returned, in-memory SORT. */
export function mongoExplainFindings(
  name: string,
  explain: MongoExplain,
  settings: Settings,
  collectionCount?: number,
): Finding[] {
  const out: Finding[] = [];
  const ns = explain.queryPlanner.namespace;
  const plan = [...stages(explain.queryPlanner.winningPlan)];
  const exec = explain.executionStats;
  const docs = exec?.totalDocsExamined ?? collectionCount ?? 0;
  const returned = exec?.nReturned ?? 0;
  const values = {
    query: name,
    queryHash: explain.queryPlanner.queryHash,
    docsExamined: exec?.totalDocsExamined,
    nReturned: returned,
  };
  const seq = settings('plan.seq-scan');
  if (plan.some((s) => s.stage === 'COLLSCAN') && docs >= seq.thresholds.minRows!) {
    out.push({
      check: 'plan.seq-scan',
      severity: seq.severity ?? 'error',
      object: `${name}:${ns}`,
      value: docs,
      threshold: seq.thresholds.minRows!,
      unit: exec ? 'docs examined' : 'docs in collection',
      message: `${name}: COLLSCAN on ${ns} (${docs.toLocaleString('en-US')} documents)`,
      fix: 'add an index on the filter fields (equality, sort, range order)',
      evidence: { values },
    });
  }
  const eff = settings('plan.scan-efficiency');
  if (exec) {
    const ratio = exec.totalDocsExamined / Math.max(returned, 1);
    if (ratio > eff.thresholds.maxExaminedPerReturned! && exec.totalDocsExamined >= eff.thresholds.minRows!) {
      out.push({
        check: 'plan.scan-efficiency',
        severity: eff.severity ?? 'warning',
        object: `${name}:${ns}`,
        value: Math.round(ratio),
        threshold: eff.thresholds.maxExaminedPerReturned!,
        unit: 'docs examined per returned',
        message: `${name}: examined ${exec.totalDocsExamined} documents to return ${returned} (${Math.round(ratio)} : 1)`,
        fix: 'an index that matches the filter, so documents are not examined and thrown away',
        evidence: { values },
      });
    }
  }
  const sort = settings('plan.in-memory-sort');
  const sortStage = (exec?.executionStages ? [...stages(exec.executionStages)] : plan).find(
    (s) => s.stage === 'SORT',
  );
  if (sortStage && (sortStage.nReturned ?? returned) >= sort.thresholds.minDocs!) {
    out.push({
      check: 'plan.in-memory-sort',
      severity: sort.severity ?? 'warning',
      object: `${name}:${ns}`,
      value: sortStage.nReturned ?? returned,
      threshold: sort.thresholds.minDocs!,
      unit: 'docs sorted',
      message: `${name}: blocking in-memory SORT of ${sortStage.nReturned ?? returned} documents${sortStage.usedDisk ? ', spilled to disk' : ''}`,
      fix: 'an index whose keys provide the sort order after the equality fields',
      evidence: { values: { ...values, sortPattern: sortStage.sortPattern } },
    });
  }
  return out;
}

export interface CurrentOp {
  opid: number | string;
  op: string;
  ns?: string;
  desc?: string;
  appName?: string;
  client?: string;
  secs_running?: number;
  planSummary?: string;
  command?: unknown;
}

/** Long-running user operations; internal threads and replication/system namespaces are skipped. */
export function mongoLongRunning(inprog: CurrentOp[], settings: Settings): Finding[] {
  const s = settings('activity.long-running');
  return inprog
    .filter(
      (o) =>
        o.op !== 'none' &&
        o.ns &&
        !/^(local|admin|config)\./.test(o.ns) &&
        (o.secs_running ?? 0) >= s.thresholds.seconds!,
    )
    .map((o) => ({
      check: 'activity.long-running' as const,
      severity: s.severity ?? 'warning',
      object: `opid:${o.opid}`,
      value: o.secs_running ?? 0,
      threshold: s.thresholds.seconds!,
      unit: 's',
      message: `opid ${o.opid} (${o.appName ?? o.client ?? o.desc ?? '?'}) ${o.op} on ${o.ns} running ${o.secs_running} s${o.planSummary ? ` [${o.planSummary}]` : ''}: ${JSON.stringify(o.command ?? {}).slice(0, 200)}`,
      fix: `db.killOp(${o.opid})`,
      evidence: { sql: '{ currentOp: 1, active: true }', values: { ...o } },
    }));
}

export interface ProfileDoc {
  op: string;
  ns: string;
  millis: number;
  queryHash?: string;
  planSummary?: string;
  docsExamined?: number;
  nreturned?: number;
  command?: unknown;
}

/** Slow operations from system.profile, grouped by query shape (queryHash). */
export function mongoSlowQueries(profile: ProfileDoc[], settings: Settings): Finding[] {
  const s = settings('query.slow');
  const groups = new Map<
    string,
    { ns: string; calls: number; total: number; docs: number; returned: number; sample: ProfileDoc }
  >();
  for (const p of profile) {
    const key = p.queryHash ?? `${p.ns}:${p.op}`;
    const g = groups.get(key) ?? { ns: p.ns, calls: 0, total: 0, docs: 0, returned: 0, sample: p };
    g.calls++;
    g.total += p.millis;
    g.docs += p.docsExamined ?? 0;
    g.returned += p.nreturned ?? 0;
    groups.set(key, g);
  }
  const out: Finding[] = [];
  for (const [key, g] of groups) {
    const mean = g.total / g.calls;
    if (g.calls < s.thresholds.minCalls! || mean < s.thresholds.minMeanMs!) continue;
    out.push({
      check: 'query.slow',
      severity: s.severity ?? 'info',
      object: `query:${key}`,
      value: Math.round(mean),
      threshold: s.thresholds.minMeanMs!,
      unit: 'ms mean',
      message: `${g.ns}: mean ${Math.round(mean)} ms × ${g.calls} calls, ${g.docs} docs examined for ${g.returned} returned [${g.sample.planSummary ?? '?'}]: ${JSON.stringify(g.sample.command ?? {}).slice(0, 200)}`,
      fix: 'explain it and add the index it needs',
      evidence: { sql: 'db.system.profile', values: { calls: g.calls, totalMs: g.total } },
    });
  }
  return out;
}
