import { afterEach, describe, expect, it, vi } from 'vitest';

import { parseConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';
import { silentLogger } from '../../src/logger.js';
import { exportCrontab, exportKubernetes } from '../../src/commands/schedule/export.js';
import { resolveSchedule, splitArgs, type ScheduledJob } from '../../src/commands/schedule/jobs.js';
import { Scheduler, type RunLine } from '../../src/commands/schedule/scheduler.js';
import { MemoryStateStore } from '../../src/commands/schedule/state.js';
import { dstTransitions, dstWarnings, nextRuns } from '../../src/commands/schedule/timing.js';

const job = (over: Partial<ScheduledJob> = {}): ScheduledJob => ({
  name: 'j',
  cron: '30 2 * * *',
  timezone: 'Europe/Berlin',
  run: 'retention run audit-logs',
  argv: ['retention', 'run', 'audit-logs'],
  lock: 'none',
  catchUp: 'skip',
  timeoutMs: undefined,
  ...over,
});

afterEach(() => {
  vi.useRealTimers();
});

/** Runs the real Scheduler on a fake clock and returns the slots it fired. */
async function firedBetween(j: ScheduledJob, from: string, ms: number, runMs = 0): Promise<RunLine[]> {
  vi.useFakeTimers({ now: new Date(from) });
  const lines: RunLine[] = [];
  const scheduler = new Scheduler([j], {
    runJob: async () => {
      if (runMs) await new Promise((r) => setTimeout(r, runMs));
      return { exitCode: 0 };
    },
    state: new MemoryStateStore(),
    emit: (l) => lines.push(l),
    logger: silentLogger,
  });
  await scheduler.start();
  await vi.advanceTimersByTimeAsync(ms);
  const stopped = scheduler.shutdown(0);
  await vi.advanceTimersByTimeAsync(runMs + 3000);
  await stopped;
  return lines;
}

describe('schedule timing and DST', () => {
  it('runs a 02:30 Europe/Berlin job exactly once on the spring-forward day (right after the jump)', async () => {
    const lines = await firedBetween(job(), '2026-03-28T12:00:00Z', 2 * 86_400_000);
    expect(lines.map((l) => l.slot)).toEqual(['2026-03-29T01:30:00.000Z', '2026-03-30T00:30:00.000Z']);
  });

  it('runs a 02:30 Europe/Berlin job exactly once on the fall-back day (first occurrence)', async () => {
    const lines = await firedBetween(job(), '2026-10-24T12:00:00Z', 2 * 86_400_000);
    expect(lines.map((l) => l.slot)).toEqual(['2026-10-25T00:30:00.000Z', '2026-10-26T01:30:00.000Z']);
  });

  it('defaults to UTC and lists next runs', () => {
    const cfg = parseConfig(
      { schedule: { jobs: [{ name: 'a', cron: '0 3 * * *', run: 'retention run x' }] } },
      undefined,
    );
    const s = resolveSchedule(cfg);
    expect(s.jobs[0]!.timezone).toBe('UTC');
    expect(nextRuns(s.jobs[0]!, new Date('2026-01-01T05:00:00Z'), 2).map((d) => d.toISOString())).toEqual([
      '2026-01-02T03:00:00.000Z',
      '2026-01-03T03:00:00.000Z',
    ]);
  });

  it('finds DST transitions and warns for times in the gap or the overlap', () => {
    const tr = dstTransitions('Europe/Berlin', new Date('2026-01-01T00:00:00Z'));
    expect(tr.map((t) => [t.kind, t.at.toISOString(), t.day])).toEqual([
      ['gap', '2026-03-29T01:00:00.000Z', '2026-03-29'],
      ['overlap', '2026-10-25T01:00:00.000Z', '2026-10-25'],
    ]);
    const w = dstWarnings(job(), new Date('2026-01-01T00:00:00Z'));
    expect(w).toHaveLength(2);
    expect(w[0]).toContain('does not exist on 2026-03-29');
    expect(w[1]).toContain('happens twice on 2026-10-25');
    expect(dstWarnings(job({ cron: '0 4 * * *' }), new Date('2026-01-01T00:00:00Z'))).toEqual([]);
    expect(dstWarnings(job({ timezone: 'UTC' }), new Date('2026-01-01T00:00:00Z'))).toEqual([]);
  });
});

describe('scheduler behaviour', () => {
  it('never overlaps a job with itself: a 1 s job taking 2 s skips the ticks in between', async () => {
    const lines = await firedBetween(
      job({ cron: '* * * * * *', timezone: 'UTC' }),
      '2026-05-01T00:00:00.500Z',
      6_000,
      2_000,
    );
    const ran = lines.filter((l) => l.outcome === 'success');
    const skipped = lines.filter((l) => l.outcome === 'skipped');
    expect(ran.length).toBeGreaterThanOrEqual(2);
    expect(skipped.length).toBeGreaterThanOrEqual(2);
    for (const s of skipped) expect(s.reason).toBe('previous run still running');
    // No two successful runs overlap in time.
    const spans = ran
      .map((l) => [Date.parse(l.start), Date.parse(l.end)] as const)
      .sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < spans.length; i++) expect(spans[i]![0]).toBeGreaterThanOrEqual(spans[i - 1]![1]);
  });

  it('keeps going after a failing job', async () => {
    vi.useFakeTimers({ now: new Date('2026-05-01T00:00:00.500Z') });
    const lines: RunLine[] = [];
    let n = 0;
    const scheduler = new Scheduler([job({ cron: '* * * * * *', timezone: 'UTC' })], {
      runJob: async () => {
        n++;
        if (n === 1) throw new Error('boom');
        return { exitCode: n === 2 ? 3 : 0 };
      },
      state: new MemoryStateStore(),
      emit: (l) => lines.push(l),
      logger: silentLogger,
    });
    await scheduler.start();
    await vi.advanceTimersByTimeAsync(3_200);
    await scheduler.shutdown(0);
    expect(lines.map((l) => l.outcome)).toEqual(['failed', 'failed', 'success']);
    expect(lines[0]!.error).toBe('boom');
    expect(lines[1]!.exitCode).toBe(3);
  });

  it('catchUp once runs a missed tick at start-up; skip does not', async () => {
    for (const catchUp of ['once', 'skip'] as const) {
      vi.useFakeTimers({ now: new Date('2026-05-03T12:00:00Z') });
      const state = new MemoryStateStore();
      await state.record('j', { slot: '2026-05-01T03:00:00.000Z', start: '2026-05-01T03:00:00.000Z' });
      const lines: RunLine[] = [];
      const scheduler = new Scheduler([job({ cron: '0 3 * * *', timezone: 'UTC', catchUp })], {
        runJob: async () => ({ exitCode: 0 }),
        state,
        emit: (l) => lines.push(l),
        logger: silentLogger,
      });
      await scheduler.start();
      await vi.advanceTimersByTimeAsync(1000);
      await scheduler.shutdown(0);
      expect(lines.map((l) => l.slot)).toEqual(catchUp === 'once' ? ['2026-05-03T03:00:00.000Z'] : []);
      vi.useRealTimers();
    }
  });
});

