import type { Command } from 'commander';

import { action } from '../../cli/action.js';
import type { CliContext } from '../../cli/context.js';
import { setExitCode } from '../../cli/exit-code.js';
import { render } from '../../cli/render/output.js';
import type { CheckStatus, DoctorCheck, DoctorReport } from './types.js';

export function register(program: Command): void {
  program
    .command('doctor')
    .description(
      'check every target (connection, replicas, rights, extensions, WAL settings), the client tools, and each repository',
    )
    .addHelpText(
      'after',
      '\nExit 0 when everything required works; otherwise 3 (cannot connect), 4 (tool missing or too old) or 5 (repository).',
    )
    .action(
      action(async (ctx) => {
        const { config } = await ctx.loadConfig();
        const { resolveTargets } = await import('../../connections/target.js');
        const targets = resolveTargets(config, ctx.options);
        const names = ctx.options.repo ? [ctx.options.repo] : Object.keys(config.repositories);
        const repositories = names.length
          ? await Promise.all(names.map((n) => ctx.repository(n)))
          : [await ctx.repository()];
        const { doctorRun } = await import('./run-doctor.js');
        const report = await doctorRun(
          {
            targets,
            repositories,
            ...(config.wal?.maxBacklog !== undefined ? { maxWalBacklog: config.wal.maxBacklog } : {}),
          },
          { logger: ctx.logger },
        );
        render(ctx, report, { table: (r) => renderDoctor(r, ctx) });
        setExitCode(report.exitCode);
      }),
    );
}

function renderDoctor(r: DoctorReport, ctx: CliContext): string {
  const c = ctx.colours();
  const mark: Record<CheckStatus, string> = {
    ok: c.green('ok  '),
    info: c.cyan('info'),
    warn: c.yellow('warn'),
    fail: c.red('FAIL'),
  };
  const lines: string[] = [];
  const checkLines = (checks: DoctorCheck[]) => {
    for (const ch of checks) {
      lines.push(`  ${mark[ch.status]} ${ch.id.padEnd(28)} ${ch.message}`);
      if (ch.hint && ch.status !== 'ok') lines.push(`       ${' '.repeat(28)} ${c.dim(`→ ${ch.hint}`)}`);
    }
  };
  for (const t of r.targets) {
    lines.push(c.bold(`target ${t.name} (${t.engine}) ${t.where}`));
    checkLines(t.checks);
  }
  for (const repo of r.repositories) {
    lines.push(c.bold(`repository ${repo.name} (${repo.type}) ${repo.location}`));
    checkLines(repo.checks);
  }
  lines.push(c.bold('environment'));
  checkLines(r.environment);
  lines.push(
    r.ok ? c.green('\nall required checks passed') : c.red(`\nsome checks failed (exit ${r.exitCode})`),
  );
  return lines.join('\n');
}
