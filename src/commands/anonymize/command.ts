import type { Command } from 'commander';

import { createContext } from '../../cli/action.js';
import { setExitCode } from '../../cli/exit-code.js';
import { colours } from '../../cli/render/colour.js';
import { render } from '../../cli/render/output.js';
import { formatDuration, keyValues, table } from '../../cli/render/table.js';
import type { CheckResult } from './check-types.js';
import type { CopyResult } from './postgres/copy.js';
import type { ErasureReceipt } from './receipt.js';
import type { AnonymizeDumpResult } from './run-dump.js';
import { positiveInt } from '../../cli/option-parsers.js';

export function register(program: Command): void {
  const anonymize = program
    .command('anonymize')
    .description(
      'GDPR: erase a data subject, make masked copies for staging, check that every column is classified',
    );

  anonymize
    .command('subject <id>')
    .description(
      'erase or mask every row of one data subject, in one transaction, with an audit record and a receipt',
    )
    .option('--subject <name>', 'subject from anonymize.subjects (default: defaultSubject or the only one)')
    .option('--reason <text>', 'why (recorded in the audit table and the receipt)')
    .option('--dry-run', 'show counts and sample before → after values; change nothing', false)
    .option('--receipt <file>', 'also write the receipt JSON to this file')
    .option('--operator <name>', 'who runs it (default $DBOPS_OPERATOR or the OS user)')
    .option('--sample <n>', 'rows per table shown by --dry-run', positiveInt, 3)
    .addHelpText(
      'after',
      '\nExit 0 when done (also when no row matched: a warning says so), 2 on a config or rule problem (nothing changed), 3 cannot connect.',
    )
    .action(
      async (
        id: string,
        opts: {
          subject?: string;
          reason?: string;
          dryRun: boolean;
          receipt?: string;
          operator?: string;
          sample: number;
        },
        cmd: Command,
      ) => {
        const ctx = await createContext(cmd);
        const { config } = await ctx.loadConfig();
        const target = await ctx.target();
        if (!opts.dryRun) await ctx.confirm(`Erase data subject ${id} on target ${target.name}?`);
        const repository = config.anonymize?.ledger.enabled
          ? await ctx.repository(config.anonymize.ledger.repository ?? ctx.options.repo)
          : undefined;
        const { anonymizeSubject } = await import('./run-subject.js');
        const receipt = await anonymizeSubject(
          {
            target,
            config: config.anonymize!,
            subjectId: id,
            dryRun: opts.dryRun,
            sampleSize: opts.sample,
            ...(opts.subject !== undefined ? { subject: opts.subject } : {}),
            ...(opts.reason !== undefined ? { reason: opts.reason } : {}),
            ...(opts.receipt !== undefined ? { receiptPath: opts.receipt } : {}),
            ...(opts.operator !== undefined ? { operator: opts.operator } : {}),
            ...(repository ? { repository } : {}),
          },
          { logger: ctx.logger, signal: ctx.signal },
        );
        render(ctx, receipt, { table: (r) => renderReceipt(r, ctx.options.color) });
      },
    );

  anonymize
    .command('copy')
    .description(
      'masked copy of a PostgreSQL database into an empty one: schema, masked rows, indexes, constraints, ANALYZE',
    )
    .requiredOption('--from <target>', 'source target')
    .requiredOption('--to <target>', 'destination target (an empty database; never one marked production)')
    .option('-j, --jobs <n>', 'tables copied in parallel', positiveInt, 2)
    .action(async (opts: { from: string; to: string; jobs: number }, cmd: Command) => {
      const ctx = await createContext(cmd);
      const { config } = await ctx.loadConfig();
      const [from, to] = await Promise.all([ctx.target(opts.from), ctx.target(opts.to)]);
      const { anonymizeCopy } = await import('./run-copy.js');
      const result = await anonymizeCopy(
        { from, to, config: config.anonymize, jobs: opts.jobs },
        { logger: ctx.logger, progress: ctx.progress('rows'), signal: ctx.signal },
      );
      render(ctx, result, { table: renderCopy });
    });

  anonymize
    .command('dump')
    .description('masked copy into a temporary database, stored as a normal backup labelled anonymized=true')
    .option('--from <target>', 'source target (default: --target)')
    .option('--to-repo <name>', 'repository (default: --repo / defaultRepository)')
    .option('--scratch <target>', 'server hosting the temporary database (default: the source server)')
    .option('--as <name>', 'name the backup is catalogued under (default <source>-anonymized)')
    .option('-j, --jobs <n>', 'tables copied in parallel', positiveInt, 2)
    .option('--no-encrypt', 'do not encrypt even when encryption is configured')
    .action(
      async (
        opts: {
          from?: string;
          toRepo?: string;
          scratch?: string;
          as?: string;
          jobs: number;
          encrypt: boolean;
        },
        cmd: Command,
      ) => {
        const ctx = await createContext(cmd);
        const { config } = await ctx.loadConfig();
        const from = await ctx.target(opts.from);
        const scratch = opts.scratch ? await ctx.target(opts.scratch) : undefined;
        const repository = await ctx.repository(opts.toRepo ?? ctx.options.repo);
        const { anonymizeDump } = await import('./run-dump.js');
        const result = await anonymizeDump(
          {
            from,
            config,
            repository,
            jobs: opts.jobs,
            ...(scratch ? { scratch } : {}),
            ...(opts.as ? { as: opts.as } : {}),
            ...(opts.encrypt === false ? { encrypt: false } : {}),
          },
          { logger: ctx.logger, progress: ctx.progress('rows'), signal: ctx.signal },
        );
        render(ctx, result, { table: renderDump });
      },
    );

  anonymize
    .command('check')
    .description(
      'CI gate: every column (MongoDB: every sampled field) must have a rule; suggests rules, flags likely PII',
    )
    .addHelpText(
      'after',
      '\nFormats: table, json, junit, sarif, markdown, github. Exit 1 when a column is unclassified or a rule does not fit.',
    )
    .action(async (_opts: unknown, cmd: Command) => {
      const ctx = await createContext(cmd);
      const { config } = await ctx.loadConfig();
      const target = await ctx.target();
      const [{ anonymizeCheck }, reports] = await Promise.all([
        import('./run-check.js'),
        import('./check-report.js'),
      ]);
      const result = await anonymizeCheck({ target, config: config.anonymize }, { logger: ctx.logger });
      render(ctx, result, {
        table: (r) => renderCheck(r, reports.checkText(r), ctx.options.color),
        junit: reports.checkJunit,
        sarif: reports.checkSarif,
        markdown: reports.checkMarkdown,
        github: reports.checkGithub,
      });
      setExitCode(result.ok ? 0 : 1);
    });
}

