import type { Command } from 'commander';

import { action } from '../../cli/action.js';
import { render } from '../../cli/render/output.js';

export function register(program: Command): void {
  const config = program.command('config').description('validate and show the configuration');

  config
    .command('check')
    .description('validate the config file; prints every problem with its path (exit 2 on any)')
    .action(
      action(async (ctx) => {
        const { configCheck } = await import('./config-check.js');
        const result = configCheck(ctx.options.config !== undefined ? { path: ctx.options.config } : {});
        render(ctx, result, {
          table: (r) =>
            `${r.path ?? '(no config file: defaults, --url and PG*/DATABASE_URL environment apply)'}: ok\n` +
            `targets: ${r.targets.map((t) => `${t.name} (${t.engine})`).join(', ') || 'none'}\n` +
            `repositories: ${r.repositories.map((t) => `${t.name} (${t.type})`).join(', ') || 'none (default ./backups)'}`,
        });
      }),
    );

  config
    .command('show')
    .description('print the resolved config (env interpolated, defaults applied) with secrets redacted')
    .action(
      action(async (ctx) => {
        const { configShow } = await import('./config-check.js');
        const { stringifyYaml: stringify } = await import('../../config/yaml-text.js');
        const result = configShow(ctx.options.config !== undefined ? { path: ctx.options.config } : {});
        render(ctx, result, {
          table: (r) => `# ${r.path ?? 'no config file (defaults)'}\n${stringify(r.config)}`,
        });
      }),
    );
}
