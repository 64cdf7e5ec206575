import type { Command } from 'commander';

import { createContext } from '../../cli/action.js';
import type { CliContext } from '../../cli/context.js';
import { render } from '../../cli/render/output.js';
import { formatBytes, formatDuration, keyValues } from '../../cli/render/table.js';
import { ConfigError } from '../../errors.js';
import type { PhysicalRestoreResult } from './physical/restore.js';
import { positiveInt, collect } from '../../cli/option-parsers.js';

export function register(program: Command): void {
  const restore = program.command('restore').description('restore backups');

  restore
    .command('run')
    .description(
      'restore a logical backup into a new database (default), verifying checksums while streaming',
    )
    .argument('<id>', 'backup id (or "latest")')
    .option('--to-target <name>', 'target to restore into (default: --target, else the default target)')
    .option('--database <name>', 'database to restore into (default: a new <db>_<backup time>)')
    .option('--create', 'create --database when it does not exist', false)
    .option(
      '--clean',
      "drop and recreate the backup's objects in a non-empty database (asks for confirmation)",
      false,
    )
    .option(
      '-j, --jobs <n>',
      'parallel pg_restore jobs (the archive is spooled to a temp file and verified first; into a new database the schema, and the data of a table holding half of it, are restored meanwhile)',
      positiveInt,
    )
    .option('--schema <name>', 'restore only this schema (repeatable)', collect, [])
    .option('--table <name>', 'restore only this table (repeatable)', collect, [])
    .option('--no-owner', 'do not restore ownership and privileges (roles differ on the destination)')
    .option(
      '-i, --identity <file>',
      'age identity file (default: encryption.identityFile, $DBOPS_AGE_IDENTITY)',
    )
    .option('--temp-dir <dir>', 'where parallel restores are spooled (default: the OS temp directory)')
    .option('--dry-run', 'check the backup, key and destination and show the plan; restore nothing', false)
    .option(
      '--physical',
      'restore a physical backup into --pgdata and recover through the WAL archive (point-in-time)',
    )
    .option('--pgdata <dir>', 'physical: empty directory to lay the cluster down in')
    .option('--target-time <time>', 'physical: recover to this time (with a zone: 2024-05-02T03:15:00Z)')
    .option('--target-lsn <lsn>', 'physical: recover to this LSN')
    .option('--target-name <name>', 'physical: recover to this restore point (pg_create_restore_point)')
    .option('--target-xid <xid>', 'physical: recover to this transaction id')
    .option(
      '--target-action <action>',
      'physical: promote, pause or shutdown once the target is reached',
      'promote',
    )
    .option(
      '--start',
      'physical: start the server, wait until recovery reaches the target and report the point reached',
    )
    .option(
      '--port <port>',
      'physical: port of the restored server (default with --start: a free one)',
      positiveInt,
    )
    .action(
      async (
        id: string,
        opts: {
          toTarget?: string;
          database?: string;
          create: boolean;
          clean: boolean;
          jobs?: number;
          schema: string[];
          table: string[];
          owner: boolean;
          identity?: string;
          tempDir?: string;
          dryRun: boolean;
          physical?: boolean;
          pgdata?: string;
          targetTime?: string;
          targetLsn?: string;
          targetName?: string;
          targetXid?: string;
          targetAction: string;
          start?: boolean;
          port?: number;
        },
        cmd: Command,
      ) => {
        const ctx = await createContext(cmd);
        const { config } = await ctx.loadConfig();
        if (opts.physical) {
          await runPhysicalRestoreCommand(ctx, id, opts);
          return;
        }
        const [{ restoreRun }, { resolveReadOptions }] = await Promise.all([
          import('./run-restore.js'),
          import('../backup/encryption.js'),
        ]);
        const target = await ctx.target(opts.toTarget);
        const result = await restoreRun(
          {
            repository: await ctx.repository(),
            id,
            ...(ctx.options.target && opts.toTarget ? { sourceTarget: ctx.options.target } : {}),
            target,
            read: await resolveReadOptions(config.encryption, opts.identity),
            ...(opts.database !== undefined ? { database: opts.database } : {}),
            create: opts.create,
            clean: opts.clean,
            ...(opts.jobs !== undefined ? { jobs: opts.jobs } : {}),
            noOwner: !opts.owner,
            schemas: opts.schema,
            tables: opts.table,
            dryRun: opts.dryRun,
            confirm: (q) => ctx.confirm(q),
            ...(opts.tempDir ? { tempDir: opts.tempDir } : {}),
            ...(config.anonymize ? { anonymize: config.anonymize } : {}),
          },
          { logger: ctx.logger, progress: ctx.progress('bytes'), signal: ctx.signal },
        );
        render(ctx, result, {
          table: (r) =>
            keyValues([
              [
                r.dryRun ? 'dry run' : 'restored',
                `backup ${r.id} → ${r.target}${r.database ? ` database ${r.database}` : ''}`,
              ],
              [
                'database',
                r.created ? 'new (created)' : r.clean ? 'existing (objects replaced)' : 'existing (empty)',
              ],
              [
                'mode',
                `${r.mode}${r.singleTransaction ? ', single transaction' : ''}${r.earlyTable ? `, ${r.earlyTable} restored while spooling` : ''}`,
              ],
              ['command', `${r.engine === 'postgres' ? 'pg_restore' : 'mongorestore'} ${r.args.join(' ')}`],
              ['stored size', formatBytes(r.storedBytes)],
              ['raw size', formatBytes(r.rawBytes)],
              ...(r.dryRun
                ? []
                : ([
                    ['duration', formatDuration(r.durationMs)],
                    ['throughput', r.durationMs > 0 ? `${formatBytes(r.throughput)}/s` : ''],
                  ] as [string, unknown][])),
              ...(r.erasures && r.erasures.ledgerEntries > 0
                ? ([
                    [
                      'erasures',
                      `${r.erasures.reapplied} recorded erasure(s) re-applied (${r.erasures.ledgerEntries} in the ledger since the backup)`,
                    ],
                  ] as [string, unknown][])
                : []),
            ]),
        });
      },
    );
}

