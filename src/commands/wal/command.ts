import type { Command } from 'commander';

import { action } from '../../cli/action.js';
import type { CliContext } from '../../cli/context.js';
import type { WalStatusResult } from './status.js';
import type { WalSetupResult } from './setup.js';
import { positiveInt, nonNegativeInt } from '../../cli/option-parsers.js';

function cliOptions(ctx: CliContext) {
  const o = ctx.options;
  return {
    ...(o.config !== undefined ? { config: o.config } : {}),
    ...(o.repo !== undefined ? { repo: o.repo } : {}),
    ...(o.target !== undefined ? { target: o.target } : {}),
    quiet: o.quiet,
    verbose: o.verbose,
    json: o.format === 'json',
  };
}

function statusText(r: WalStatusResult): string {
  const lines: string[] = [`WAL archive of ${r.target} in ${r.location}`];
  if (r.archive)
    lines.push(
      `  cluster ${r.archive.systemIdentifier}, PostgreSQL ${r.archive.major ?? '?'}, ${r.archive.segmentSize / 1048576} MB segments`,
    );
  if (r.timelines.length === 0) lines.push('  no WAL archived');
  for (const t of r.timelines) {
    lines.push(
      `  timeline ${t.timeline}: ${t.first} .. ${t.last} (${t.segments} segments${t.gaps.length ? `, ${t.gaps.length} GAP(S)` : ', no gaps'})`,
    );
    for (const g of t.gaps) lines.push(`    gap ${g.from} .. ${g.to} (${g.count})`);
  }
  if (r.newestSegment)
    lines.push(`  newest ${r.newestSegment}, archived ${r.newestArchivedAt} (${r.ageSeconds} s ago)`);
  for (const b of r.backups)
    lines.push(
      `  base backup ${b.id} ${b.startLsn}..${b.stopLsn} tli ${b.timeline}: ${b.restorable ? 'WAL complete' : `MISSING ${b.missing.length} segment(s)`}`,
    );
  if (r.server)
    lines.push(
      'ready' in r.server
        ? `  server: ${r.server.ready} segment(s) waiting, ${r.server.failedCount} failed attempts${r.server.lastFailedWal ? ` (last ${r.server.lastFailedWal})` : ''}`
        : `  server: not reachable (${r.server.error})`,
    );
  lines.push(r.ok ? 'ok' : `PROBLEMS:\n${r.problems.map((p) => `  - ${p}`).join('\n')}`);
  return lines.join('\n');
}

function setupText(r: WalSetupResult): string {
  const lines = r.settings.map(
    (s) =>
      `  ${s.changed ? (r.applied ? 'set    ' : 'change ') : 'ok     '} ${s.name} = ${s.wanted}${s.changed ? `  (now: ${s.current ?? 'unset'})` : ''}`,
  );
  lines.unshift(`archiving settings for ${r.target}:`);
  if (!r.applied && r.settings.some((s) => s.changed))
    lines.push(
      '',
      'postgresql.conf:',
      ...r.conf.map((c) => `  ${c}`),
      '',
      'apply with: dbops wal setup --apply',
    );
  if (r.restartNeeded)
    lines.push('a RESTART of PostgreSQL is needed for wal_level / archive_mode to take effect');
  return lines.join('\n');
}

