import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { appendFile, chown, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';

import type { RepositoryConfig } from '../../../config/schema.js';
import type { ResolvedPostgresTarget } from '../../../connections/target.js';
import { redactUrl } from '../../../connections/redact.js';
import { ConfigError, ToolError } from '../../../errors.js';
import { silentLogger, type Logger, noProgress, type Progress } from '../../../logger.js';
import { withRepository } from '../../../storage/open.js';
import type { ReadPipelineOptions } from '../../../streams/pipeline.js';
import { scanCatalogue, type CatalogueEntry } from '../../backup/catalogue.js';
import { readObject } from '../../backup/read-object.js';
import { readArchiveInfo } from '../../wal/archive-info.js';
import { DEFAULT_SEGMENT_SIZE, parseLsn, parseWalFileName, segmentEndLsn } from '../../wal/segment.js';
import { listArchivedWal, segmentsForBackup } from '../../wal/status.js';
import {
  parseRecoveryTarget,
  recoveryConf,
  type RecoveryTarget,
  type RecoveryTargetInput,
} from './targets.js';

export interface PhysicalRestoreOptions extends RecoveryTargetInput {
  repository: { name: string; config: RepositoryConfig };
  /** Backup id, or `latest` (the newest one before the target). */
  id: string;
  /** The target whose backups and WAL to use. */
  sourceTarget: string;
  pgdata: string;
  targetAction?: 'promote' | 'pause' | 'shutdown';
  read: ReadPipelineOptions;
  /** `<node> <dbops.js> [--config F]`: the restored server runs `<prefix> wal fetch %f %p`. */
  commandPrefix: string;
  start?: boolean;
  port?: number;
  /** Keep archive_mode as backed up (default: off in the copy). */
  keepArchiving?: boolean;
  /** For --start: how to connect (credentials of the source; host/port are replaced). */
  connectAs?: ResolvedPostgresTarget;
  timeoutSeconds?: number;
}

export interface PhysicalRestoreResult {
  id: string;
  pgdata: string;
  target: RecoveryTarget['kind'];
  targetValue: string | undefined;
  action: string;
  backup: { startLsn: string; stopLsn: string; timeline: number; stopTime: string };
  archive: { newestSegment: string | undefined; newestArchivedAt: string | undefined };
  restoreCommand: string;
  rawBytes: number;
  started: boolean;
  port?: number;
  url?: string;
  /** Where recovery ended (with --start). */
  reached?: {
    state: 'promoted' | 'paused' | 'shut down' | 'in recovery' | 'failed';
    lsn: string | null;
    lastTransactionTime: string | null;
    logLines: string[];
  };
  logFile?: string;
  durationMs: number;
}

type PhysicalEntry = CatalogueEntry & {
  manifest: { physical: NonNullable<CatalogueEntry['manifest']['physical']> };
};

function stopTimeOf(e: PhysicalEntry): Date {
  const t = (e.manifest.physical as { stopTime?: string }).stopTime;
  return new Date(t ?? e.manifest.finishedAt);
}

/** The newest backup that ends before the target; never one newer than it (pgbackrest#817). */
export function chooseBackup(backups: PhysicalEntry[], id: string, target: RecoveryTarget): PhysicalEntry {
  const sorted = [...backups].sort((a, b) => stopTimeOf(a).getTime() - stopTimeOf(b).getTime());
  const fits = (b: PhysicalEntry) =>
    target.kind === 'time'
      ? stopTimeOf(b) <= target.time
      : target.kind === 'lsn'
        ? parseLsn(b.manifest.physical.stopLsn) <= target.lsn
        : true;
  if (sorted.length === 0)
    throw new ConfigError('no physical backups in the repository', { hint: 'dbops backup run --physical' });
  if (id !== 'latest') {
    const chosen = sorted.find((b) => b.id === id);
    if (!chosen)
      throw new ConfigError(`no physical backup ${id}`, { hint: 'dbops backup list shows the backups' });
    if (!fits(chosen))
      throw new ConfigError(`backup ${id} ends after the recovery target; recovery cannot go back in time`, {
        hint: 'choose an older backup, or leave the id as latest',
      });
    return chosen;
  }
  const candidates = sorted.filter(fits);
  if (candidates.length === 0) {
    throw new ConfigError(
      `the recovery target is before the oldest physical backup (which ends at ${stopTimeOf(sorted[0]!).toISOString()} / ${sorted[0]!.manifest.physical.stopLsn})`,
      {
        hint: 'no backup can reach a point before its own end',
      },
    );
  }
  return candidates[candidates.length - 1]!;
}

async function ensureEmptyDir(dir: string): Promise<void> {
  if (existsSync(dir)) {
    const entries = await readdir(dir);
    if (entries.length > 0)
      throw new ConfigError(`${dir} is not empty`, {
        hint: 'a physical restore lays the cluster down into an empty (or new) directory',
      });
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
}

async function untar(dir: string): Promise<{ stdin: NodeJS.WritableStream; done: Promise<void> }> {
  const child = spawn('tar', ['-x', '-f', '-', '-C', dir], { stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<void>((res, rej) => {
    child.on('error', (err) => rej(new ToolError(`tar could not run: ${err.message}`, { tool: 'tar' })));
    child.on('close', (code) =>
      code === 0
        ? res()
        : rej(new ToolError(`tar exited with code ${code}: ${stderr.slice(-1000)}`, { tool: 'tar' })),
    );
  });
  done.catch(() => {});
  return { stdin: child.stdin, done };
}

async function chownTree(dir: string, uid: number, gid: number): Promise<void> {
  await chown(dir, uid, gid);
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) await chownTree(p, uid, gid);
    else await chown(p, uid, gid);
  }
}

async function pgCtlPath(major: number | undefined): Promise<string> {
  if (major !== undefined) {
    const p = `/usr/lib/postgresql/${major}/bin/pg_ctl`;
    if (existsSync(p)) return p;
  }
  const { findServerBinaries } = await import('../../../sandbox/server-binaries.js');
  return join((await findServerBinaries()).binDir, 'pg_ctl');
}

function run(
  cmd: string,
  args: string[],
  opts: { uid?: number; gid?: number },
): Promise<{ code: number | null; output: string }> {
  return new Promise((res) => {
    const child = spawn(cmd, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      ...opts,
      env: { ...process.env, LC_MESSAGES: 'C' },
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', (err) => res({ code: -1, output: err.message }));
    child.on('close', (code) => res({ code, output }));
  });
}

/**
 * Lays a physical backup down into an empty directory and configures recovery to the target
 * through `dbops wal fetch`; with `start`, starts the server, waits until recovery reaches the
 * target (or the end of the archive) and reports the point reached.
 */
export async function physicalRestoreRun(
  o: PhysicalRestoreOptions,
  deps: { logger?: Logger; progress?: Progress; signal?: AbortSignal } = {},
): Promise<PhysicalRestoreResult> {
  const logger = deps.logger ?? silentLogger;
  const progress = deps.progress ?? noProgress;
  const started = performance.now();
  const target = parseRecoveryTarget(o);
  const action = o.targetAction ?? 'promote';
  const pgdata = resolve(o.pgdata);

  return withRepository(
    o.repository.name,
    o.repository.config,
    async (repo) => {
      const scan = await scanCatalogue(repo, o.sourceTarget);
      const physical = scan.backups.filter(
        (b): b is PhysicalEntry => b.manifest.kind === 'physical' && b.manifest.physical !== undefined,
      );
      const chosen = chooseBackup(physical, o.id, target);
      const p = chosen.manifest.physical as PhysicalEntry['manifest']['physical'] & {
        walTarget?: string;
        segmentSize?: number;
      };
      const walTarget = p.walTarget ?? o.sourceTarget;
      const segmentSize =
        p.segmentSize ?? (await readArchiveInfo(repo, walTarget))?.segmentSize ?? DEFAULT_SEGMENT_SIZE;

      // Refuse up front what recovery could not reach, rather than let it stop short silently.
      const wal = (await listArchivedWal(repo, walTarget)).filter(
        (w) => parseWalFileName(w.name).kind === 'segment',
      );
      const names = new Set(wal.map((w) => w.name));
      const missing = segmentsForBackup(p.timeline, p.startLsn, p.stopLsn, segmentSize).filter(
        (s) => !names.has(s),
      );
      if (missing.length)
        throw new ConfigError(
          `backup ${chosen.id} lacks its WAL (${missing[0]} is not archived); it cannot be restored consistently`,
        );
      const newest = wal.reduce<(typeof wal)[number] | undefined>(
        (a, b) => (!a || b.modified > a.modified ? b : a),
        undefined,
      );
      const newestByName = [...names].sort().pop();
      if (target.kind === 'time' && newest && newest.modified < target.time) {
        throw new ConfigError(
          `the recovery target ${target.value} is beyond the archive, which ends at ${newest.modified.toISOString()} (${newest.name})`,
          {
            hint: 'wait for the segment holding the target to be archived (archive_timeout, or SELECT pg_switch_wal()), or recover to the end',
          },
        );
      }
      if (target.kind === 'lsn' && newestByName && segmentEndLsn(newestByName, segmentSize) < target.lsn) {
        throw new ConfigError(
          `the recovery target LSN ${target.value} is beyond the archive, which ends in ${newestByName}`,
        );
      }

      await ensureEmptyDir(pgdata);
      const object = chosen.manifest.objects[0]!;
      let rawBytes: number;
      try {
        const tar = await untar(pgdata);
        progress.start('restore');
        const r = await readObject(repo, object, tar.stdin as never, {
          read: o.read,
          ...(deps.signal ? { signal: deps.signal } : {}),
          onProgress: (s) => progress.update(s),
        });
        await tar.done;
        progress.stop();
        rawBytes = r.rawBytes;
      } catch (err) {
        progress.stop();
        // The directory was empty: leave it so, never a half cluster that might be started.
        for (const e of await readdir(pgdata).catch(() => []))
          await rm(join(pgdata, e), { recursive: true, force: true });
        throw err;
      }
      const restoreCommand = `${o.commandPrefix}${o.repository.name ? ` --repo ${o.repository.name}` : ''} --target ${walTarget} wal fetch %f %p`;
      let port = o.port;
      if (o.start && port === undefined) {
        const { freePort } = await import('../../../sandbox/cluster.js');
        port = await freePort();
      }
      await appendFile(
        join(pgdata, 'postgresql.auto.conf'),
        `\n${recoveryConf({ restoreCommand, target, action, id: chosen.id, port, keepArchiving: o.keepArchiving ?? false })}`,
      );
      await writeFile(join(pgdata, 'recovery.signal'), '');
      await mkdir(join(pgdata, 'pg_wal', 'archive_status'), { recursive: true, mode: 0o700 });

      const result: PhysicalRestoreResult = {
        id: chosen.id,
        pgdata,
        target: target.kind,
        targetValue: 'value' in target ? target.value : undefined,
        action,
        backup: {
          startLsn: p.startLsn,
          stopLsn: p.stopLsn,
          timeline: p.timeline,
          stopTime: stopTimeOf(chosen).toISOString(),
        },
        archive: { newestSegment: newestByName, newestArchivedAt: newest?.modified.toISOString() },
        restoreCommand,
        rawBytes,
        started: false,
        durationMs: 0,
      };
      if (!o.start) return { ...result, durationMs: Math.round(performance.now() - started) };

      let owner: { uid: number; gid: number } | undefined;
      if (process.getuid?.() === 0) {
        const { pickServerOsUser } = await import('../../../sandbox/os-user.js');
        const u = await pickServerOsUser();
        owner = { uid: u.uid, gid: u.gid };
        await chownTree(pgdata, u.uid, u.gid);
      }
      const logFile = join(pgdata, 'dbops-restore.log');
      const pgCtl = await pgCtlPath(chosen.manifest.server.major);
      const timeout = o.timeoutSeconds ?? 600;
      const s = await run(
        pgCtl,
        ['-D', pgdata, '-l', logFile, '-w', '-t', String(timeout), 'start'],
        owner ?? {},
      );
      const reached = await waitForRecovery(o.connectAs, port!, logFile, timeout, s.code === 0, logger);
      return {
        ...result,
        started: true,
        port: port!,
        ...(o.connectAs?.url ? { url: redactUrl(withPort(o.connectAs.url, port!)) } : {}),
        reached,
        logFile,
        durationMs: Math.round(performance.now() - started),
      };
    },
    logger,
  );
}

function withPort(url: string, port: number): string {
  const u = new URL(url);
  u.hostname = '127.0.0.1';
  u.port = String(port);
  return u.toString();
}

async function recoveryLogLines(logFile: string): Promise<string[]> {
  const text = await readFile(logFile, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((l) =>
      /recovery stopping|last completed transaction|recovery ended|redo done|pausing at the end|selected new timeline|FATAL|archive recovery complete|database system is ready|recovery has paused/.test(
        l,
      ),
    )
    .slice(-12);
}

async function waitForRecovery(
  connectAs: ResolvedPostgresTarget | undefined,
  port: number,
  logFile: string,
  timeoutSeconds: number,
  startedOk: boolean,
  logger: Logger,
): Promise<NonNullable<PhysicalRestoreResult['reached']>> {
  const deadline = Date.now() + timeoutSeconds * 1000;
  if (!startedOk || !connectAs?.url) {
    const lines = await recoveryLogLines(logFile);
    const down = lines.some((l) => /shutting down|FATAL/.test(l));
    return {
      state: startedOk ? 'in recovery' : down ? 'shut down' : 'failed',
      lsn: null,
      lastTransactionTime: null,
      logLines: lines,
    };
  }
  const { withPostgres } = await import('../../../connections/postgres/handle.js');
  const t: ResolvedPostgresTarget = { ...connectAs, url: withPort(connectAs.url, port), replicas: [] };
  for (;;) {
    try {
      const row = await withPostgres(
        t,
        async (pg) =>
          (
            await pg.query<{ recovery: boolean; paused: string | null; lsn: string | null; ts: Date | null }>(
              `select pg_is_in_recovery() as recovery,
                      case when pg_is_in_recovery() then pg_get_wal_replay_pause_state() end as paused,
                      pg_last_wal_replay_lsn()::text as lsn, pg_last_xact_replay_timestamp() as ts`,
            )
          ).rows[0]!,
        { logger, maxConnections: 1 },
      );
      if (!row.recovery || row.paused === 'paused') {
        return {
          state: row.recovery ? 'paused' : 'promoted',
          lsn: row.lsn,
          lastTransactionTime: row.ts ? new Date(row.ts).toISOString() : null,
          logLines: await recoveryLogLines(logFile),
        };
      }
    } catch (err) {
      const lines = await recoveryLogLines(logFile);
      if (
        lines.some((l) => /FATAL|shutting down|database system is shut down/.test(l)) &&
        !existsSync(join(logFile, '..', 'postmaster.pid'))
      ) {
        return { state: 'shut down', lsn: null, lastTransactionTime: null, logLines: lines };
      }
      logger.debug('waiting for the restored server', { error: (err as Error).message });
    }
    if (Date.now() > deadline)
      return {
        state: 'in recovery',
        lsn: null,
        lastTransactionTime: null,
        logLines: await recoveryLogLines(logFile),
      };
    await new Promise((r) => setTimeout(r, 500));
  }
}
