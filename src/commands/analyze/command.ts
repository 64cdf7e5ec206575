import { appendFileSync } from 'node:fs';
import { relative } from 'node:path';
import { Option, type Command } from 'commander';

import { createContext } from '../../cli/action.js';
import type { CliContext } from '../../cli/context.js';
import { setExitCode } from '../../cli/exit-code.js';
import { renderAdviseTable } from '../../cli/render/analyze/advise.js';
import { renderExplainTable } from '../../cli/render/analyze/explain.js';
import { renderLiveTable } from '../../cli/render/analyze/live.js';
import { renderAnalyzeTable } from '../../cli/render/analyze/table.js';
import { render } from '../../cli/render/output.js';
import type { FindingsReport } from './render/report-shape.js';
import type { Severity } from './types.js';

const failOnOption = () =>
  new Option(
    '--fail-on <severity>',
    'lowest severity that fails the run (default: analyze.failOn, else error)',
  ).choices(['info', 'warning', 'error']);

interface CommonOpts {
  failOn?: Severity;
  baseline?: string;
  writeBaseline?: string;
}

/** Renders any findings report in every CI format, and sets exit 1 when the gate failed. */
async function output<T extends FindingsReport>(
  ctx: CliContext,
  report: T,
  table: (r: T) => string,
  anchor: string | undefined,
): Promise<void> {
  // The CI renderers read the check catalogue (and with it zod): loaded only when a report exists.
  const { renderGithub, renderJunit, renderMarkdown, renderSarif } = await import('./render/index.js');
  render(ctx, report, {
    table,
    junit: (r) => renderJunit(r),
    sarif: (r) => renderSarif(r, anchor ? { anchor } : {}),
    markdown: (r) => renderMarkdown(r),
    github: (r) => renderGithub(r, anchor ? { file: anchor } : {}),
  });
  // In GitHub Actions the Markdown summary goes to the job page as well.
  if (ctx.options.format === 'github' && process.env.GITHUB_STEP_SUMMARY) {
    appendFileSync(process.env.GITHUB_STEP_SUMMARY, `${renderMarkdown(report)}\n`);
  }
  setExitCode(report.verdict.exitCode);
}

/**
 * `analyze` and its subcommands share option names (--baseline, --write-baseline, --fail-on).
 * Commander gives an option written after the subcommand to the parent when the root program
 * parses global options anywhere, so the subcommand reads both, its own winning.
 */
function withParentOptions<T extends object>(own: T, cmd: Command): T {
  return { ...(cmd.parent?.opts() ?? {}), ...own };
}

async function configAnchor(ctx: CliContext): Promise<string | undefined> {
  const { path } = await ctx.loadConfig();
  return path ? relative(process.cwd(), path) : undefined;
}

