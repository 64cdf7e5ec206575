import type { PostgresHandle } from '../../connections/postgres/handle.js';
import { withPostgres } from '../../connections/postgres/handle.js';
import { poolWhere } from '../../connections/postgres/pool.js';
import type { ResolvedPostgresTarget } from '../../connections/target.js';
import { DbopsError, ExitCode } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { findPostgresTool, type PostgresClientTool } from '../../tools/find-tool.js';
import { parseServerVersionNum } from '../../tools/versions.js';
import type { DoctorCheck, DoctorTargetReport } from './types.js';

interface ServerFacts {
  version_num: string;
  version: string;
  is_superuser: boolean;
  rolreplication: boolean;
  read_all_stats: boolean;
  in_recovery: boolean;
  wal_level: string;
  archive_mode: string;
  archive_command: string;
  extensions: { name: string; installed: string | null }[];
}

// One round trip for everything the doctor wants to know about the server.
const serverFactsSql = `
select current_setting('server_version_num') as version_num,
       current_setting('server_version') as version,
       r.rolsuper as is_superuser,
       r.rolreplication,
       pg_has_role(current_user, 'pg_read_all_stats', 'member') as read_all_stats,
       pg_is_in_recovery() as in_recovery,
       current_setting('wal_level') as wal_level,
       current_setting('archive_mode') as archive_mode,
       current_setting('archive_command') as archive_command,
       coalesce((select json_agg(json_build_object('name', a.name, 'installed', a.installed_version) order by a.name)
                   from pg_available_extensions a
                  where a.name in ('pg_stat_statements', 'hypopg')), '[]'::json) as extensions
  from pg_roles r
 where r.rolname = current_user`;

const requiredTools: PostgresClientTool[] = ['pg_dump', 'pg_restore', 'psql'];
const optionalTools: PostgresClientTool[] = ['pg_basebackup'];

/** Above this many `.ready` segments the archiver is falling behind (`wal.maxBacklog` overrides). */
export const DEFAULT_MAX_WAL_BACKLOG = 16;

export async function checkPostgresTarget(
  target: ResolvedPostgresTarget,
  logger: Logger,
  options: { maxWalBacklog?: number } = {},
): Promise<DoctorTargetReport> {
  const report: DoctorTargetReport = {
    name: target.name,
    engine: 'postgres',
    where: poolWhere(target),
    checks: [],
  };
  const add = (c: DoctorCheck) => report.checks.push(c);
  try {
    await withPostgres(target, async (pg) => inspect(pg, report, add, options), {
      logger,
      maxConnections: 1,
    });
  } catch (err) {
    add(failureCheck('connect.primary', err, ExitCode.connection));
  }
  return report;
}

