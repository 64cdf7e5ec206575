import type { PruneConfig } from '../../config/schema.js';
import { parseDuration as parseDurationMs } from '../../config/duration.js';
import { ConfigError } from '../../errors.js';

/**
 * Grandfather-father-son selection, pure. Backups are ordered by their recorded time (never by name:
 * WAL-G's retention deleted the newest backups after an upgrade because it ordered by name). Each
 * bucket rule keeps the newest backup of each of the N most recent calendar buckets (UTC) that hold
 * a backup, as restic and Borg do; a backup kept by several rules lists every reason.
 */
export interface PruneCandidate {
  id: string;
  /** When the backup finished (its data is consistent as of about then). */
  time: Date;
  /** Passed `backup verify` last time it was run. */
  verified: boolean;
}

export type PrunePolicy = PruneConfig;

export interface PruneDecision {
  id: string;
  time: Date;
  keep: boolean;
  /** Why it is kept (empty when it goes). */
  reasons: string[];
}

/** `30d`, `12h`, `2w`, `1d12h` → milliseconds (a year is 365 days). */
export function parseDuration(text: string): number {
  try {
    return parseDurationMs(text);
  } catch {
    throw new ConfigError(`invalid duration "${text}"`, {
      hint: 'use NUMBER+UNIT groups with units s m h d w y, e.g. 7d, 36h, 1d12h',
    });
  }
}

export function hasAnyRule(p: PrunePolicy): boolean {
  return (
    (p.keepLast ?? 0) > 0 ||
    (p.keepDaily ?? 0) > 0 ||
    (p.keepWeekly ?? 0) > 0 ||
    (p.keepMonthly ?? 0) > 0 ||
    (p.keepYearly ?? 0) > 0 ||
    p.keepWithin !== undefined
  );
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** ISO 8601 week of a UTC date: `2024-W05` (weeks start on Monday; week 1 holds the year's first Thursday). */
export function isoWeek(d: Date): string {
  const t = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
  const dayNum = t.getUTCDay() || 7; // Monday 1 … Sunday 7
  t.setUTCDate(t.getUTCDate() + 4 - dayNum); // the Thursday of this week decides its year
  const yearStart = Date.UTC(t.getUTCFullYear(), 0, 1);
  const week = Math.ceil(((t.getTime() - yearStart) / 86_400_000 + 1) / 7);
  return `${t.getUTCFullYear()}-W${pad(week)}`;
}

const BUCKETS: {
  rule: 'keepDaily' | 'keepWeekly' | 'keepMonthly' | 'keepYearly';
  name: string;
  of: (d: Date) => string;
}[] = [
  {
    rule: 'keepDaily',
    name: 'daily',
    of: (d) => `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`,
  },
  { rule: 'keepWeekly', name: 'weekly', of: isoWeek },
  { rule: 'keepMonthly', name: 'monthly', of: (d) => `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}` },
  { rule: 'keepYearly', name: 'yearly', of: (d) => String(d.getUTCFullYear()) },
];

/**
 * Decides for every backup of one target whether it is kept and why. Two floors hold whatever the
 * policy says: the newest backup is always kept, and so is the newest verified-good one — a policy
 * typo must never leave an operator without a restorable backup.
 */
export function selectPrune(
  backups: readonly PruneCandidate[],
  policy: PrunePolicy,
  now: Date,
): PruneDecision[] {
  if (!hasAnyRule(policy)) {
    throw new ConfigError('no retention rule given: prune would delete every backup but the newest', {
      hint: 'pass --keep-last/--keep-daily/--keep-weekly/--keep-monthly/--keep-yearly/--keep-within, or set repositories.<name>.prune',
    });
  }
  const sorted = [...backups].sort((a, b) => b.time.getTime() - a.time.getTime() || (a.id < b.id ? 1 : -1));
  const reasons = new Map<string, string[]>(sorted.map((b) => [b.id, []]));
  const add = (id: string, why: string) => reasons.get(id)!.push(why);

  const last = policy.keepLast ?? 0;
  sorted.slice(0, last).forEach((b, i) => add(b.id, `last ${i + 1}/${last}`));

  for (const bucket of BUCKETS) {
    const n = policy[bucket.rule] ?? 0;
    if (n <= 0) continue;
    const seen = new Set<string>();
    for (const b of sorted) {
      const key = bucket.of(b.time);
      if (seen.has(key)) continue;
      if (seen.size >= n) break;
      seen.add(key);
      add(b.id, `${bucket.name} ${key}`);
    }
  }

  if (policy.keepWithin !== undefined) {
    const since = now.getTime() - parseDuration(policy.keepWithin);
    for (const b of sorted) if (b.time.getTime() >= since) add(b.id, `within ${policy.keepWithin}`);
  }

  const newest = sorted[0];
  if (newest) add(newest.id, 'newest backup');
  const newestVerified = sorted.find((b) => b.verified);
  if (newestVerified) add(newestVerified.id, 'newest verified backup');

  return sorted.map((b) => {
    const r = reasons.get(b.id)!;
    return { id: b.id, time: b.time, keep: r.length > 0, reasons: r };
  });
}
