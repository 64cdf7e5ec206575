import type { Command } from 'commander';

import { createContext } from '../../cli/action.js';
import { setExitCode } from '../../cli/exit-code.js';
import { render } from '../../cli/render/output.js';
import { table } from '../../cli/render/table.js';
import type { ScheduleListEntry } from './run-schedule.js';

export function register(program: Command): void {
  const schedule = program
    .command('schedule')
    .description('run configured jobs on cron schedules (or export them to crontab / Kubernetes)');

  schedule
    .command('run')
    .description(
      'long-running scheduler: one JSON line per run on stdout; SIGTERM lets running jobs finish their batch',
    )
    .option('--once <job>', 'run this job once now (with its lock) and exit with its exit code')
    .addHelpText(
      'after',
      '\nExit 2 when a job has an invalid cron expression or time zone (the message names the job).',
    )
    .action(async (opts: { once?: string }, cmd: Command) => {
      const ctx = await createContext(cmd);
      const { config, path } = await ctx.loadConfig();
      const { scheduleRun } = await import('./run-schedule.js');
      const result = await scheduleRun(opts.once !== undefined ? { once: opts.once } : {}, {
        config,
        configPath: path,
        target: (name) => ctx.target(name),
        logger: ctx.logger,
        signal: ctx.signal,
        emit: (line) => process.stdout.write(`${JSON.stringify(line)}\n`),
      });
      setExitCode(result.exitCode);
    });

  schedule
    .command('list')
    .description('every job with its next run times, last run and daylight-saving warnings')
    .option('--count <n>', 'next runs to show per job', '3')
    .action(async (opts: { count: string }, cmd: Command) => {
      const ctx = await createContext(cmd);
      const { config } = await ctx.loadConfig();
      const { scheduleList } = await import('./run-schedule.js');
      const count = Math.max(1, Math.min(100, Number.parseInt(opts.count, 10) || 3));
      const result = await scheduleList({ count }, { config });
      render(ctx, result, { table: (r) => renderList(r.jobs) });
    });

  schedule
    .command('export')
    .description('print crontab lines or Kubernetes CronJob manifests that run the same jobs')
    .option('--crontab', 'crontab lines (flock -n against overlap, CRON_TZ per zone)')
    .option('--kubernetes', 'CronJob manifests (concurrencyPolicy Forbid, timeZone)')
    .option('--image <image>', 'container image for --kubernetes', 'dbops:latest')
    .option('--config-map <name>', 'ConfigMap holding dbops.config.yaml', 'dbops-config')
    .option('--secret <name>', 'Secret with the environment (passwords) for the config', 'dbops-env')
    .option('--namespace <ns>', 'namespace for the manifests')
    .option('--dbops <path>', 'dbops command in crontab lines', 'dbops')
    .action(
      async (
        opts: {
          crontab?: boolean;
          kubernetes?: boolean;
          image: string;
          configMap: string;
          secret: string;
          namespace?: string;
          dbops: string;
        },
        cmd: Command,
      ) => {
        const ctx = await createContext(cmd);
        if (Boolean(opts.crontab) === Boolean(opts.kubernetes)) {
          const { ConfigError } = await import('../../errors.js');
          throw new ConfigError('choose one of --crontab or --kubernetes');
        }
        const { config, path } = await ctx.loadConfig();
        const { scheduleExport } = await import('./run-schedule.js');
        const text = scheduleExport(
          opts.crontab
            ? { kind: 'crontab', dbops: opts.dbops, configPath: path }
            : {
                kind: 'kubernetes',
                image: opts.image,
                configMap: opts.configMap,
                secret: opts.secret,
                ...(opts.namespace ? { namespace: opts.namespace } : {}),
              },
          { config },
        );
        process.stdout.write(text);
      },
    );
}

function renderList(jobs: ScheduleListEntry[]): string {
  const out = [
    table(
      ['job', 'cron', 'zone', 'run', 'lock', 'next runs', 'last run'],
      jobs.map((j) => [
        j.name,
        j.cron,
        j.timezone,
        j.run,
        j.lock,
        j.next.join('\n'),
        j.lastRun ? `${j.lastRun.slot} ${j.lastRun.outcome ?? 'running'}` : '',
      ]),
    ),
  ];
  for (const j of jobs) for (const w of j.warnings) out.push(`warning: ${w}`);
  return out.join('\n');
}