async function inspect(
  pg: PostgresHandle,
  report: DoctorTargetReport,
  add: (c: DoctorCheck) => void,
  options: { maxWalBacklog?: number },
) {
  const { rows } = await pg.query<ServerFacts>(serverFactsSql);
  const facts = rows[0]!;
  const server = parseServerVersionNum(Number(facts.version_num));
  report.serverVersion = facts.version;
  add({
    id: 'connect.primary',
    status: 'ok',
    message: `connected, PostgreSQL ${facts.version}${facts.in_recovery ? ' (in recovery: this is a standby)' : ''}`,
  });

  for (const r of await pg.replicas()) {
    add(
      r.ok
        ? { id: 'connect.replica', status: 'ok', message: `replica ${r.where}: lag ${r.lagSeconds ?? 0}s` }
        : {
            id: 'connect.replica',
            status: 'warn',
            message: `replica ${r.where} unusable: ${r.error ?? (r.inRecovery ? `lag ${r.lagSeconds}s above maxReplicaLag` : 'not in recovery')}`,
            hint: 'read-only work falls back to the primary',
          },
    );
  }

  const rights = [
    facts.is_superuser ? 'superuser' : null,
    facts.rolreplication ? 'replication' : null,
    facts.read_all_stats ? 'pg_read_all_stats' : null,
  ].filter(Boolean);
  add({
    id: 'role.rights',
    status: facts.is_superuser || (facts.rolreplication && facts.read_all_stats) ? 'ok' : 'warn',
    message: rights.length
      ? `role has ${rights.join(', ')}`
      : 'role has no superuser, replication or pg_read_all_stats',
    hint:
      facts.is_superuser || (facts.rolreplication && facts.read_all_stats)
        ? undefined
        : 'physical backups need REPLICATION; analyze needs pg_read_all_stats (GRANT pg_read_all_stats TO …)',
    details: {
      superuser: facts.is_superuser,
      replication: facts.rolreplication,
      pgReadAllStats: facts.read_all_stats,
    },
  });

  for (const name of ['pg_stat_statements', 'hypopg']) {
    const ext = facts.extensions.find((e) => e.name === name);
    add({
      id: `extension.${name}`,
      status: ext?.installed ? 'ok' : 'info',
      message: ext?.installed
        ? `${name} ${ext.installed} installed`
        : ext
          ? `${name} available but not installed in this database`
          : `${name} not available on the server`,
      hint: ext?.installed
        ? undefined
        : name === 'pg_stat_statements'
          ? "analyze's slow-query checks need it: shared_preload_libraries = 'pg_stat_statements', restart, CREATE EXTENSION pg_stat_statements"
          : 'analyze advise proves index advice with it: install postgresql-<major>-hypopg, CREATE EXTENSION hypopg',
    });
  }

  const archiving =
    facts.archive_mode !== 'off' && facts.archive_command !== '' && facts.archive_command !== '(disabled)';
  add({
    id: 'wal.settings',
    status: facts.wal_level === 'minimal' ? 'warn' : 'info',
    message: `wal_level=${facts.wal_level}, archive_mode=${facts.archive_mode}, archive_command=${facts.archive_command || "''"}`,
    hint: archiving
      ? undefined
      : 'continuous archiving is off; `dbops wal setup` prints the settings for point-in-time recovery',
    details: {
      walLevel: facts.wal_level,
      archiveMode: facts.archive_mode,
      archiveCommand: facts.archive_command,
    },
  });

  if (archiving) add(await walBacklogCheck(pg, options.maxWalBacklog ?? DEFAULT_MAX_WAL_BACKLOG));

  for (const tool of [...requiredTools, ...optionalTools]) {
    try {
      const found = await findPostgresTool(tool, { serverMajor: server.major });
      add({
        id: `tool.${tool}`,
        status: 'ok',
        message: `${tool} ${found.version} (${found.path}) fits server ${server.major}`,
      });
    } catch (err) {
      const required = requiredTools.includes(tool);
      add({
        ...failureCheck(`tool.${tool}`, err, ExitCode.tool),
        ...(required ? {} : { status: 'warn' as const, exitCode: undefined }),
      });
    }
  }
}

export function failureCheck(id: string, err: unknown, fallbackExit: number): DoctorCheck {
  const e = err instanceof DbopsError ? err : undefined;
  return {
    id,
    status: 'fail',
    message: err instanceof Error ? err.message : String(err),
    ...(e?.hint ? { hint: e.hint } : {}),
    exitCode: e?.exitCode ?? fallbackExit,
  };
}

/**
 * When archive_command keeps failing, `.ready` segments pile up until pg_wal fills the disk and
 * the server stops: the backlog is the early warning.
 */
async function walBacklogCheck(pg: PostgresHandle, threshold: number): Promise<DoctorCheck> {
  try {
    const { rows } = await pg.query<{ ready: string; failed_count: string; last_failed_wal: string | null }>(
      `select (select count(*) from pg_ls_archive_statusdir() where name like '%.ready') as ready,
              failed_count, last_failed_wal
         from pg_stat_archiver`,
    );
    const row = rows[0]!;
    const ready = Number(row.ready);
    return {
      id: 'wal.backlog',
      status: ready > threshold ? 'warn' : 'ok',
      message: `${ready} WAL segment(s) waiting to be archived (threshold ${threshold}); ${row.failed_count} failed attempts since stats reset`,
      ...(ready > threshold
        ? { hint: 'archive_command is failing or too slow: check `dbops wal status` and the server log' }
        : {}),
      details: {
        ready,
        threshold,
        failedCount: Number(row.failed_count),
        lastFailedWal: row.last_failed_wal,
      },
    };
  } catch (err) {
    return {
      id: 'wal.backlog',
      status: 'info',
      message: `cannot read the archive status: ${(err as Error).message}`,
      hint: 'pg_ls_archive_statusdir() needs superuser or pg_monitor',
    };
  }
}
