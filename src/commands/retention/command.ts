import type { Command } from 'commander';

import { createContext } from '../../cli/action.js';
import type { CliContext } from '../../cli/context.js';
import { setExitCode } from '../../cli/exit-code.js';
import { render } from '../../cli/render/output.js';
import { formatDuration, table } from '../../cli/render/table.js';
import type { RetentionDeps } from './run-retention.js';
import type { RetentionPlanResult, RetentionRunResult, RetentionStatusResult } from './types.js';

async function depsOf(ctx: CliContext, rows = false): Promise<RetentionDeps> {
  const { config } = await ctx.loadConfig();
  return {
    config,
    target: (name) => ctx.target(name),
    repository: (name) => ctx.repository(name),
    logger: ctx.logger,
    progress: ctx.progress(rows ? 'rows' : 'bytes'),
    signal: ctx.signal,
  };
}

export function register(program: Command): void {
  const retention = program
    .command('retention')
    .description('purge or archive old rows in batches, by the policies of the retention: config section');

  retention
    .command('plan')
    .description(
      'per policy: rows eligible, oldest/newest, estimated batches and time, and the SQL (changes nothing)',
    )
    .argument('[policy...]', 'policies to plan (default: all)')
    .action(async (names: string[], _opts, cmd: Command) => {
      const ctx = await createContext(cmd);
      const { retentionPlan } = await import('./run-retention.js');
      const result = await retentionPlan({ policies: names }, await depsOf(ctx));
      render(ctx, result, { table: renderPlan });
    });

  retention
    .command('run')
    .description('delete or archive eligible rows in short batches (asks first unless --yes)')
    .argument('[policy...]', 'policies to run (default: all)')
    .option('--dry-run', 'show the plan and change nothing (same as `retention plan`)', false)
    .option('--batches', 'include every batch (rows, size, ms) in the result', false)
    .addHelpText(
      'after',
      '\nExit 0 when every policy completed (or stopped at maxRunTime), 1 when one failed or met a lock it had to retry later, 2 on config errors, 130 when interrupted (after the current batch).',
    )
    .action(async (names: string[], opts: { dryRun: boolean; batches: boolean }, cmd: Command) => {
      const ctx = await createContext(cmd);
      const mod = await import('./run-retention.js');
      const deps = await depsOf(ctx, true);
      if (opts.dryRun) {
        render(ctx, await mod.retentionPlan({ policies: names }, deps), { table: renderPlan });
        return;
      }
      const { selectPolicies } = await import('./policy.js');
      const policies = selectPolicies(deps.config, names);
      await ctx.confirm(
        `Delete eligible rows for ${policies.length === 1 ? `policy ${policies[0]!.name}` : `${policies.length} policies (${policies.map((p) => p.name).join(', ')})`}?`,
      );
      const result = await mod.retentionRun({ policies: names, batchLog: opts.batches }, deps);
      render(ctx, result, { table: renderRun });
      setExitCode(result.exitCode);
    });

  retention
    .command('status')
    .description('compliance: per policy the oldest row age and rows past the policy; exit 1 when violated')
    .argument('[policy...]', 'policies to check (default: all)')
    .option(
      '--grace <duration>',
      'tolerate rows this much older than the policy (e.g. 1d) before calling it violated',
      '0',
    )
    .action(async (names: string[], opts: { grace: string }, cmd: Command) => {
      const ctx = await createContext(cmd);
      const { parseDuration } = await import('../../config/duration.js');
      const { ConfigError } = await import('../../errors.js');
      let graceMs: number;
      try {
        graceMs = parseDuration(/^\d+$/.test(opts.grace) ? Number(opts.grace) : opts.grace);
      } catch (err) {
        throw new ConfigError(`--grace: ${(err as Error).message}`);
      }
      const { retentionStatus } = await import('./run-retention.js');
      const result = await retentionStatus({ policies: names, graceMs }, await depsOf(ctx));
      render(ctx, result, { table: renderStatus });
      setExitCode(result.exitCode);
    });
}

function renderPlan(r: RetentionPlanResult): string {
  const out: string[] = [
    table(
      ['policy', 'target', 'relation', 'action', 'eligible', 'oldest', 'cutoff', 'batches', 'est. time'],
      r.policies.map((p) => [
        p.policy,
        p.target,
        p.relation,
        p.action,
        p.eligible.toLocaleString('en-US'),
        p.oldest ?? '',
        p.cutoff ?? '(where)',
        p.estimatedBatches.toLocaleString('en-US'),
        `~${formatDuration(p.estimatedMs)}`,
      ]),
    ),
  ];
  for (const p of r.policies) {
    const pages = p.walkMode === 'pages';
    const walk = pages ? 'walks ranges of heap pages' : `walks (${p.walk.join(', ')})`;
    const why = p.walkReason ? ` (${p.walkReason})` : '';
    const size = pages
      ? `batches of about ${p.batchSize} rows' worth of pages`
      : `${p.batchSize} rows per batch`;
    const archive = p.archiveTarget ? `, archive → ${p.archiveTarget}` : '';
    out.push(`\n${p.policy}: ${walk}${why}, ${size} at first${archive}`);
    for (const s of p.statements) out.push(`  ${s}`);
    for (const w of p.warnings) out.push(`  warning: ${w}`);
  }
  out.push('\n(dry run: nothing was changed)');
  return out.join('\n');
}

function renderRun(r: RetentionRunResult): string {
  const lines = [
    table(
      ['policy', 'action', 'outcome', 'rows', 'batches', 'max batch', 'time', 'note'],
      r.policies.map((p) => [
        p.policy,
        p.action,
        p.outcome,
        p.rows.toLocaleString('en-US'),
        p.batches,
        formatDuration(p.maxBatchMs),
        formatDuration(p.durationMs),
        [
          p.settledRows ? `settled ${p.settledRows} from an interrupted run` : '',
          p.lockRetries ? `${p.lockRetries} lock retries` : '',
          p.stoppedBy ? `stopped by ${p.stoppedBy}` : '',
          p.message ?? '',
        ]
          .filter(Boolean)
          .join('; '),
      ]),
    ),
  ];
  lines.push(`${r.rows.toLocaleString('en-US')} rows in ${formatDuration(r.durationMs)}`);
  return lines.join('\n');
}

function renderStatus(r: RetentionStatusResult): string {
  const age = (s: number | null) => (s === null ? '' : formatDuration(s * 1000));
  return [
    table(
      ['policy', 'relation', 'policy age', 'oldest row', 'rows past policy', 'status'],
      r.policies.map((p) => [
        p.policy,
        p.relation,
        p.olderThan ?? '(where)',
        age(p.oldestAgeSeconds),
        p.rowsPastPolicy.toLocaleString('en-US'),
        p.violated ? `VIOLATED${p.reason ? `: ${p.reason}` : ''}` : 'ok',
      ]),
    ),
    r.violated ? `${r.violated} policy(ies) violated` : 'all policies hold',
  ].join('\n');
}
