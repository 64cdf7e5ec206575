import { type Command, InvalidArgumentError, Option } from 'commander';

import { createContext } from '../../cli/action.js';
import type { CliContext } from '../../cli/context.js';
import { setExitCode } from '../../cli/exit-code.js';
import { render } from '../../cli/render/output.js';
import { formatBytes, formatDuration, keyValues, table } from '../../cli/render/table.js';
import type { BackupSummary } from './catalogue.js';
import type { BackupRunResult } from './run-backup.js';
import type { BackupListWal } from './run-catalogue.js';
import { positiveInt, nonNegativeInt, collect } from '../../cli/option-parsers.js';

function isoDate(value: string): Date {
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) throw new InvalidArgumentError('must be an ISO 8601 time');
  return d;
}

/** The target whose backups a catalogue command looks at: --target, the config's default, or all. */
export async function catalogueTarget(ctx: CliContext): Promise<string | undefined> {
  if (ctx.options.target) return ctx.options.target;
  if (ctx.options.url) return 'url';
  const { config } = await ctx.loadConfig();
  return config.defaultTarget;
}

export function rate(bytes: number, ms: number): string {
  return ms > 0 ? `${formatBytes(bytes / (ms / 1000))}/s` : '';
}

function runLines(r: BackupRunResult): string {
  if (r.dryRun) {
    return keyValues([
      ['dry run', `would back up target ${r.target} (${r.engine}, ${r.format}) into ${r.location}`],
      ['backup id', `${r.id} (example)`],
      ['compression', r.compression],
      ['encryption', r.encryption],
    ]);
  }
  const ratio = r.rawBytes > 0 ? ` (${((r.storedBytes / r.rawBytes) * 100).toFixed(0)} % of raw)` : '';
  return keyValues([
    ['backup id', r.id],
    ['target', `${r.target} (${r.engine}, ${r.format})`],
    ['repository', `${r.repository}: ${r.location}`],
    ['raw size', formatBytes(r.rawBytes)],
    ['stored size', `${formatBytes(r.storedBytes)}${ratio}`],
    ['compression', r.compression],
    ['encryption', r.encryption],
    ['duration', formatDuration(r.durationMs)],
    ['throughput', rate(r.rawBytes, r.durationMs)],
    ...(r.tables !== undefined ? ([['row counts', `${r.tables} tables`]] as [string, unknown][]) : []),
  ]);
}

function summaryRows(backups: BackupSummary[]): string {
  return table(
    ['id', 'target', 'engine', 'format', 'finished', 'raw', 'stored', 'compression', 'encryption', 'status'],
    backups.map((b) => [
      b.id,
      b.target,
      b.engine,
      b.format,
      b.finishedAt.replace('T', ' ').replace(/\.\d+Z$/, 'Z'),
      formatBytes(b.rawBytes),
      formatBytes(b.storedBytes),
      b.compression,
      b.encryption,
      b.status,
    ]),
  );
}

