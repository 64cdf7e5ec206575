import { type Command, InvalidArgumentError } from 'commander';

import { action } from '../../cli/action.js';
import { render } from '../../cli/render/output.js';
import { formatDuration, keyValues } from '../../cli/render/table.js';
import type { SandboxView } from './run-sandbox.js';
import { positiveInt } from '../../cli/option-parsers.js';

const DIR_HELP = 'sandbox directory (default: .dbops/sandbox)';

function sandboxLines(s: SandboxView): [string, unknown][] {
  return [
    ['state', s.running ? `running (pid ${s.pid ?? '?'})` : 'stopped'],
    ['url', s.url],
    ['postgres', s.version],
    ['directory', s.dir],
    ['server runs as', s.osUser],
  ];
}

export function register(program: Command): void {
  const sandbox = program
    .command('sandbox')
    .description(
      'a throwaway local PostgreSQL cluster (from the server binaries installed here) to try dbops on',
    );

  sandbox
    .command('up')
    .description('create (initdb) and start the sandbox on 127.0.0.1; reuses an existing one')
    .option('--dir <dir>', DIR_HELP)
    .option('--port <n>', 'port (default: a free one)', positiveInt)
    .option('--seed <name>', 'load sample data: demo (a chat application: users, rooms, messages …)')
    .option('--messages <n>', 'number of demo messages (default 100000)', positiveInt)
    .option('--write-config [path]', 'write a ready config file (default ./dbops.config.yaml, mode 0600)')
    .option('--force', 'overwrite an existing config file', false)
    .action(
      action(
        async (
          ctx,
          opts: {
            dir?: string;
            port?: number;
            seed?: string;
            messages?: number;
            writeConfig?: string | boolean;
            force: boolean;
          },
        ) => {
          if (opts.seed !== undefined && opts.seed !== 'demo') {
            throw new InvalidArgumentError(`unknown seed "${opts.seed}" (available: demo)`);
          }
          const { sandboxUpRun } = await import('./run-sandbox.js');
          const result = await sandboxUpRun(
            {
              ...(opts.dir !== undefined ? { dir: opts.dir } : {}),
              ...(opts.port !== undefined ? { port: opts.port } : {}),
              ...(opts.seed === 'demo' ? { seed: 'demo' as const } : {}),
              ...(opts.messages !== undefined ? { messages: opts.messages } : {}),
              ...(opts.writeConfig
                ? { writeConfig: opts.writeConfig === true ? 'dbops.config.yaml' : opts.writeConfig }
                : {}),
              force: opts.force,
            },
            { logger: ctx.logger, signal: ctx.signal },
          );
          render(ctx, result, {
            table: (r) => {
              const lines = [keyValues(sandboxLines(r.sandbox))];
              if (r.seeded) {
                const counts = Object.entries(r.seeded.tables).map(
                  ([t, n]) => `${t} ${n.toLocaleString('en-US')}`,
                );
                lines.push(
                  `seeded database ${r.seeded.database} in ${formatDuration(r.seeded.ms)}: ${counts.join(', ')}`,
                );
              }
              lines.push(
                r.configFile
                  ? `wrote ${r.configFile} (target "sandbox", repository ./backups); next: dbops doctor`
                  : `the password is in ${r.sandbox.dir}/sandbox.json; --write-config writes a ready dbops.config.yaml`,
              );
              return lines.join('\n');
            },
          });
        },
      ),
    );

  sandbox
    .command('status')
    .description('show whether the sandbox exists and runs, and how to reach it')
    .option('--dir <dir>', DIR_HELP)
    .action(
      action(async (ctx, opts: { dir?: string }) => {
        const { sandboxStatusRun } = await import('./run-sandbox.js');
        const result = await sandboxStatusRun(opts);
        render(ctx, result, {
          table: (r) =>
            r.sandbox ? keyValues(sandboxLines(r.sandbox)) : 'no sandbox here (dbops sandbox up creates one)',
        });
      }),
    );

  sandbox
    .command('down')
    .description('stop the sandbox; --remove also deletes its directory and data')
    .option('--dir <dir>', DIR_HELP)
    .option('--remove', 'delete the sandbox directory too', false)
    .action(
      action(async (ctx, opts: { dir?: string; remove: boolean }) => {
        const { sandboxDownRun } = await import('./run-sandbox.js');
        const result = await sandboxDownRun(opts, { logger: ctx.logger });
        render(ctx, result, {
          table: (r) =>
            `${r.stopped ? 'stopped' : 'was not running'}${r.removed ? `; removed ${r.dir}` : ''}`,
        });
      }),
    );
}
