import type { QueryResultRow } from 'pg';

import { withClient, type Pool, type PoolClient } from '../../../connections/index.js';

/** Counts every statement dbops sends, for the report and the benchmark. */
export interface QueryCounter {
  sent: number;
}

/** One pooled session on one node, with a statement timeout, that counts what it sends. */
export interface SqlRunner {
  readonly node: string;
  readonly role: 'primary' | 'replica';
  query<R extends QueryResultRow = QueryResultRow>(sql: string, params?: unknown[]): Promise<R[]>;
  readonly client: PoolClient;
}

export function countingRunner(
  client: PoolClient,
  node: string,
  role: 'primary' | 'replica',
  counter: QueryCounter,
): SqlRunner {
  return {
    node,
    role,
    client,
    async query<R extends QueryResultRow>(sql: string, params?: unknown[]) {
      counter.sent++;
      const result = await client.query<R>(sql, params);
      return result.rows;
    },
  };
}

/**
 * A session for fn; statement_timeout is set on it (one statement) and reset before the client
 * goes back to the pool (one more), both counted.
 */
export async function withRunner<T>(
  pool: Pool,
  node: string,
  role: 'primary' | 'replica',
  counter: QueryCounter,
  statementTimeoutMs: number,
  fn: (runner: SqlRunner) => Promise<T>,
): Promise<T> {
  counter.sent += 2;
  return withClient(pool, (client) => fn(countingRunner(client, node, role, counter)), {
    statementTimeout: Math.round(statementTimeoutMs),
  });
}

/** System schemas are never inspected; $1 carries the configured exclusions. */
export const userSchemaFilter = (alias: string, param = '$1') =>
  `${alias}.nspname <> all(${param}::text[]) and ${alias}.nspname not like 'pg\\_%' and ${alias}.nspname <> 'information_schema'`;

export const num = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v));
