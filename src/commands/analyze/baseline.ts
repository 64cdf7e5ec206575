import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

import type { AnalyzeCheckId } from '../../config/sections/analyze.js';
import { ConfigError } from '../../errors.js';
import { catalogue } from './catalogue.js';
import { severityRank, type Finding, type GateVerdict, type Severity } from './types.js';

/**
 * The findings baseline (a ratchet): entries are keyed by check id and object identity, never
 * by position, so reordering or unrelated changes never break it. CI fails on findings that are
 * new or got worse; an entry may carry a reason and an expiry date after which it stops counting.
 */
export const BASELINE_FORMAT = 'dbops-analyze-baseline';

export interface BaselineEntry {
  check: AnalyzeCheckId;
  object: string;
  severity: Severity;
  value?: number | string;
  reason?: string;
  /** YYYY-MM-DD */
  expires?: string;
}

export interface BaselineFile {
  format: typeof BASELINE_FORMAT;
  version: 1;
  createdAt: string;
  target?: string;
  entries: BaselineEntry[];
}

/** A value may drift this much (relative) before the finding counts as worse. */
export const WORSE_TOLERANCE = 0.1;

export function findingKey(f: { check: string; object: string }): string {
  return `${f.check}\u0000${f.object}`;
}

export async function readBaseline(path: string): Promise<BaselineFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read baseline ${path}: ${(err as Error).message}`, {
      hint: 'create it with --write-baseline',
      cause: err,
    });
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`baseline ${path} is not JSON: ${(err as Error).message}`, { cause: err });
  }
  const b = data as Partial<BaselineFile>;
  if (b?.format !== BASELINE_FORMAT || b.version !== 1 || !Array.isArray(b.entries)) {
    throw new ConfigError(`${path} is not a dbops analyze baseline (format ${BASELINE_FORMAT}, version 1)`);
  }
  const problems: string[] = [];
  b.entries.forEach((e, i) => {
    if (!e || typeof e.check !== 'string' || !(e.check in catalogue))
      problems.push(`entries[${i}].check: unknown check`);
    if (!e || typeof e.object !== 'string') problems.push(`entries[${i}].object: missing`);
    if (e?.expires !== undefined && !/^\d{4}-\d{2}-\d{2}$/.test(e.expires))
      problems.push(`entries[${i}].expires: not a date YYYY-MM-DD`);
  });
  if (problems.length) throw new ConfigError(`invalid baseline ${path}`, { problems });
  return b as BaselineFile;
}

/** Writes atomically (temp file + rename); keeps reasons and expiry dates of the previous baseline. */
export async function writeBaseline(
  path: string,
  findings: Finding[],
  options: { target?: string; previous?: BaselineFile | undefined; now?: Date } = {},
): Promise<BaselineFile> {
  const old = new Map((options.previous?.entries ?? []).map((e) => [findingKey(e), e]));
  const seen = new Set<string>();
  const entries: BaselineEntry[] = [];
  for (const f of findings) {
    const key = findingKey(f);
    if (seen.has(key)) continue;
    seen.add(key);
    const prev = old.get(key);
    entries.push({
      check: f.check,
      object: f.object,
      severity: f.severity,
      ...(f.value !== undefined ? { value: f.value } : {}),
      ...(prev?.reason ? { reason: prev.reason } : {}),
      ...(prev?.expires ? { expires: prev.expires } : {}),
    });
  }
  entries.sort((a, b) => a.check.localeCompare(b.check) || a.object.localeCompare(b.object));
  const file: BaselineFile = {
    format: BASELINE_FORMAT,
    version: 1,
    createdAt: (options.now ?? new Date()).toISOString(),
    ...(options.target ? { target: options.target } : {}),
    entries,
  };
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, `${JSON.stringify(file, null, 2)}\n`);
  await rename(tmp, path);
  return file;
}

function isWorse(f: Finding, e: BaselineEntry): boolean {
  if (severityRank[f.severity] > severityRank[e.severity]) return true;
  const dir = catalogue[f.check].worseWhen;
  if (dir === 'never' || typeof f.value !== 'number' || typeof e.value !== 'number') return false;
  const margin = Math.abs(e.value) * WORSE_TOLERANCE;
  return dir === 'higher' ? f.value > e.value + margin : f.value < e.value - margin;
}

/**
 * Marks each finding new / known / worse against the baseline and decides the verdict: fail when
 * a finding at or above failOn is new or worse.
 */
export function gate(
  findings: Finding[],
  failOn: Severity,
  baseline: BaselineFile | undefined,
  today = new Date().toISOString().slice(0, 10),
): GateVerdict {
  const live = new Map<string, BaselineEntry>();
  let expired = 0;
  for (const e of baseline?.entries ?? []) {
    if (e.expires !== undefined && e.expires < today) expired++;
    else live.set(findingKey(e), e);
  }
  let failing = 0;
  let newFindings = 0;
  let worseFindings = 0;
  let knownFindings = 0;
  for (const f of findings) {
    const e = live.get(findingKey(f));
    f.baseline = !e ? 'new' : isWorse(f, e) ? 'worse' : 'known';
    if (f.baseline === 'new') newFindings++;
    else if (f.baseline === 'worse') worseFindings++;
    else knownFindings++;
    if (f.baseline !== 'known' && severityRank[f.severity] >= severityRank[failOn]) failing++;
  }
  return {
    failOn,
    failed: failing > 0,
    failing,
    newFindings,
    worseFindings,
    knownFindings,
    expiredBaselineEntries: expired,
    exitCode: failing > 0 ? 1 : 0,
  };
}