function show(v: unknown): string {
  if (v === null || v === undefined) return 'NULL';
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  return s.length > 60 ? `${s.slice(0, 57)}…` : s;
}

function renderReceipt(r: ErasureReceipt, color: boolean): string {
  const c = colours(color);
  const lines = [
    c.bold(`${r.dryRun ? 'DRY RUN — nothing changed: ' : ''}anonymize subject (${r.subject.kind})`),
    keyValues([
      ['target', r.target],
      ['subject ref', `${r.subject.ref.slice(0, 16)}…`],
      ['atomicity', r.atomicity],
      ['operator', r.operator],
      ['reason', r.reason ?? ''],
      ['rows matched', r.totals.matched],
      ['rows changed', r.totals.changed],
      ['duration', formatDuration(r.durationMs)],
      ['audit id', r.auditId ?? (r.dryRun ? '(dry run)' : '')],
      ['ledger', r.ledger ? `${r.ledger.repository}:${r.ledger.key}` : ''],
    ]),
    table(
      ['table', 'action', 'matched', 'changed', 'columns'],
      r.tables.map((t) => [
        t.table,
        t.action,
        t.matched,
        t.changed,
        t.columns.map((x) => `${x.column}: ${x.rule}`).join(', '),
      ]),
    ),
  ];
  for (const t of r.tables) {
    if (!t.sample?.length) continue;
    lines.push(c.bold(`sample ${t.table}`));
    for (const row of t.sample)
      for (const ch of row) lines.push(`  ${ch.column}: ${show(ch.before)} → ${show(ch.after)}`);
  }
  for (const w of r.warnings) lines.push(c.yellow(`warning: ${w}`));
  return lines.join('\n');
}

function renderCopy(r: CopyResult): string {
  return [
    keyValues([
      ['from', `${r.from} (${r.readFrom})`],
      ['to', r.to],
      ['snapshot', r.snapshot],
      ['deterministic', r.deterministic ? `yes (key ${r.keyFingerprint})` : 'no (random key)'],
      ['rows', r.totalRows],
      ['duration', formatDuration(r.durationMs)],
      ['rows/s', r.rowsPerSecond],
    ]),
    table(
      ['table', 'mode', 'rows', 'time'],
      r.tables.map((t) => [t.table, t.mode, t.rows, formatDuration(t.durationMs)]),
    ),
    ...r.notes.map((n) => `note: ${n}`),
    ...r.warnings.map((w) => `warning: ${w}`),
  ].join('\n');
}

function renderDump(r: AnonymizeDumpResult): string {
  return [
    renderCopy(r.copy),
    keyValues([
      ['backup', r.backup.id],
      ['repository', `${r.backup.repository} (${r.backup.location})`],
      ['labels', 'anonymized=true'],
    ]),
  ].join('\n');
}

function renderCheck(r: CheckResult, lines: string[], color: boolean): string {
  const c = colours(color);
  const head = `${r.classified}/${r.columns} columns classified in ${r.tables} tables (${r.engine} ${r.target})`;
  if (r.ok) return [c.green(`ok: ${head}`), ...r.notes.map((n) => c.dim(`note: ${n}`))].join('\n');
  return [
    c.red(`FAIL: ${r.problems.length} problem(s); ${head}`),
    table(
      ['column', 'type', 'problem', 'likely PII', 'suggested rule'],
      r.problems.map((p) => [
        p.column ? `${p.table}.${p.column}` : p.table,
        p.type,
        p.kind === 'unclassified' ? p.kind : p.message,
        p.pii,
        p.suggestion,
      ]),
    ),
    c.dim(`${lines.length} line(s); add the rules under anonymize.tables, keep included`),
  ].join('\n');
}
