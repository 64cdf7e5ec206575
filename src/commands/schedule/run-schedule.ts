import { resolve } from 'node:path';

import type { Config } from '../../config/schema.js';
import { withPostgres } from '../../connections/postgres/handle.js';
import type { ResolvedTarget } from '../../connections/target.js';
import { ConfigError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { childProcessRunner } from './child-runner.js';
import { ClusterCoordinator } from './cluster-lock.js';
import { exportCrontab, exportKubernetes } from './export.js';
import { resolveSchedule, type ScheduledJob, type ScheduleSettings } from './jobs.js';
import { Scheduler, type JobRunner, type RunLine } from './scheduler.js';
import { FileStateStore, type LastRun, type StateStore } from './state.js';
import { dstWarnings, nextRuns } from './timing.js';

export interface ScheduleDeps {
  config: Config;
  /** Absolute path of the config file, passed on to jobs. */
  configPath: string | undefined;
  target: (name?: string) => Promise<ResolvedTarget>;
  logger: Logger;
  signal: AbortSignal;
  /** Receives one line per run (the CLI prints it as JSON on stdout). */
  emit: (line: RunLine) => void;
  /** Tests inject an in-process runner; default: a child dbops process per run. */
  runJob?: JobRunner;
}

export interface ScheduleRunResult {
  jobs: number;
  runs: number;
  failed: number;
  /** `--once`: the job's exit code. */
  exitCode: number;
}

function needsDatabase(settings: ScheduleSettings): boolean {
  return settings.historyTable !== undefined || settings.jobs.some((j) => j.lock === 'cluster');
}

/** Per job: cluster jobs keep their last run in the database, the others in the state file. */
function stateStore(
  settings: ScheduleSettings,
  file: FileStateStore,
  cluster: ClusterCoordinator | undefined,
): StateStore {
  const clustered = new Set(settings.jobs.filter((j) => j.lock === 'cluster').map((j) => j.name));
  return {
    lastRun: (job) => (cluster && clustered.has(job) ? cluster.lastRun(job) : file.lastRun(job)),
    record: (job, run) => file.record(job, run),
  };
}

/** `dbops schedule run [--once JOB]`: runs until SIGTERM/SIGINT, then lets running jobs finish. */
export async function scheduleRun(
  options: { once?: string },
  deps: ScheduleDeps,
): Promise<ScheduleRunResult> {
  const settings = resolveSchedule(deps.config, options.once);
  if (settings.jobs.length === 0) {
    throw new ConfigError('no schedule jobs are configured', {
      hint: 'add schedule: jobs: to the config (see docs/retention.md)',
    });
  }
  const now = new Date();
  for (const job of settings.jobs) for (const w of dstWarnings(job, now)) deps.logger.warn(w);
  const file = new FileStateStore(resolve(settings.stateFile));
  const runJob =
    deps.runJob ??
    childProcessRunner({
      configPath: deps.configPath,
      graceMs: settings.shutdownTimeoutMs,
      logger: deps.logger,
    });

  const body = async (cluster: ClusterCoordinator | undefined): Promise<ScheduleRunResult> => {
    let runs = 0;
    let failed = 0;
    let lastExit = 0;
    const scheduler = new Scheduler(settings.jobs, {
      runJob,
      state: stateStore(settings, file, cluster),
      ...(cluster ? { coordinator: cluster } : {}),
      logger: deps.logger,
      emit: (line) => {
        if (line.outcome !== 'skipped') runs++;
        if (line.outcome === 'failed') failed++;
        lastExit = line.outcome === 'failed' ? (line.exitCode && line.exitCode > 0 ? line.exitCode : 1) : 0;
        deps.emit(line);
      },
    });
    if (options.once) {
      const onAbort = () => void scheduler.shutdown(settings.shutdownTimeoutMs);
      deps.signal.addEventListener('abort', onAbort, { once: true });
      await scheduler.fire(settings.jobs[0]!, new Date(), false);
      deps.signal.removeEventListener('abort', onAbort);
      return { jobs: 1, runs, failed, exitCode: lastExit };
    }
    deps.logger.info(
      `scheduler started: ${settings.jobs.map((j) => `${j.name} (${j.cron} ${j.timezone}${j.lock === 'cluster' ? ', cluster' : ''})`).join(', ')}`,
    );
    await scheduler.start();
    await new Promise<void>((resolveWait) => {
      if (deps.signal.aborted) resolveWait();
      deps.signal.addEventListener('abort', () => resolveWait(), { once: true });
    });
    const running = scheduler.runningJobs;
    if (running.length)
      deps.logger.info(`stopping: waiting for ${running.join(', ')} to finish the current batch`);
    await scheduler.shutdown(settings.shutdownTimeoutMs);
    return { jobs: settings.jobs.length, runs, failed, exitCode: 0 };
  };

  if (!needsDatabase(settings)) return body(undefined);
  const target = await deps.target(settings.lockTarget);
  if (target.engine !== 'postgres') {
    throw new ConfigError(
      `schedule: the lock target ${target.name} must be PostgreSQL (lock: cluster and history use it)`,
    );
  }
  return withPostgres(
    target,
    (pg) =>
      body(
        new ClusterCoordinator(
          pg,
          settings.historyTable
            ? { table: settings.historyTable, keepMs: settings.historyKeepMs }
            : undefined,
        ),
      ),
    { logger: deps.logger, maxConnections: Math.max(4, settings.jobs.length * 2 + 1) },
  );
}

export interface ScheduleListEntry {
  name: string;
  cron: string;
  timezone: string;
  run: string;
  lock: 'none' | 'cluster';
  catchUp: 'skip' | 'once';
  next: string[];
  lastRun: LastRun | null;
  warnings: string[];
}

/** `dbops schedule list`: every job with its next run times and DST warnings. */
export async function scheduleList(
  options: { count: number; now?: Date },
  deps: Pick<ScheduleDeps, 'config'>,
): Promise<{ jobs: ScheduleListEntry[] }> {
  const settings = resolveSchedule(deps.config);
  const now = options.now ?? new Date();
  const file = new FileStateStore(resolve(settings.stateFile));
  return {
    jobs: await Promise.all(
      settings.jobs.map(async (job) => ({
        name: job.name,
        cron: job.cron,
        timezone: job.timezone,
        run: job.run,
        lock: job.lock,
        catchUp: job.catchUp,
        next: nextRuns(job, now, options.count).map((d) => d.toISOString()),
        lastRun: (await file.lastRun(job.name)) ?? null,
        warnings: dstWarnings(job, now),
      })),
    ),
  };
}

export type ExportOptions =
  | { kind: 'crontab'; dbops: string; configPath: string | undefined }
  | { kind: 'kubernetes'; image: string; configMap: string; secret: string; namespace?: string };

/** `dbops schedule export --crontab | --kubernetes`: the same jobs for the platform's scheduler. */
export function scheduleExport(options: ExportOptions, deps: Pick<ScheduleDeps, 'config'>): string {
  const jobs: ScheduledJob[] = resolveSchedule(deps.config).jobs;
  if (jobs.length === 0) throw new ConfigError('no schedule jobs are configured');
  return options.kind === 'crontab' ? exportCrontab(jobs, options) : exportKubernetes(jobs, options);
}
