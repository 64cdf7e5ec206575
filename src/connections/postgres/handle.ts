import type { QueryResult, QueryResultRow } from 'pg';

import type { Logger } from '../../logger.js';
import { silentLogger } from '../../logger.js';
import type { ResolvedPostgresTarget } from '../target.js';
import { postgresConnectError } from './errors.js';
import { adoptWarmPool, checkConnection, openPool, poolWhere, type Pool, type PoolClient } from './pool.js';
import { withClient, type SessionSettings } from './scope.js';

export interface ReaderInfo {
  pool: Pool;
  role: 'primary' | 'replica';
  where: string;
  /** Replay lag in seconds when role is replica. */
  lagSeconds?: number;
}

export interface ReplicaHealth {
  where: string;
  ok: boolean;
  inRecovery?: boolean;
  lagSeconds?: number | null;
  error?: string;
}

/** An opened PostgreSQL target: the primary pool, plus replicas opened on demand. */
export interface PostgresHandle {
  readonly target: ResolvedPostgresTarget;
  readonly pool: Pool;
  readonly where: string;
  query<R extends QueryResultRow = QueryResultRow>(sql: string, params?: unknown[]): Promise<QueryResult<R>>;
  withClient<T>(fn: (client: PoolClient) => Promise<T>, settings?: SessionSettings): Promise<T>;
  /** For read-only work: a healthy replica when one is configured, else the primary. */
  reader(): Promise<ReaderInfo>;
  /** Every configured replica with its health (doctor, analyze reads all of them). */
  replicas(): Promise<(ReplicaHealth & { pool?: Pool })[]>;
}

export interface WithPostgresOptions {
  logger?: Logger;
  /** Connect and fail with ConnectionError (exit 3) before calling fn. Default true. */
  check?: boolean;
  database?: string;
  maxConnections?: number;
}

/** Same target pointed at another database of the same server. */
export function withDatabase(target: ResolvedPostgresTarget, database: string): ResolvedPostgresTarget {
  if (!target.url) return { ...target, url: `postgresql:///${encodeURIComponent(database)}` };
  const url = new URL(target.url);
  url.pathname = `/${encodeURIComponent(database)}`;
  return { ...target, url: url.toString() };
}

/**
 * Opens the target for the duration of fn and closes every pool it opened in finally,
 * also on errors and on abort.
 */
export async function withPostgres<T>(
  targetIn: ResolvedPostgresTarget,
  fn: (pg: PostgresHandle) => Promise<T>,
  options: WithPostgresOptions = {},
): Promise<T> {
  const logger = options.logger ?? silentLogger;
  const target = options.database ? withDatabase(targetIn, options.database) : targetIn;
  const where = poolWhere(target);
  const max = options.maxConnections ?? 4;
  const warmed = options.database === undefined && max === 4 ? adoptWarmPool(target) : undefined;
  const pool = warmed?.pool ?? openPool(target, { max });
  const extraPools: Pool[] = [];
  let chosenReader: Promise<ReaderInfo> | undefined;
  let replicaList: Promise<(ReplicaHealth & { pool?: Pool })[]> | undefined;

  const replicas = () =>
    (replicaList ??= Promise.all(
      target.replicas.map(async (url) => {
        const replicaWhere = poolWhere(target, url);
        const replicaPool = openPool(target, { url, max: 2 });
        extraPools.push(replicaPool);
        try {
          const { rows } = await replicaPool.query<{ in_recovery: boolean; lag: number | null }>(
            `select pg_is_in_recovery() as in_recovery,
                    extract(epoch from now() - pg_last_xact_replay_timestamp())::float8 as lag`,
          );
          const row = rows[0]!;
          const ok = row.in_recovery && (row.lag === null || row.lag <= target.maxReplicaLag);
          return {
            where: replicaWhere,
            ok,
            inRecovery: row.in_recovery,
            lagSeconds: row.lag,
            pool: replicaPool,
          };
        } catch (err) {
          return { where: replicaWhere, ok: false, error: postgresConnectError(err, replicaWhere).message };
        }
      }),
    ));

  const handle: PostgresHandle = {
    target,
    pool,
    where,
    query: (sql, params) => pool.query(sql, params),
    withClient: (fn2, settings) => withClient(pool, fn2, settings),
    replicas,
    reader: () =>
      (chosenReader ??= (async () => {
        for (const r of await replicas()) {
          if (r.ok && r.pool) {
            logger.debug(`reading from replica ${r.where}`, { lagSeconds: r.lagSeconds });
            return { pool: r.pool, role: 'replica' as const, where: r.where, lagSeconds: r.lagSeconds ?? 0 };
          }
          logger.warn(`replica ${r.where} not used: ${r.error ?? `lag ${r.lagSeconds}s`}`);
        }
        return { pool, role: 'primary' as const, where };
      })()),
  };

  try {
    await warmed?.first.catch((err: unknown) => {
      throw postgresConnectError(err, where);
    });
    if (options.check !== false) await checkConnection(pool, where);
    return await fn(handle);
  } finally {
    await Promise.allSettled([pool.end(), ...extraPools.map((p) => p.end())]);
  }
}