// --- physical restore (issue 4) ---------------------------------------------------------------

interface PhysicalRestoreFlags {
  pgdata?: string;
  targetTime?: string;
  targetLsn?: string;
  targetName?: string;
  targetXid?: string;
  targetAction: string;
  start?: boolean;
  port?: number;
  identity?: string;
  dryRun?: boolean;
}

function physicalText(r: PhysicalRestoreResult): string {
  const pairs: [string, unknown][] = [
    ['restored', `physical backup ${r.id} → ${r.pgdata}`],
    [
      'backup',
      `${r.backup.startLsn} .. ${r.backup.stopLsn} (timeline ${r.backup.timeline}), ended ${r.backup.stopTime}`,
    ],
    [
      'recovery target',
      r.target === 'end' ? 'end of the archive' : `${r.target} ${r.targetValue} then ${r.action}`,
    ],
    ['archive ends', `${r.archive.newestSegment ?? '-'} (${r.archive.newestArchivedAt ?? '-'})`],
    ['restore_command', r.restoreCommand],
    ['size', formatBytes(r.rawBytes)],
  ];
  if (r.reached) {
    pairs.push(['server', `${r.reached.state} on port ${r.port}`]);
    pairs.push(['reached LSN', r.reached.lsn], ['last transaction', r.reached.lastTransactionTime]);
    for (const l of r.reached.logLines) pairs.push(['log', l]);
  } else {
    pairs.push(['next', `pg_ctl -D ${r.pgdata} start   (recovery runs on start)`]);
  }
  pairs.push(['duration', formatDuration(r.durationMs)]);
  return keyValues(pairs);
}

/** `restore run --physical` (issue 4): lays a base backup down and recovers through the WAL archive. */
export async function runPhysicalRestoreCommand(
  ctx: CliContext,
  id: string,
  opts: PhysicalRestoreFlags,
): Promise<void> {
  if (!opts.pgdata)
    throw new ConfigError('--physical needs --pgdata DIR (an empty directory for the restored cluster)');
  if (!['promote', 'pause', 'shutdown'].includes(opts.targetAction))
    throw new ConfigError('--target-action must be promote, pause or shutdown');
  const { config, path } = await ctx.loadConfig();
  const [{ physicalRestoreRun }, { resolveReadOptions }, { loadWalContext }, { dbopsCommandPrefix }] =
    await Promise.all([
      import('./physical/restore.js'),
      import('../backup/encryption.js'),
      import('../wal/context.js'),
      import('../wal/setup.js'),
    ]);
  const walCtx = await loadWalContext(ctx.options.config, {
    repo: ctx.options.repo,
    target: ctx.options.target,
  });
  let connectAs;
  try {
    const t = await ctx.target(ctx.options.target ?? walCtx.target);
    if (t.engine === 'postgres') connectAs = t;
  } catch {
    connectAs = undefined;
  }
  const result = await physicalRestoreRun(
    {
      repository: ctx.options.repo ? await ctx.repository() : walCtx.repository,
      id,
      sourceTarget: ctx.options.target ?? walCtx.target,
      pgdata: opts.pgdata,
      ...(opts.targetTime !== undefined ? { targetTime: opts.targetTime } : {}),
      ...(opts.targetLsn !== undefined ? { targetLsn: opts.targetLsn } : {}),
      ...(opts.targetName !== undefined ? { targetName: opts.targetName } : {}),
      ...(opts.targetXid !== undefined ? { targetXid: opts.targetXid } : {}),
      targetAction: opts.targetAction as 'promote' | 'pause' | 'shutdown',
      read: await resolveReadOptions(config.encryption, opts.identity),
      commandPrefix: dbopsCommandPrefix(path),
      start: Boolean(opts.start),
      ...(opts.port !== undefined ? { port: opts.port } : {}),
      ...(connectAs ? { connectAs } : {}),
    },
    { logger: ctx.logger, progress: ctx.progress('bytes'), signal: ctx.signal },
  );
  render(ctx, result, { table: physicalText });
  // Recovery that did not reach its target (or did not finish) is a failed restore.
  const state = result.reached?.state;
  if (
    state === 'failed' ||
    state === 'in recovery' ||
    (state === 'shut down' && result.action !== 'shutdown')
  )
    process.exitCode = 1;
}