export function register(program: Command): void {
  const wal = program
    .command('wal')
    .description('continuous WAL archiving: archive_command, restore_command, status, setup');

  wal
    .command('push')
    .description(
      "archive one WAL file (archive_command = 'dbops wal push %p'); exit 0 only once it is durably stored",
    )
    .argument('<path>', '%p: the WAL file, relative to the data directory')
    .option(
      '--parallel <n>',
      'a background worker archives the other .ready segments, N at a time; 1 = off (default: wal.parallel, 4)',
      positiveInt,
    )
    .action(
      action(async (ctx: CliContext, path: string, opts: { parallel?: number }) => {
        const { runWalCommand } = await import('./run-cli.js');
        process.exitCode = await runWalCommand('push', [path], {
          ...cliOptions(ctx),
          ...(opts.parallel !== undefined ? { parallel: opts.parallel } : {}),
        });
      }),
    );

  wal
    .command('fetch')
    .description(
      "restore one WAL file (restore_command = 'dbops wal fetch %f %p'); exit 1 quietly when it is not archived",
    )
    .argument('<name>', '%f: the WAL file name')
    .argument('<path>', '%p: where to write it')
    .option(
      '--prefetch <n>',
      'also fetch the next N segments into the spool (default: wal.prefetch, 0)',
      nonNegativeInt,
    )
    .action(
      action(async (ctx: CliContext, name: string, path: string, opts: { prefetch?: number }) => {
        const { runWalCommand } = await import('./run-cli.js');
        process.exitCode = await runWalCommand('fetch', [name, path], {
          ...cliOptions(ctx),
          ...(opts.prefetch !== undefined ? { prefetch: opts.prefetch } : {}),
        });
      }),
    );

  wal
    .command('status')
    .description(
      'archived WAL per timeline, gaps, age of the newest segment, backlog, base backups and their WAL; exit 1 on a problem',
    )
    .option(
      '--max-age <duration>',
      'exit 1 when the newest archived segment is older (RPO gate, e.g. 15m; default: wal.maxAge)',
    )
    .option(
      '--max-backlog <n>',
      'exit 1 when more .ready segments wait on the server (default: wal.maxBacklog)',
      positiveInt,
    )
    .option('--no-server', 'do not connect to the target for its backlog')
    .action(
      action(async (ctx: CliContext, opts: { maxAge?: string; maxBacklog?: number; server: boolean }) => {
        const [{ walStatus }, { loadWalContext }] = await Promise.all([
          import('./status.js'),
          import('./context.js'),
        ]);
        const walCtx = await loadWalContext(ctx.options.config, {
          repo: ctx.options.repo,
          target: ctx.options.target,
        });
        let server;
        if (opts.server) {
          try {
            const t = await ctx.target(ctx.options.target ?? walCtx.target);
            if (t.engine === 'postgres') server = t;
          } catch {
            server = undefined; // no connectable target configured: report the archive only
          }
        }
        const result = await walStatus(
          {
            ctx: walCtx,
            ...(opts.maxAge ? { maxAge: opts.maxAge } : {}),
            ...(opts.maxBacklog ? { maxBacklog: opts.maxBacklog } : {}),
            ...(server ? { server } : {}),
          },
          { logger: ctx.logger },
        );
        const { render } = await import('../../cli/render/output.js');
        const { setExitCode } = await import('../../cli/exit-code.js');
        render(ctx, result, { table: statusText });
        setExitCode(result.ok ? 0 : 1);
      }),
    );

  wal
    .command('setup')
    .description(
      'show (or --apply with ALTER SYSTEM) the settings for archiving through dbops; says when a restart is needed',
    )
    .option('--apply', 'write the settings with ALTER SYSTEM and reload', false)
    .option(
      '--archive-timeout <seconds>',
      'archive_timeout: switch segments at least this often (default 60)',
      positiveInt,
    )
    .action(
      action(async (ctx: CliContext, opts: { apply: boolean; archiveTimeout?: number }) => {
        const { walSetup } = await import('./setup.js');
        const { ConfigError } = await import('../../errors.js');
        const target = await ctx.target();
        if (target.engine !== 'postgres') throw new ConfigError('WAL archiving is for PostgreSQL targets');
        const { path } = await ctx.loadConfig();
        const result = await walSetup(
          {
            target,
            ...(path ? { configPath: path } : {}),
            apply: opts.apply,
            ...(opts.archiveTimeout ? { archiveTimeout: opts.archiveTimeout } : {}),
          },
          { logger: ctx.logger },
        );
        const { render } = await import('../../cli/render/output.js');
        render(ctx, result, { table: setupText });
      }),
    );
}
