import type { Pool, PoolClient } from './pool.js';

export interface SessionSettings {
  /** statement_timeout, e.g. '30s' or milliseconds. */
  statementTimeout?: string | number;
  lockTimeout?: string | number;
  idleInTransactionTimeout?: string | number;
}

function settingPairs(s: SessionSettings): [string, string][] {
  const pairs: [string, string][] = [];
  if (s.statementTimeout !== undefined) pairs.push(['statement_timeout', String(s.statementTimeout)]);
  if (s.lockTimeout !== undefined) pairs.push(['lock_timeout', String(s.lockTimeout)]);
  if (s.idleInTransactionTimeout !== undefined)
    pairs.push(['idle_in_transaction_session_timeout', String(s.idleInTransactionTimeout)]);
  return pairs;
}

async function applySettings(client: PoolClient, s: SessionSettings, local: boolean): Promise<void> {
  for (const [name, value] of settingPairs(s)) {
    await client.query('select pg_catalog.set_config($1, $2, $3)', [name, value, local]);
  }
}

/** A pooled client for the duration of fn, with per-use timeouts reset before release. */
export async function withClient<T>(
  pool: Pool,
  fn: (client: PoolClient) => Promise<T>,
  settings: SessionSettings = {},
): Promise<T> {
  const client = await pool.connect();
  let broken = false;
  try {
    await applySettings(client, settings, false);
    return await fn(client);
  } catch (err) {
    broken = true;
    throw err;
  } finally {
    // A client whose session state is unknown (error mid-transaction) is discarded, not reused.
    if (!broken && settingPairs(settings).length > 0)
      await client.query('reset all').catch(() => (broken = true));
    client.release(broken);
  }
}

export interface TransactionOptions extends SessionSettings {
  readOnly?: boolean;
  isolation?: 'read committed' | 'repeatable read' | 'serializable';
}

/** BEGIN … COMMIT around fn, ROLLBACK on any error; settings are transaction-local. */
export async function withTransaction<T>(
  client: PoolClient,
  fn: (client: PoolClient) => Promise<T>,
  options: TransactionOptions = {},
): Promise<T> {
  const mode = [
    options.isolation ? `isolation level ${options.isolation}` : '',
    options.readOnly ? 'read only' : '',
  ]
    .filter(Boolean)
    .join(' ');
  await client.query(`begin${mode ? ` ${mode}` : ''}`);
  try {
    await applySettings(client, options, true);
    const result = await fn(client);
    await client.query('commit');
    return result;
  } catch (err) {
    await client.query('rollback').catch(() => {});
    throw err;
  }
}

/** A transaction that is always rolled back (EXPLAIN ANALYZE, dry runs). */
export async function withRollback<T>(
  client: PoolClient,
  fn: (client: PoolClient) => Promise<T>,
  options: TransactionOptions = {},
): Promise<T> {
  await client.query('begin');
  try {
    await applySettings(client, options, true);
    return await fn(client);
  } finally {
    await client.query('rollback').catch(() => {});
  }
}