describe('schedule config', () => {
  const cfg = (jobs: unknown[]) => parseConfig({ schedule: { jobs } }, undefined);

  it('names the job on an invalid cron expression or time zone (exit 2)', () => {
    const bad = () =>
      resolveSchedule(cfg([{ name: 'nightly-purge', cron: '61 * * * *', run: 'retention run x' }]));
    expect(bad).toThrow(ConfigError);
    expect(bad).toThrow(/nightly-purge.*invalid cron/);
    const tz = () =>
      resolveSchedule(
        cfg([{ name: 'berlin', cron: '0 3 * * *', timezone: 'Europe/Berlinn', run: 'retention run x' }]),
      );
    expect(tz).toThrow(/berlin.*unknown time zone "Europe\/Berlinn"/);
    try {
      tz();
    } catch (err) {
      expect((err as ConfigError).exitCode).toBe(2);
    }
  });

  it('rejects duplicate names and unknown keys', () => {
    expect(() =>
      cfg([
        { name: 'a', cron: '* * * * *', run: 'x' },
        { name: 'a', cron: '* * * * *', run: 'x' },
      ]),
    ).toThrow(ConfigError);
    expect(() => cfg([{ name: 'a', cron: '* * * * *', run: 'x', nope: 1 }])).toThrow(ConfigError);
  });

  it('splits run strings like a shell', () => {
    expect(splitArgs(`analyze --fail-on error --where "a b" 'c d' e\\ f`)).toEqual([
      'analyze',
      '--fail-on',
      'error',
      '--where',
      'a b',
      'c d',
      'e f',
    ]);
    expect(() => splitArgs('a "b')).toThrow(/unterminated/);
  });

  it('exports crontab lines and Kubernetes CronJobs', () => {
    const jobs = [
      job(),
      job({
        name: 'sessions',
        cron: '*/5 * * * *',
        timezone: 'UTC',
        catchUp: 'once',
        argv: ['retention', 'run', 'user sessions'],
      }),
    ];
    const cron = exportCrontab(jobs, { dbops: '/usr/bin/dbops', configPath: '/etc/dbops.yaml' });
    expect(cron).toContain('CRON_TZ=Europe/Berlin\n');
    expect(cron).toContain(
      '30 2 * * * flock -n /tmp/dbops-job-j.lock /usr/bin/dbops --config /etc/dbops.yaml --yes retention run audit-logs',
    );
    expect(cron).toContain("retention run 'user sessions'");
    const k8s = exportKubernetes(jobs, { image: 'ghcr.io/acme/dbops:1', configMap: 'cm', secret: 's' });
    expect(k8s).toContain('kind: CronJob');
    expect(k8s).toContain('timeZone: Europe/Berlin');
    expect(k8s).toContain('concurrencyPolicy: Forbid');
    expect(k8s).toContain('startingDeadlineSeconds: 86400');
    expect(k8s.split('---\n')).toHaveLength(2);
    expect(() =>
      exportCrontab([job({ cron: '*/10 * * * * *' })], { dbops: 'dbops', configPath: undefined }),
    ).toThrow(/seconds/);
  });
});
