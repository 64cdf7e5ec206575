import { lazySection, once, z } from '../zod.js';

import { isDuration } from '../duration.js';

/**
 * The `schedule:` section: jobs that `dbops schedule run` starts on a cron schedule. Each job's
 * `run:` is a dbops command line (without `dbops`). Cron expressions and time zones are checked
 * by the scheduler (exit 2 naming the job), since they need node-cron and Intl to validate.
 * See docs/retention.md ("Scheduling").
 */

/** The zod schemas of this section, built on first use (see lazySection in ../zod.js). */
const scheduleSchemas = once(() => {
  const nonEmpty = z.string().min(1, 'must not be empty');
  const duration = z
    .union([z.number().nonnegative(), z.string()])
    .refine(isDuration, { message: 'must be a duration such as 30s, 5m' });

  const scheduleJobSchema = z.strictObject({
    name: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'job names use letters, digits, _ . -'),
    /** 5 fields (minute precision) or 6 fields (with seconds first), node-cron syntax. */
    cron: nonEmpty,
    /** IANA zone; default the section's timezone, else UTC. */
    timezone: nonEmpty.optional(),
    /** The dbops command line to run, e.g. `retention run audit-logs` or `backup run --target main`. */
    run: nonEmpty,
    /** `cluster`: only one of several schedulers sharing the lock target runs each tick. */
    lock: z.enum(['none', 'cluster']).optional(),
    /** What to do at start-up about runs missed while no scheduler was up. */
    catchUp: z.enum(['skip', 'once']).optional(),
    /** Kill the job (SIGTERM, then SIGKILL) after this long. */
    timeout: duration.optional(),
    enabled: z.boolean().default(true),
  });

  const section = z
    .strictObject({
      timezone: nonEmpty.default('UTC'),
      lock: z.enum(['none', 'cluster']).default('none'),
      catchUp: z.enum(['skip', 'once']).default('skip'),
      /** PostgreSQL target holding the cluster lock, the last runs and `dbops_job_runs` (default: the default target). */
      lockTarget: nonEmpty.optional(),
      /** Record each run as a row in this table on the lock target (created when missing). */
      history: z
        .strictObject({ table: nonEmpty.default('dbops_job_runs'), keep: duration.optional() })
        .optional(),
      /** Where the last run of each job is kept when no lock target is used. */
      stateFile: nonEmpty.default('.dbops/schedule-state.json'),
      /** On SIGTERM: how long running jobs get to finish their current batch before SIGKILL. */
      shutdownTimeout: duration.default('25s'),
      jobs: z.array(scheduleJobSchema).default([]),
    })
    .superRefine((s, ctx) => {
      const seen = new Set<string>();
      s.jobs.forEach((job, i) => {
        if (seen.has(job.name))
          ctx.addIssue({
            code: 'custom',
            path: ['jobs', i, 'name'],
            message: `duplicate job name "${job.name}"`,
          });
        seen.add(job.name);
      });
    })
    .optional();
  return { scheduleJobSchema, section };
});

export const scheduleSectionSchema = lazySection(() => scheduleSchemas().section);

type Built = ReturnType<typeof scheduleSchemas>;

export type ScheduleJobConfig = z.infer<Built['scheduleJobSchema']>;
export type ScheduleSection = z.infer<Built['section']>;
