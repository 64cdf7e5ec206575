import type { PoolClient } from './pool.js';
import { withTransaction, type TransactionOptions } from './scope.js';

/**
 * Advisory locks keyed by a name. Transaction-scoped on purpose: a session lock held across
 * transactions breaks behind a transaction-pooling PgBouncer (the next transaction may run on
 * another server connection), while an xact lock lives and dies with the one transaction.
 * The name is hashed server-side with hashtextextended so every dbops process agrees on it.
 */
export const ADVISORY_NAMESPACE = 'dbops:';

export interface LockedResult<T> {
  acquired: boolean;
  result?: T;
}

/** Runs fn inside a transaction holding the lock; returns acquired=false at once if it is taken. */
export async function withTryAdvisoryXactLock<T>(
  client: PoolClient,
  name: string,
  fn: (client: PoolClient) => Promise<T>,
  options: TransactionOptions = {},
): Promise<LockedResult<T>> {
  return withTransaction(
    client,
    async (c) => {
      const { rows } = await c.query<{ locked: boolean }>(
        'select pg_try_advisory_xact_lock(hashtextextended($1, 0)) as locked',
        [ADVISORY_NAMESPACE + name],
      );
      if (!rows[0]?.locked) return { acquired: false };
      return { acquired: true, result: await fn(c) };
    },
    options,
  );
}

/** Is the named lock held by someone right now? (for status displays) */
export async function isAdvisoryLockHeld(client: PoolClient, name: string): Promise<boolean> {
  const { rows } = await client.query<{ held: boolean }>(
    `select exists (
       select 1 from pg_locks
        where locktype = 'advisory'
          and ((classid::bigint << 32) | objid::bigint) = hashtextextended($1, 0)
     ) as held`,
    [ADVISORY_NAMESPACE + name],
  );
  return rows[0]?.held ?? false;
}
