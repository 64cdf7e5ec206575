import { CronExpressionParser } from 'cron-parser';

import type { ScheduledJob } from './jobs.js';

/**
 * When a job fires. cron-parser decides, not node-cron's matcher: node-cron 4.6 skips a daily
 * job whose local time falls in the spring-forward gap for that whole day (02:30 Europe/Berlin on
 * 2026-03-29 never runs), and on the fall-back day it fires on the second 02:30. cron-parser runs
 * a gap time once, right after the jump (03:30 CEST), and an overlap time once, on its first
 * occurrence — what an operator expects from "every day at 02:30". Verified in the unit tests.
 */
export function nextRun(job: Pick<ScheduledJob, 'cron' | 'timezone'>, after: Date): Date {
  const it = CronExpressionParser.parse(job.cron, { tz: job.timezone, currentDate: after });
  return it.next().toDate();
}

export function nextRuns(job: Pick<ScheduledJob, 'cron' | 'timezone'>, after: Date, count: number): Date[] {
  const it = CronExpressionParser.parse(job.cron, { tz: job.timezone, currentDate: after });
  return Array.from({ length: count }, () => it.next().toDate());
}

/** The latest planned run at or before `at` (for catch-up after downtime). */
export function previousRun(job: Pick<ScheduledJob, 'cron' | 'timezone'>, at: Date): Date | undefined {
  try {
    const it = CronExpressionParser.parse(job.cron, {
      tz: job.timezone,
      currentDate: new Date(at.getTime() + 1),
    });
    return it.prev().toDate();
  } catch {
    return undefined;
  }
}

/** UTC offset of `zone` at `at`, in minutes. */
const formatters = new Map<string, Intl.DateTimeFormat>();

export function offsetMinutes(zone: string, at: Date): number {
  let fmt = formatters.get(zone);
  if (!fmt) {
    fmt = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(zone, fmt);
  }
  const parts = fmt.formatToParts(at);
  const get = (t: string) => Number(parts.find((p) => p.type === t)!.value);
  const asUtc = Date.UTC(
    get('year'),
    get('month') - 1,
    get('day'),
    get('hour'),
    get('minute'),
    get('second'),
  );
  return Math.round((asUtc - Math.floor(at.getTime() / 1000) * 1000) / 60_000);
}

export interface DstTransition {
  /** The instant the offset changes. */
  at: Date;
  fromOffset: number;
  toOffset: number;
  kind: 'gap' | 'overlap';
  /** Local wall-clock minutes-of-day [start, end) that are skipped (gap) or happen twice (overlap). */
  localStart: number;
  localEnd: number;
  /** Local date (YYYY-MM-DD). */
  day: string;
}

/** Offset changes of `zone` within [from, from + days), found hourly then to the minute. */
export function dstTransitions(zone: string, from: Date, days = 366): DstTransition[] {
  const out: DstTransition[] = [];
  const hour = 3_600_000;
  let t = Math.floor(from.getTime() / hour) * hour;
  const end = t + days * 86_400_000;
  let prev = offsetMinutes(zone, new Date(t));
  for (t += hour; t <= end; t += hour) {
    const cur = offsetMinutes(zone, new Date(t));
    if (cur === prev) continue;
    let lo = t - hour;
    let hi = t;
    while (hi - lo > 60_000) {
      const mid = Math.floor((lo + hi) / 2 / 60_000) * 60_000;
      if (offsetMinutes(zone, new Date(mid)) === prev) lo = mid;
      else hi = mid;
    }
    const at = new Date(hi);
    const localBefore = (hi / 60_000 + prev) % 1440;
    const localAfter = (hi / 60_000 + cur) % 1440;
    const gap = cur > prev;
    const day = new Date(hi + cur * 60_000).toISOString().slice(0, 10);
    out.push({
      at,
      fromOffset: prev,
      toOffset: cur,
      kind: gap ? 'gap' : 'overlap',
      localStart: gap ? localBefore : localAfter,
      localEnd: gap ? localAfter : localBefore,
      day,
    });
    prev = cur;
  }
  return out;
}

/** Expands the minute and hour fields of a cron expression (5 or 6 fields). */
function minutesOfDay(expr: string): number[] | undefined {
  try {
    const fields = CronExpressionParser.parse(expr, { tz: 'UTC' }).fields;
    const out: number[] = [];
    for (const h of fields.hour.values)
      for (const m of fields.minute.values) out.push(Number(h) * 60 + Number(m));
    return out;
  } catch {
    return undefined;
  }
}

const hhmm = (m: number) =>
  `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;

/**
 * Start-up warnings for a job whose local time falls into a DST gap (it runs once, right after
 * the jump) or overlap (it runs once, at the first occurrence) in the coming year.
 */
export function dstWarnings(job: Pick<ScheduledJob, 'name' | 'cron' | 'timezone'>, from: Date): string[] {
  if (job.timezone === 'UTC' || job.timezone === 'Etc/UTC') return [];
  const minutes = minutesOfDay(job.cron);
  if (!minutes) return [];
  const warnings: string[] = [];
  for (const tr of dstTransitions(job.timezone, from)) {
    const hits = minutes.filter((m) => m >= tr.localStart && m < tr.localEnd);
    if (hits.length === 0) continue;
    const times = hits.slice(0, 3).map(hhmm).join(', ') + (hits.length > 3 ? ', …' : '');
    warnings.push(
      tr.kind === 'gap'
        ? `job ${job.name}: ${times} does not exist on ${tr.day} in ${job.timezone} (clocks jump ${hhmm(tr.localStart)} → ${hhmm(tr.localEnd)}); it runs once, right after the jump`
        : `job ${job.name}: ${times} happens twice on ${tr.day} in ${job.timezone} (clocks go back ${hhmm(tr.localEnd)} → ${hhmm(tr.localStart)}); it runs once, at the first occurrence`,
    );
  }
  return warnings;
}
