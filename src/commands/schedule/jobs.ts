import cron from 'node-cron';

import type { Config } from '../../config/schema.js';
import type { ScheduleJobConfig } from '../../config/sections/schedule.js';
import { ConfigError } from '../../errors.js';
import { parseDuration } from '../../config/duration.js';

export interface ScheduledJob {
  name: string;
  cron: string;
  timezone: string;
  /** The `run:` string and its argv (without `dbops`). */
  run: string;
  argv: string[];
  lock: 'none' | 'cluster';
  catchUp: 'skip' | 'once';
  timeoutMs: number | undefined;
}

export interface ScheduleSettings {
  jobs: ScheduledJob[];
  lockTarget: string | undefined;
  historyTable: string | undefined;
  historyKeepMs: number | undefined;
  stateFile: string;
  shutdownTimeoutMs: number;
}

/** Splits a command line like a POSIX shell would for plain words and quotes (no expansion). */
export function splitArgs(line: string): string[] {
  const out: string[] = [];
  let current = '';
  let has = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quote) {
      if (ch === quote) quote = undefined;
      else if (ch === '\\' && quote === '"' && i + 1 < line.length) current += line[++i];
      else current += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      has = true;
    } else if (ch === '\\' && i + 1 < line.length) {
      current += line[++i];
      has = true;
    } else if (/\s/.test(ch)) {
      if (has || current) out.push(current);
      current = '';
      has = false;
    } else {
      current += ch;
      has = true;
    }
  }
  if (quote) throw new Error(`unterminated ${quote} quote`);
  if (has || current) out.push(current);
  return out;
}

export function isValidTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** Commands a job may run: the scheduler itself (and interactive ones) would make no sense. */
const FORBIDDEN = new Set(['schedule', 'sandbox']);

function resolveJob(
  job: ScheduleJobConfig,
  defaults: { timezone: string; lock: 'none' | 'cluster'; catchUp: 'skip' | 'once' },
): {
  job?: ScheduledJob;
  problems: string[];
} {
  const problems: string[] = [];
  const where = `schedule job "${job.name}"`;
  const detailed = cron.validateDetailed(job.cron);
  if (!detailed.valid) {
    const why = detailed.errors
      .map((e) => `${e.field}${e.value !== undefined ? ` "${e.value}"` : ''}: ${e.message}`)
      .join('; ');
    problems.push(`${where}: invalid cron expression "${job.cron}"${why ? ` (${why})` : ''}`);
  }
  const timezone = job.timezone ?? defaults.timezone;
  if (!isValidTimeZone(timezone))
    problems.push(`${where}: unknown time zone "${timezone}" (use an IANA name such as Europe/Berlin)`);
  let argv: string[] = [];
  try {
    argv = splitArgs(job.run);
    if (argv.length === 0) problems.push(`${where}: run is empty`);
    else if (FORBIDDEN.has(argv[0]!)) problems.push(`${where}: cannot run "${argv[0]}" from the scheduler`);
  } catch (err) {
    problems.push(`${where}: run: ${(err as Error).message}`);
  }
  if (problems.length > 0) return { problems };
  return {
    problems,
    job: {
      name: job.name,
      cron: job.cron.trim(),
      timezone,
      run: job.run,
      argv,
      lock: job.lock ?? defaults.lock,
      catchUp: job.catchUp ?? defaults.catchUp,
      timeoutMs: job.timeout === undefined ? undefined : parseDuration(job.timeout),
    },
  };
}

/** Every enabled job, validated: a bad cron expression or time zone is exit 2 naming the job. */
export function resolveSchedule(config: Config, only?: string): ScheduleSettings {
  const section = config.schedule;
  const configured = (section?.jobs ?? []).filter((j) => j.enabled || j.name === only);
  if (only !== undefined && !configured.some((j) => j.name === only)) {
    throw new ConfigError(`no schedule job named "${only}"`, {
      hint: configured.length
        ? `jobs: ${configured.map((j) => j.name).join(', ')}`
        : 'no jobs are configured',
    });
  }
  const defaults = {
    timezone: section?.timezone ?? 'UTC',
    lock: section?.lock ?? 'none',
    catchUp: section?.catchUp ?? 'skip',
  };
  const problems: string[] = [];
  const jobs: ScheduledJob[] = [];
  for (const j of configured) {
    if (only !== undefined && j.name !== only) continue;
    const r = resolveJob(j, defaults);
    problems.push(...r.problems);
    if (r.job) jobs.push(r.job);
  }
  if (problems.length > 0) {
    throw new ConfigError(
      problems.length === 1 ? problems[0]! : `${problems.length} schedule jobs are invalid`,
      {
        problems: problems.length === 1 ? [] : problems,
      },
    );
  }
  return {
    jobs,
    lockTarget: section?.lockTarget,
    historyTable: section?.history?.table,
    historyKeepMs: section?.history?.keep === undefined ? undefined : parseDuration(section.history.keep),
    stateFile: section?.stateFile ?? '.dbops/schedule-state.json',
    shutdownTimeoutMs: parseDuration(section?.shutdownTimeout ?? '25s'),
  };
}
