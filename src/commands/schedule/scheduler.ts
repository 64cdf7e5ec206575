import type { Logger } from '../../logger.js';
import type { ClusterClaim } from './cluster-lock.js';
import type { ScheduledJob } from './jobs.js';
import type { StateStore } from './state.js';
import { nextRun, previousRun } from './timing.js';

export interface JobRunResult {
  exitCode: number;
  summary?: unknown;
  error?: string;
}

/** Runs one job to completion; on abort it must stop the job gracefully (then forcefully). */
export type JobRunner = (job: ScheduledJob, slot: Date, signal: AbortSignal) => Promise<JobRunResult>;

/** The one JSON line logged per run (and per skipped tick). */
export interface RunLine {
  job: string;
  slot: string;
  start: string;
  end: string;
  durationMs: number;
  outcome: 'success' | 'failed' | 'skipped';
  reason?: string;
  exitCode?: number;
  summary?: unknown;
  error?: string;
  catchUp?: boolean;
}

export interface Coordinator {
  claim(job: string, slot: Date): Promise<ClusterClaim | { skipped: string }>;
  recordHistory(
    job: string,
    slot: Date,
    start: Date | undefined,
    end: Date,
    outcome: string,
    exitCode: number | undefined,
    summary: unknown,
  ): Promise<void>;
}

export interface SchedulerDeps {
  runJob: JobRunner;
  state: StateStore;
  /** Needed by `lock: cluster` jobs and by the history table. */
  coordinator?: Coordinator;
  emit: (line: RunLine) => void;
  logger: Logger;
}

/** setTimeout cannot wait longer than ~24.8 days; long waits are re-armed in steps. */
const MAX_TIMER_MS = 3_600_000;
/** A tick that fires this late (event loop blocked, machine asleep) still runs; later ones are skipped. */
const LATE_TOLERANCE_MS = 5_000;

/**
 * The long-running scheduler. Timing: one timer per job, armed for the next run computed by
 * cron-parser (see timing.ts for why not node-cron's matcher). The same job never overlaps
 * itself: a tick that comes while the previous run is busy is logged as skipped, not queued.
 * A failing job is logged and the scheduler goes on.
 */
export class Scheduler {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly busy = new Set<string>();
  private readonly inFlight = new Set<Promise<void>>();
  private readonly abort = new AbortController();
  private stopped = false;

  constructor(
    private readonly jobs: ScheduledJob[],
    private readonly deps: SchedulerDeps,
  ) {}

  /** Catch-up (per job's catchUp), then arms every job's timer. */
  async start(): Promise<void> {
    for (const job of this.jobs) {
      if (job.catchUp === 'once') {
        const now = new Date();
        const missed = previousRun(job, now);
        const last = await this.deps.state.lastRun(job.name).catch(() => undefined);
        if (missed && last && new Date(last.slot).getTime() < missed.getTime()) {
          this.deps.logger.info(
            `job ${job.name}: missed the run of ${missed.toISOString()} while down; running it once now`,
          );
          this.fire(job, missed, true);
        }
      }
      this.arm(job, new Date());
    }
  }

  private arm(job: ScheduledJob, after: Date): void {
    if (this.stopped) return;
    const next = nextRun(job, after);
    const wait = (): void => {
      const delay = next.getTime() - Date.now();
      if (delay > 0) {
        this.timers.set(job.name, setTimeout(wait, Math.min(delay, MAX_TIMER_MS)));
        return;
      }
      if (-delay <= LATE_TOLERANCE_MS) this.fire(job, next, false);
      else
        this.deps.logger.warn(
          `job ${job.name}: missed the run of ${next.toISOString()} (${Math.round(-delay / 1000)} s late)`,
        );
      this.arm(job, new Date(Math.max(next.getTime(), Date.now() - LATE_TOLERANCE_MS)));
    };
    wait();
  }

  /** Runs a job now for `slot` (also used by `schedule run --once`). */
  fire(job: ScheduledJob, slot: Date, catchUp: boolean): Promise<void> {
    const start = new Date();
    const base = {
      job: job.name,
      slot: slot.toISOString(),
      start: start.toISOString(),
      ...(catchUp ? { catchUp } : {}),
    };
    if (this.busy.has(job.name)) {
      const end = new Date();
      this.deps.emit({
        ...base,
        end: end.toISOString(),
        durationMs: 0,
        outcome: 'skipped',
        reason: 'previous run still running',
      });
      return Promise.resolve();
    }
    this.busy.add(job.name);
    const run = (async () => {
      let claim: ClusterClaim | undefined;
      let line: RunLine;
      try {
        if (job.lock === 'cluster') {
          if (!this.deps.coordinator) throw new Error('lock: cluster needs a PostgreSQL lock target');
          const c = await this.deps.coordinator.claim(job.name, slot);
          if ('skipped' in c) {
            const end = new Date();
            this.deps.emit({
              ...base,
              end: end.toISOString(),
              durationMs: end.getTime() - start.getTime(),
              outcome: 'skipped',
              reason: c.skipped,
            });
            return;
          }
          claim = c;
        }
        const result = await this.deps.runJob(job, slot, this.abort.signal);
        const end = new Date();
        line = {
          ...base,
          end: end.toISOString(),
          durationMs: end.getTime() - start.getTime(),
          outcome: result.exitCode === 0 ? 'success' : 'failed',
          exitCode: result.exitCode,
          ...(result.summary !== undefined ? { summary: result.summary } : {}),
          ...(result.error ? { error: result.error } : {}),
        };
      } catch (err) {
        const end = new Date();
        line = {
          ...base,
          end: end.toISOString(),
          durationMs: end.getTime() - start.getTime(),
          outcome: 'failed',
          error: (err as Error).message,
        };
      }
      try {
        await this.deps.state.record(job.name, {
          slot: line.slot,
          start: line.start,
          end: line.end,
          outcome: line.outcome,
        });
        const end = new Date(line.end);
        if (claim)
          await claim.release({
            end,
            outcome: line.outcome,
            ...(line.exitCode !== undefined ? { exitCode: line.exitCode } : {}),
            summary: line.summary,
          });
        // A cluster job without a claim never ran here (the claim itself failed): no history row.
        else if (job.lock !== 'cluster')
          await this.deps.coordinator?.recordHistory(
            job.name,
            slot,
            start,
            end,
            line.outcome,
            line.exitCode,
            line.summary,
          );
      } catch (err) {
        this.deps.logger.error(`job ${job.name}: cannot record the run: ${(err as Error).message}`);
      }
      this.deps.emit(line);
    })()
      .catch((err: unknown) => this.deps.logger.error(`job ${job.name}: ${(err as Error).message}`))
      .finally(() => {
        this.busy.delete(job.name);
        this.inFlight.delete(run);
      });
    this.inFlight.add(run);
    return run;
  }

  get runningJobs(): string[] {
    return [...this.busy];
  }

  /** Stops the timers; running jobs are asked to stop (SIGTERM) and waited for up to graceMs. */
  async shutdown(graceMs: number): Promise<void> {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    this.abort.abort();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.inFlight]),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, graceMs + 2000);
      }),
    ]);
    clearTimeout(timer);
  }

  /** Resolves when every in-flight run is done (tests, --once). */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }
}