export function register(program: Command): void {
  const analyze = program
    .command('analyze')
    .description('statistics-view and catalogue checks with thresholds, baselines and CI gates')
    .argument('[checks...]', 'check ids or groups: indexes tables queries activity locks config replication')
    .addOption(failOnOption())
    .option('--baseline <file>', 'fail only on findings not in this baseline (or worse than recorded)')
    .option('--write-baseline <file>', 'record the current findings as the baseline')
    .option('--min-window <duration>', 'shortest statistics window for an "unused" verdict (default 14d)')
    .addHelpText(
      'after',
      `
Formats: --format table|json|junit|sarif|markdown|github.
Exit codes: 0 no failing finding · 1 a finding at or above --fail-on that is not in the baseline
(or got worse) · 2 usage/config · 3 cannot connect.
Examples:
  dbops analyze --fail-on warning --format sarif > analyze.sarif
  dbops analyze indexes --write-baseline .dbops/analyze-baseline.json
  dbops analyze --baseline .dbops/analyze-baseline.json --format github`,
    )
    .action(async (checks: string[], opts: CommonOpts & { minWindow?: string }, cmd: Command) => {
      const ctx = await createContext(cmd);
      ctx.format(['table', 'json', 'junit', 'sarif', 'markdown', 'github']);
      const { config } = await ctx.loadConfig();
      const target = await ctx.target();
      const { analyzeRun } = await import('./run-analyze.js');
      const report = await analyzeRun(
        {
          target,
          checks,
          config: config.analyze,
          ...(opts.failOn ? { failOn: opts.failOn } : {}),
          ...(opts.minWindow !== undefined ? { minWindow: opts.minWindow } : {}),
          ...(opts.baseline ? { baselinePath: opts.baseline } : {}),
          ...(opts.writeBaseline ? { writeBaselinePath: opts.writeBaseline } : {}),
          expectsWalArchiving: config.wal !== undefined,
        },
        { logger: ctx.logger, signal: ctx.signal },
      );
      await output(ctx, report, (r) => renderAnalyzeTable(r, ctx.options.color), await configAnchor(ctx));
    });

  analyze
    .command('explain')
    .description(
      'EXPLAIN a query corpus (SQL files) and apply plan rules, budgets and the plan-regression baseline',
    )
    .argument('[files...]', 'SQL files or directories (default: analyze.explain.corpus)')
    .option('--analyze', 'EXPLAIN ANALYZE (runs each query inside a transaction that is rolled back)', false)
    .option('--baseline <file>', 'plan baseline: fail when a cost grows or a scan changes kind')
    .option('--write-baseline <file>', 'record the plans as the baseline')
    .addOption(failOnOption())
    .addHelpText(
      'after',
      `
Corpus file: one or more statements, each under a comment header:
  -- name: orders_by_customer
  -- params: [42]
  -- max-cost: 5000
  -- max-buffers: 20000
  -- allow: plan.nested-loop
  select * from orders where customer_id = $1;`,
    )
    .action(async (files: string[], own: CommonOpts & { analyze: boolean }, cmd: Command) => {
      const opts = withParentOptions(own, cmd);
      const ctx = await createContext(cmd);
      ctx.format(['table', 'json', 'junit', 'sarif', 'markdown', 'github']);
      const { config } = await ctx.loadConfig();
      const target = await ctx.target();
      const { explainRun } = await import('./explain/run-explain.js');
      const report = await explainRun(
        {
          target,
          files,
          config: config.analyze,
          analyze: opts.analyze,
          ...(opts.failOn ? { failOn: opts.failOn } : {}),
          ...(opts.baseline ? { baselinePath: opts.baseline } : {}),
          ...(opts.writeBaseline ? { writeBaselinePath: opts.writeBaseline } : {}),
        },
        { logger: ctx.logger, signal: ctx.signal },
      );
      await output(ctx, report, (r) => renderExplainTable(r, ctx.options.color), undefined);
    });

  analyze
    .command('advise')
    .description('index advice from slow queries and the corpus, proven with HypoPG hypothetical indexes')
    .argument('[files...]', 'corpus SQL files or directories (default: analyze.explain.corpus)')
    .option('--no-slow-queries', 'do not take candidates from pg_stat_statements')
    .addOption(failOnOption())
    .action(async (files: string[], own: { failOn?: Severity; slowQueries: boolean }, cmd: Command) => {
      const opts = withParentOptions(own, cmd);
      const ctx = await createContext(cmd);
      ctx.format(['table', 'json', 'junit', 'sarif', 'markdown', 'github']);
      const { config } = await ctx.loadConfig();
      const target = await ctx.target();
      const { adviseRun } = await import('./advise/run-advise.js');
      const report = await adviseRun(
        {
          target,
          files,
          config: config.analyze,
          slowQueries: opts.slowQueries,
          ...(opts.failOn ? { failOn: opts.failOn } : {}),
        },
        { logger: ctx.logger, signal: ctx.signal },
      );
      await output(ctx, report, (r) => renderAdviseTable(r, ctx.options.color), undefined);
    });

  for (const view of ['activity', 'locks'] as const) {
    analyze
      .command(view)
      .description(
        view === 'activity'
          ? 'live view: running queries, long transactions, idle-in-transaction sessions, connections'
          : 'live view: blocked sessions and who blocks them (pg_blocking_pids), with both queries',
      )
      .addOption(failOnOption())
      .action(async (own: { failOn?: Severity }, cmd: Command) => {
        const opts = withParentOptions(own, cmd);
        const ctx = await createContext(cmd);
        ctx.format(['table', 'json', 'junit', 'sarif', 'markdown', 'github']);
        const { config } = await ctx.loadConfig();
        const target = await ctx.target();
        const { liveRun } = await import('./run-live.js');
        const report = await liveRun(
          { target, view, config: config.analyze, ...(opts.failOn ? { failOn: opts.failOn } : {}) },
          { logger: ctx.logger, signal: ctx.signal },
        );
        await output(ctx, report, (r) => renderLiveTable(r, ctx.options.color), undefined);
      });
  }
}
