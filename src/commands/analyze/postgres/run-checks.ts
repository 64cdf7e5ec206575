import type { AnalyzeCheckId, AnalyzeConfig } from '../../../config/sections/analyze.js';
import { describePgError, withPostgres, type ResolvedPostgresTarget } from '../../../connections/index.js';
import type { Logger } from '../../../logger.js';
import { catalogue } from '../catalogue.js';
import { checkSettings } from '../settings.js';
import type { CheckRun, Finding, ObservationWindow } from '../types.js';
import { postgresChecks } from './checks/index.js';
import type { PgCheckContext } from './context.js';
import { withRunner, type QueryCounter, type SqlRunner } from './session.js';

export interface PostgresRunOptions {
  checks: AnalyzeCheckId[];
  config: AnalyzeConfig;
  minWindowSeconds: number;
  statementTimeoutMs: number;
  expectsWalArchiving: boolean;
}

export interface PostgresRunResult {
  where: string;
  window: ObservationWindow[];
  checks: CheckRun[];
  findings: Finding[];
}

/**
 * Observation window per node: since stats_reset, or when it was never reset, since the server
 * started (statistics are lost on a crash restart, so the start time is a safe lower bound).
 */
export const WINDOW_SQL = `
select coalesce(stats_reset, pg_postmaster_start_time()) as since, stats_reset,
       extract(epoch from now() - coalesce(stats_reset, pg_postmaster_start_time()))::float8 as seconds
  from pg_stat_database where datname = current_database()`;

async function withRunners<T>(
  specs: { pool: SqlRunnerPool; node: string; role: 'primary' | 'replica' }[],
  counter: QueryCounter,
  timeoutMs: number,
  fn: (runners: SqlRunner[]) => Promise<T>,
  acc: SqlRunner[] = [],
): Promise<T> {
  const [first, ...rest] = specs;
  if (!first) return fn(acc);
  return withRunner(first.pool, first.node, first.role, counter, timeoutMs, (r) =>
    withRunners(rest, counter, timeoutMs, fn, [...acc, r]),
  );
}
type SqlRunnerPool = Parameters<typeof withRunner>[0];

export async function runPostgresChecks(
  target: ResolvedPostgresTarget,
  options: PostgresRunOptions,
  deps: { logger: Logger; counter: QueryCounter; signal?: AbortSignal | undefined },
): Promise<PostgresRunResult> {
  const { counter, logger } = deps;
  counter.sent++; // the connection check
  return withPostgres(
    target,
    async (pg) => {
      const replicas = await pg.replicas();
      counter.sent += replicas.length;
      const reader = await pg.reader();
      const healthy = replicas.filter((r) => r.ok && r.pool);
      const unreachable = replicas
        .filter((r) => !r.ok || !r.pool)
        .map((r) => ({ where: r.where, error: r.error ?? `lagging (${r.lagSeconds ?? '?'} s)` }));
      const specs = [
        { pool: pg.pool, node: pg.where, role: 'primary' as const },
        ...healthy.map((r) => ({ pool: r.pool!, node: r.where, role: 'replica' as const })),
      ];
      return withRunners(specs, counter, options.statementTimeoutMs, async (runners) => {
        const primary = runners[0]!;
        const readerRunner = runners.find((r) => r.node === reader.where) ?? primary;
        const windows: ObservationWindow[] = [];
        for (const r of runners) {
          const [w] = await r.query<{ stats_reset: Date | null; seconds: number }>(WINDOW_SQL);
          windows.push({
            node: r.node,
            role: r.role,
            statsReset: w?.stats_reset ? new Date(w.stats_reset).toISOString() : null,
            days: w ? Math.round((Number(w.seconds) / 86400) * 1000) / 1000 : null,
          });
        }
        const ctx: PgCheckContext = {
          reader: readerRunner,
          primary,
          nodes: runners,
          unreachableReplicas: unreachable,
          replicaHealth: replicas.map((r) => ({
            where: r.where,
            ok: r.ok,
            ...(r.lagSeconds !== undefined ? { lagSeconds: r.lagSeconds } : {}),
            ...(r.error ? { error: r.error } : {}),
          })),
          windows,
          minWindowSeconds: options.minWindowSeconds,
          excludeSchemas: options.config.excludeSchemas,
          expectsWalArchiving: options.expectsWalArchiving,
          config: options.config,
          memo: new Map(),
          settings: (id) => checkSettings(options.config, id),
        };
        const checks: CheckRun[] = [];
        const findings: Finding[] = [];
        for (const id of options.checks) {
          deps.signal?.throwIfAborted();
          const check = postgresChecks[id];
          if (!check) {
            checks.push({
              check: id,
              status: 'skipped',
              findings: 0,
              note: `not available for PostgreSQL (${catalogue[id].engines.join(', ')} only)`,
            });
            continue;
          }
          const started = Date.now();
          try {
            const out = await check.run(ctx);
            findings.push(...out.findings);
            checks.push({
              check: id,
              status: out.skipped ? 'skipped' : out.findings.length ? 'findings' : 'ok',
              findings: out.findings.length,
              ...(out.skipped ? { note: out.skipped.note } : {}),
              ...(out.skipped?.hint ? { hint: out.skipped.hint } : {}),
            });
          } catch (err) {
            const code = (err as { code?: string }).code;
            checks.push({
              check: id,
              status: 'error',
              findings: 0,
              note: describePgError(err),
              ...(code === '57014'
                ? { hint: 'statement_timeout hit: raise analyze.statementTimeout or run on a replica' }
                : code === '42501'
                  ? { hint: 'grant pg_monitor (or pg_read_all_stats) to the dbops role' }
                  : {}),
            });
          }
          logger.debug(`check ${id}`, { ms: Date.now() - started });
        }
        return { where: pg.where, window: windows, checks, findings };
      });
    },
    { logger, maxConnections: 2 },
  );
}