export function register(program: Command): void {
  const backup = program
    .command('backup')
    .description('logical backups (pg_dump, mongodump): run, list, info, verify, prune, rekey');

  backup
    .command('run')
    .description('dump the target into the repository: compressed, encrypted, checksummed, catalogued')
    .option(
      '--dump-format <format>',
      'PostgreSQL archive format: custom (streamed, default) or directory (parallel, with --jobs); `--format custom|directory` works too when no output format is given',
    )
    .option('-j, --jobs <n>', 'pg_dump parallel jobs (directory format)', positiveInt)
    .option(
      '--compress <spec>',
      'zstd, zstd:LEVEL (1-19, or -1..-7 fast), gzip[:LEVEL] or none (default: config, else zstd:1)',
    )
    .option('--encrypt', 'encrypt with the configured age recipients or passphrase')
    .option('--no-encrypt', 'do not encrypt even when the config says so')
    .option('--label <key=value>', 'label recorded in the manifest (repeatable)', collect, [])
    .option('--no-row-counts', 'skip per-table row counts (verify --restore then cannot compare them)')
    .option('--temp-dir <dir>', 'where directory-format dumps are staged (default: the OS temp directory)')
    .option('--dry-run', 'show what would be done, write nothing', false)
    .option('--physical', 'physical base backup (pg_basebackup) for WAL archiving and point-in-time recovery')
    .action(
      async (
        opts: {
          physical?: boolean;
          dumpFormat?: string;
          jobs?: number;
          compress?: string;
          encrypt?: boolean;
          label: string[];
          rowCounts: boolean;
          tempDir?: string;
          dryRun: boolean;
        },
        cmd: Command,
      ) => {
        const ctx = await createContext(cmd);
        // The global --format (output) shares its name with the issue's `--format custom|directory`:
        // commander hands both to the global option, so an archive format there is taken back here.
        let dumpFormat = opts.dumpFormat;
        const global = ctx.options.format as string;
        if (global === 'custom' || global === 'directory') {
          dumpFormat ??= global;
          ctx.options.format = 'table';
        }
        if (dumpFormat !== undefined && dumpFormat !== 'custom' && dumpFormat !== 'directory') {
          throw new InvalidArgumentError(`unknown dump format "${dumpFormat}" (custom or directory)`);
        }
        const { config } = await ctx.loadConfig();
        if (!opts.physical && !opts.dryRun) {
          // The connection's handshake (round trips, the server's backend start-up) overlaps
          // loading the rest of the command: a database across a network gains most.
          const target = await ctx.target();
          if (target.engine === 'postgres')
            (await import('../../connections/postgres/pool.js')).warmUp(target);
        }
        const [{ backupRun, parseLabels }, { resolveEncryptOptions }] = await Promise.all([
          import('./run-backup.js'),
          import('./encryption.js'),
        ]);
        if (opts.physical) {
          const { physicalBackupRun } = await import('./physical/run.js');
          const target = await ctx.target();
          if (target.engine !== 'postgres')
            throw new InvalidArgumentError('--physical is for PostgreSQL targets');
          const wal = config.wal;
          const physical = await physicalBackupRun(
            {
              target,
              repository: await ctx.repository(ctx.options.repo ?? wal?.repository),
              compression: opts.compress ?? config.compression ?? 'zstd',
              encryption: resolveEncryptOptions(config.encryption, opts.encrypt),
              labels: parseLabels(opts.label),
              ...(wal?.target ? { walTarget: wal.target } : {}),
              ...(wal?.archiveTimeout ? { archiveTimeoutSeconds: wal.archiveTimeout } : {}),
              read: await (await import('./encryption.js')).resolveReadOptions(config.encryption, undefined),
            },
            { logger: ctx.logger, progress: ctx.progress('bytes'), signal: ctx.signal },
          );
          render(ctx, physical, {
            table: (r) =>
              `${runLines(r)}\n${keyValues([['WAL', `${r.physical.startLsn} .. ${r.physical.stopLsn} (timeline ${r.physical.timeline}), archived`]])}`,
          });
          return;
        }
        const result = await backupRun(
          {
            target: await ctx.target(),
            repository: await ctx.repository(),
            ...(dumpFormat ? { format: dumpFormat as 'custom' | 'directory' } : {}),
            ...(opts.jobs !== undefined ? { jobs: opts.jobs } : {}),
            compression: opts.compress ?? config.compression ?? 'zstd',
            encryption: resolveEncryptOptions(config.encryption, opts.encrypt),
            labels: parseLabels(opts.label),
            rowCounts: opts.rowCounts,
            dryRun: opts.dryRun,
            ...(opts.tempDir ? { tempDir: opts.tempDir } : {}),
          },
          { logger: ctx.logger, progress: ctx.progress('bytes'), signal: ctx.signal },
        );
        render(ctx, result, { table: runLines });
      },
    );

  /** One line per target with archived WAL, the way an operator reads PITR coverage. */
  const walLine = (w: BackupListWal): string => {
    const ranges = w.timelines
      .map(
        (t) =>
          `timeline ${t.timeline} ${t.first}..${t.last} (${t.segments} segments${t.missing ? `, ${t.missing} MISSING` : ''})`,
      )
      .join('; ');
    const age = w.ageSeconds === undefined ? '' : `, newest archived ${w.ageSeconds} s ago`;
    const covered = w.backups.filter((b) => b.restorable).length;
    const physical = w.backups.length
      ? `, physical backups with all their WAL: ${covered}/${w.backups.length}`
      : '';
    return `WAL of ${w.target}: ${ranges || 'none archived'}${age}${physical}`;
  };

  backup
    .command('list')
    .description(
      "the backups in the repository (only completed ones: a backup exists once its manifest is written), and each target's archived WAL coverage",
    )
    .action(async (_opts: unknown, cmd: Command) => {
      const ctx = await createContext(cmd);
      const { backupList } = await import('./run-catalogue.js');
      const target = await catalogueTarget(ctx);
      const result = await backupList(
        { repository: await ctx.repository(), ...(target ? { target } : {}) },
        { logger: ctx.logger },
      );
      render(ctx, result, {
        table: (r) =>
          (r.backups.length ? summaryRows(r.backups) : `no backups in ${r.location}`) +
          (r.incomplete
            ? `\n${r.incomplete} incomplete backup(s) without a manifest (not usable; prune removes them after a day)`
            : '') +
          r.wal.map((w) => `\n${walLine(w)}`).join(''),
      });
    });

  backup
    .command('info')
    .description('one backup in detail: versions, sizes, pipeline, checksums, row counts, labels')
    .argument('<id>', 'backup id (or "latest")')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const ctx = await createContext(cmd);
      const { backupInfo } = await import('./run-catalogue.js');
      const target = await catalogueTarget(ctx);
      const result = await backupInfo(
        { repository: await ctx.repository(), id, ...(target ? { target } : {}) },
        { logger: ctx.logger },
      );
      render(ctx, result, {
        table: (r) => {
          const m = r.manifest;
          const lines: [string, unknown][] = [
            ['id', r.id],
            ['target', `${r.target} (${m.target.where}${r.database ? `, database ${r.database}` : ''})`],
            [
              'engine / kind',
              `${r.engine} ${r.kind}, ${r.format}${m.method.jobs ? `, ${m.method.jobs} jobs` : ''}`,
            ],
            ['started', r.startedAt],
            ['finished', r.finishedAt],
            ['server', r.serverVersion],
            ['tool', r.toolVersion],
            ['dbops', `${m.dbops.version} on ${m.dbops.host}`],
            ['raw size', formatBytes(r.rawBytes)],
            ['stored size', formatBytes(r.storedBytes)],
            ['compression', r.compression],
            ['encryption', r.encryption],
            ['status', r.verifiedAt ? `${r.status} (${r.verifiedAt})` : r.status],
            [
              'labels',
              Object.keys(r.labels).length
                ? Object.entries(r.labels)
                    .map(([k, v]) => `${k}=${v}`)
                    .join(', ')
                : undefined,
            ],
          ];
          for (const o of m.objects)
            lines.push([`object`, `${o.key}  ${formatBytes(o.stored.size)}  sha256 ${o.stored.sha256}`]);
          if (m.rowCounts)
            lines.push([
              'row counts',
              `${Object.keys(m.rowCounts.tables).length} tables (${m.rowCounts.method})`,
            ]);
          for (const l of m.manualRestore) lines.push(['manual restore', l]);
          return keyValues(lines);
        },
      });
    });

  backup
    .command('verify')
    .description(
      'read a backup back: checksums, decryption, decompression, pg_restore --list; --restore also restores it into a throwaway cluster',
    )
    .argument('<id>', 'backup id (or "latest")')
    .option('--restore', 'restore into a fresh sandbox cluster and compare per-table row counts', false)
    .option(
      '-i, --identity <file>',
      'age identity file (default: encryption.identityFile, $DBOPS_AGE_IDENTITY)',
    )
    .action(async (id: string, opts: { restore: boolean; identity?: string }, cmd: Command) => {
      const ctx = await createContext(cmd);
      const { config } = await ctx.loadConfig();
      const [{ backupVerify }, { resolveReadOptions }] = await Promise.all([
        import('./run-verify.js'),
        import('./encryption.js'),
      ]);
      const target = await catalogueTarget(ctx);
      const result = await backupVerify(
        {
          repository: await ctx.repository(),
          id,
          ...(target ? { target } : {}),
          read: await resolveReadOptions(config.encryption, opts.identity),
          restore: opts.restore,
        },
        { logger: ctx.logger, progress: ctx.progress('bytes'), signal: ctx.signal },
      );
      render(ctx, result, {
        table: (r) =>
          [
            table(
              ['check', 'result', 'detail'],
              r.checks.map((c) => [c.name, c.ok ? 'ok' : 'FAILED', c.detail]),
            ),
            `${r.ok ? 'backup verified' : 'VERIFY FAILED'}: ${r.id} (${r.level}) in ${formatDuration(r.durationMs)}`,
          ].join('\n'),
      });
      setExitCode(result.ok ? 0 : 1);
    });

  backup
    .command('prune')
    .description(
      'delete backups outside the retention policy (grandfather-father-son) and leftovers of crashed backups',
    )
    .option('--keep-last <n>', 'keep the N newest backups', nonNegativeInt)
    .option(
      '--keep-daily <n>',
      'keep the newest backup of each of the last N days that have one',
      nonNegativeInt,
    )
    .option('--keep-weekly <n>', 'same per ISO week', nonNegativeInt)
    .option('--keep-monthly <n>', 'same per month', nonNegativeInt)
    .option('--keep-yearly <n>', 'same per year', nonNegativeInt)
    .option('--keep-within <duration>', 'keep every backup younger than DURATION (e.g. 7d, 36h)')
    .option('--dry-run', 'list what would go and why each kept backup is kept; delete nothing', false)
    .addOption(new Option('--now <time>', 'pretend the time is TIME (tests)').argParser(isoDate).hideHelp())
    .action(
      async (
        opts: {
          keepLast?: number;
          keepDaily?: number;
          keepWeekly?: number;
          keepMonthly?: number;
          keepYearly?: number;
          keepWithin?: string;
          dryRun: boolean;
          now?: Date;
        },
        cmd: Command,
      ) => {
        const ctx = await createContext(cmd);
        const { backupPrune } = await import('./run-prune.js');
        const target = await catalogueTarget(ctx);
        const policy = {
          ...(opts.keepLast !== undefined ? { keepLast: opts.keepLast } : {}),
          ...(opts.keepDaily !== undefined ? { keepDaily: opts.keepDaily } : {}),
          ...(opts.keepWeekly !== undefined ? { keepWeekly: opts.keepWeekly } : {}),
          ...(opts.keepMonthly !== undefined ? { keepMonthly: opts.keepMonthly } : {}),
          ...(opts.keepYearly !== undefined ? { keepYearly: opts.keepYearly } : {}),
          ...(opts.keepWithin !== undefined ? { keepWithin: opts.keepWithin } : {}),
        };
        const now = opts.now;
        const result = await backupPrune(
          {
            repository: await ctx.repository(),
            ...(target ? { target } : {}),
            policy,
            dryRun: opts.dryRun,
            ...(now ? { now: () => now } : {}),
          },
          { logger: ctx.logger },
        );
        render(ctx, result, {
          table: (r) => {
            const rows = r.targets.flatMap((t) =>
              t.decisions.map((d) => [
                t.target,
                d.id,
                d.keep ? 'keep' : r.dryRun ? 'would delete' : 'deleted',
                d.reasons.join(', '),
              ]),
            );
            const lines = [rows.length ? table(['target', 'id', 'action', 'why kept'], rows) : 'no backups'];
            if (r.leftovers.length) {
              lines.push(
                `${r.dryRun ? 'would remove' : 'removed'} ${r.leftovers.length} incomplete backup(s): ${r.leftovers.map((l) => l.id).join(', ')}`,
              );
            }
            if (r.strayObjects.length)
              lines.push(`${r.dryRun ? 'would remove' : 'removed'} ${r.strayObjects.length} stray object(s)`);
            lines.push(
              `${r.kept} kept, ${r.removed.length} ${r.dryRun ? 'to delete (dry run: nothing deleted)' : 'deleted'}`,
            );
            return lines.join('\n');
          },
        });
      },
    );

  backup
    .command('rekey')
    .description(
      'rotate encryption keys: rewrite only the age headers of stored backups (the data is not re-encrypted)',
    )
    .option('--add-recipient <age1…>', 'new recipient public key (repeatable)', collect, [])
    .option('--remove-recipient <age1…>', 'recipient to remove (repeatable)', collect, [])
    .option('--id <id>', 'only this backup (repeatable; default: every encrypted backup)', collect, [])
    .option(
      '-i, --identity <file>',
      'current age identity file (default: encryption.identityFile, $DBOPS_AGE_IDENTITY)',
    )
    .option('--dry-run', 'show which backups would change', false)
    .action(
      async (
        opts: {
          addRecipient: string[];
          removeRecipient: string[];
          id: string[];
          identity?: string;
          dryRun: boolean;
        },
        cmd: Command,
      ) => {
        const ctx = await createContext(cmd);
        const { config } = await ctx.loadConfig();
        const [{ backupRekey }, { resolveReadOptions, currentDecryptOptions }] = await Promise.all([
          import('./run-rekey.js'),
          import('./encryption.js'),
        ]);
        const target = await catalogueTarget(ctx);
        const result = await backupRekey(
          {
            repository: await ctx.repository(),
            ...(target ? { target } : {}),
            ...(opts.id.length ? { ids: opts.id } : {}),
            current: currentDecryptOptions(await resolveReadOptions(config.encryption, opts.identity)),
            add: opts.addRecipient,
            remove: opts.removeRecipient,
            dryRun: opts.dryRun,
          },
          { logger: ctx.logger },
        );
        render(ctx, result, {
          table: (r) =>
            [
              table(
                ['id', 'target', 'status', 'recipients'],
                r.backups.map((b) => [
                  b.id,
                  b.target,
                  b.status,
                  b.note ?? `${b.from.length} → ${b.to.length}`,
                ]),
              ),
              `${r.rekeyed} backup(s) ${r.dryRun ? 'would be rekeyed' : 'rekeyed'}`,
            ].join('\n'),
        });
      },
    );
}
