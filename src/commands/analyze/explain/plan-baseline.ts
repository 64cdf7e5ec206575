import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

import { ConfigError } from '../../../errors.js';
import type { AnalyzeConfig } from '../../../config/sections/analyze.js';
import { checkSettings } from '../settings.js';
import type { Finding } from '../types.js';
import type { CorpusEntry } from './corpus.js';

/** The plan-regression baseline: per query name, its total cost, shape and per-relation access. */
export const PLAN_BASELINE_FORMAT = 'dbops-plan-baseline';

export interface PlanRecord {
  totalCost: number;
  shapeHash: string;
  shape: string[];
  scans: Record<string, string[]>;
}

export interface PlanBaselineFile {
  format: typeof PLAN_BASELINE_FORMAT;
  version: 1;
  createdAt: string;
  queries: Record<string, PlanRecord>;
}

export async function readPlanBaseline(path: string): Promise<PlanBaselineFile> {
  let data: Partial<PlanBaselineFile>;
  try {
    data = JSON.parse(await readFile(path, 'utf8')) as Partial<PlanBaselineFile>;
  } catch (err) {
    throw new ConfigError(`cannot read plan baseline ${path}: ${(err as Error).message}`, {
      hint: 'record one with --write-baseline',
      cause: err,
    });
  }
  if (data.format !== PLAN_BASELINE_FORMAT || data.version !== 1 || typeof data.queries !== 'object') {
    throw new ConfigError(`${path} is not a dbops plan baseline (format ${PLAN_BASELINE_FORMAT}, version 1)`);
  }
  return data as PlanBaselineFile;
}

export async function writePlanBaseline(path: string, queries: Record<string, PlanRecord>): Promise<void> {
  const file: PlanBaselineFile = {
    format: PLAN_BASELINE_FORMAT,
    version: 1,
    createdAt: new Date().toISOString(),
    queries,
  };
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, `${JSON.stringify(file, null, 2)}\n`);
  await rename(tmp, path);
}

/** Cost growth beyond the allowed percentage, and any change in how a relation is read. */
export function regressionFindings(
  entry: CorpusEntry,
  now: PlanRecord,
  base: PlanRecord | undefined,
  config: AnalyzeConfig,
): Finding[] {
  if (!base) return [];
  const out: Finding[] = [];
  const values = { file: entry.file, line: entry.line, query: entry.name };
  const cost = checkSettings(config, 'plan.cost-regression');
  const growth = base.totalCost > 0 ? (100 * (now.totalCost - base.totalCost)) / base.totalCost : 0;
  if (
    cost.enabled &&
    !entry.allow.includes('plan.cost-regression') &&
    growth > cost.thresholds.maxGrowthPct!
  ) {
    out.push({
      check: 'plan.cost-regression',
      severity: cost.severity ?? 'error',
      object: `query:${entry.name}`,
      value: Math.round(growth * 10) / 10,
      threshold: cost.thresholds.maxGrowthPct!,
      unit: '% cost growth',
      message: `${entry.name}: total cost ${base.totalCost} → ${now.totalCost} (+${growth.toFixed(1)} %)`,
      fix: 'find the schema change behind it; or re-record the baseline with --write-baseline knowingly',
      evidence: {
        values: {
          ...values,
          baseCost: base.totalCost,
          cost: now.totalCost,
          baseShape: base.shape,
          shape: now.shape,
        },
      },
    });
  }
  const shape = checkSettings(config, 'plan.shape-change');
  if (shape.enabled && !entry.allow.includes('plan.shape-change')) {
    for (const rel of new Set([...Object.keys(base.scans), ...Object.keys(now.scans)])) {
      const before = (base.scans[rel] ?? []).join(' + ') || '(not read)';
      const after = (now.scans[rel] ?? []).join(' + ') || '(not read)';
      if (before === after) continue;
      out.push({
        check: 'plan.shape-change',
        severity: shape.severity ?? 'error',
        object: `${entry.name}:${rel}`,
        value: after,
        threshold: before,
        message: `${entry.name}: ${rel} was read by ${before}, now by ${after}`,
        fix: 'restore the index the old plan used, or re-record the baseline knowingly',
        evidence: { values: { ...values, before: base.scans[rel], after: now.scans[rel] } },
      });
    }
  }
  return out;
}
