import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import pg from './pg.js';

import type { TlsConfig } from '../../config/schema.js';
import { ConfigError } from '../../errors.js';
import { redactUrl } from '../redact.js';
import type { ResolvedPostgresTarget } from '../target.js';
import { postgresConnectError } from './errors.js';

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;

export interface OpenPoolOptions {
  /** Which URL of the target: the primary's, or a replica's. */
  url?: string | undefined;
  max?: number;
  applicationName?: string;
}

function sslOptions(tls: TlsConfig | undefined): boolean | ConnectionOptions | undefined {
  if (!tls?.mode) return undefined;
  const read = (file: string | undefined) => {
    if (!file) return undefined;
    try {
      return readFileSync(file, 'utf8');
    } catch (err) {
      throw new ConfigError(`cannot read TLS file ${file}: ${(err as Error).message}`, { cause: err });
    }
  };
  const files = { ca: read(tls.caFile), cert: read(tls.certFile), key: read(tls.keyFile) };
  switch (tls.mode) {
    case 'disable':
    case 'allow':
    case 'prefer':
      // node-postgres cannot fall back between TLS and plain text as libpq does: only
      // "require" and stronger turn TLS on.
      return tls.mode === 'disable' ? false : undefined;
    case 'require':
      return { ...files, rejectUnauthorized: false };
    case 'verify-ca':
      // verify-ca checks the chain but not the host name, as libpq does.
      return { ...files, rejectUnauthorized: true, checkServerIdentity: () => undefined };
    case 'verify-full':
      return { ...files, rejectUnauthorized: true };
  }
}

/** Printable name of where a pool connects. */
export function poolWhere(target: ResolvedPostgresTarget, url = target.url): string {
  if (url) return redactUrl(url);
  const env = process.env;
  return `${env.PGHOST ?? 'localhost'}:${env.PGPORT ?? 5432} (PG* environment)`;
}

/**
 * A pg pool with application_name=dbops and the target's connect timeout. The pool itself
 * connects lazily; use checkConnection() to fail early with a clear error.
 */
export function openPool(target: ResolvedPostgresTarget, options: OpenPoolOptions = {}): Pool {
  const url = options.url ?? target.url;
  const ssl = sslOptions(target.tls);
  const pool = new pg.Pool({
    ...(url ? { connectionString: url } : {}),
    ...(ssl === undefined ? {} : { ssl }),
    application_name: options.applicationName ?? 'dbops',
    connectionTimeoutMillis: Math.round(target.connectTimeout * 1000),
    max: options.max ?? 4,
    // Idle clients must not keep a finished command alive.
    idleTimeoutMillis: 1000,
    allowExitOnIdle: true,
  });
  // An idle client's error (server restart) must not crash the process; the next query reports it.
  pool.on('error', () => {});
  // Nor a checked-out one's: a client that waits between queries (the snapshot a backup holds
  // while pg_dump runs, a retention run's lock holder) gets the error event with no query to
  // reject, when its server process is terminated. Its next query fails and says so.
  pool.on('connect', (client) => {
    client.on('error', () => {});
  });
  return pool;
}

/** Connects once and runs `select 1`, turning failures into ConnectionError (exit 3). */
export async function checkConnection(pool: Pool, where: string): Promise<void> {
  let client: PoolClient | undefined;
  try {
    client = await pool.connect();
    await client.query('select 1');
  } catch (err) {
    throw postgresConnectError(err, where);
  } finally {
    client?.release();
  }
}

/**
 * A pool whose first connection was begun before the command reached withPostgres, so that the
 * handshake (TCP, the server's backend start-up, SCRAM: ~35 ms on the 2-core machines) overlaps
 * the command's remaining set-up instead of following it. withPostgres adopts it once, for the
 * same target; its failure is reported there, as the failure of that first connection.
 */
interface WarmPool {
  key: string;
  pool: Pool;
  first: Promise<void>;
}
let warm: WarmPool | undefined;

function warmKey(target: ResolvedPostgresTarget): string {
  return JSON.stringify([target.url ?? null, target.tls ?? null, target.connectTimeout]);
}

/** Starts connecting to `target` now, for a command that will need it (see WarmPool). */
export function warmUp(target: ResolvedPostgresTarget): void {
  if (warm) return;
  let pool: Pool;
  try {
    pool = openPool(target);
  } catch {
    return; // a bad TLS file: withPostgres reports it
  }
  const first = pool.connect().then((client) => client.release());
  first.catch(() => {});
  warm = { key: warmKey(target), pool, first };
}

/** The pool warmUp opened for this target, once; undefined when there is none. */
export function adoptWarmPool(target: ResolvedPostgresTarget): WarmPool | undefined {
  if (!warm || warm.key !== warmKey(target)) return undefined;
  const adopted = warm;
  warm = undefined;
  return adopted;
}
