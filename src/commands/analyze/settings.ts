import {
  analyzeCheckIds,
  analyzeSchemas,
  analyzeThresholdDefaults,
  type AnalyzeAllowEntry,
  type AnalyzeCheckId,
  type AnalyzeConfig,
} from '../../config/sections/analyze.js';
import { parseDuration as parseDurationMs } from '../../config/duration.js';
import { ConfigError } from '../../errors.js';
import { catalogue, groups } from './catalogue.js';
import type { CheckGroup, Severity } from './types.js';

/** Seconds in a duration (`14d`, `12h`, `30m`, `500ms`; a bare number is seconds). */
export function parseDuration(value: string | number, what = 'duration'): number {
  if (typeof value === 'number' || /^\s*\d+(\.\d+)?\s*$/.test(value)) return Number(value);
  try {
    return parseDurationMs(value) / 1000;
  } catch {
    throw new ConfigError(`${what}: "${value}" is not a duration`, {
      hint: 'use e.g. 14d, 12h, 30m, 90s or 0',
    });
  }
}

/** The analyze section with every default filled in (the section itself is optional). */
export function analyzeConfigOf(section: AnalyzeConfig | undefined): AnalyzeConfig {
  return section ?? analyzeSchemas().section.unwrap().parse({});
}

export interface CheckSettings {
  enabled: boolean;
  severity: Severity | undefined;
  thresholds: Record<string, number>;
}

export function checkSettings(config: AnalyzeConfig, id: AnalyzeCheckId): CheckSettings {
  const o = (config.checks as Record<string, Record<string, unknown> | undefined>)[id] ?? {};
  const thresholds: Record<string, number> = { ...analyzeThresholdDefaults[id] };
  for (const [k, v] of Object.entries(o)) if (typeof v === 'number') thresholds[k] = v;
  return {
    enabled: o.enabled !== false,
    severity: o.severity as Severity | undefined,
    thresholds,
  };
}

const groupNames = Object.keys(groups) as CheckGroup[];

/**
 * The checks to run: every check of the engine, or the named ids and groups
 * (`indexes`, `tables`, …). Unknown names are a usage error that lists the valid ones.
 */
export function selectChecks(
  names: string[],
  engine: 'postgres' | 'mongodb',
  config: AnalyzeConfig,
): AnalyzeCheckId[] {
  // Live MongoDB checks include the ones whose PostgreSQL twin shares the id (activity.long-running).
  const mongoLive = [
    'index.unused',
    'index.redundant',
    'collection.index-size',
    'activity.long-running',
    'query.slow',
  ];
  const forEngine = (id: AnalyzeCheckId) =>
    (engine === 'mongodb' ? mongoLive.includes(id) : catalogue[id].engines.includes(engine)) &&
    catalogue[id].group !== 'plans';
  let wanted: AnalyzeCheckId[];
  if (names.length === 0) {
    wanted = analyzeCheckIds.filter((id) => forEngine(id) && checkSettings(config, id).enabled);
  } else {
    const set = new Set<AnalyzeCheckId>();
    const unknown: string[] = [];
    for (const name of names) {
      if ((groupNames as string[]).includes(name)) {
        for (const id of groups[name as CheckGroup]) if (forEngine(id)) set.add(id);
      } else if ((analyzeCheckIds as string[]).includes(name)) {
        set.add(name as AnalyzeCheckId);
      } else unknown.push(name);
    }
    if (unknown.length) {
      throw new ConfigError(`unknown check or group: ${unknown.join(', ')}`, {
        hint: `groups: ${groupNames.filter((g) => g !== 'plans').join(', ')}; checks: ${analyzeCheckIds
          .filter(forEngine)
          .join(', ')}`,
      });
    }
    wanted = [...set];
  }
  return wanted;
}

function globMatch(pattern: string, value: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('*')) return value.startsWith(pattern.slice(0, -1));
  return pattern === value;
}

function expiryOf(entry: { expires?: string | Date | undefined }): string | undefined {
  if (entry.expires === undefined) return undefined;
  return entry.expires instanceof Date ? entry.expires.toISOString().slice(0, 10) : entry.expires;
}

/** An allow-list entry silencing this finding (not expired), if any. */
export function allowedBy(
  allow: AnalyzeAllowEntry[],
  check: AnalyzeCheckId,
  object: string,
  today = new Date().toISOString().slice(0, 10),
): AnalyzeAllowEntry | undefined {
  return allow.find((a) => {
    const expires = expiryOf(a);
    if (expires !== undefined && expires < today) return false;
    const checkOk =
      a.check === '*' || a.check === check || (groups[a.check as CheckGroup]?.includes(check) ?? false);
    return checkOk && globMatch(a.object, object);
  });
}
