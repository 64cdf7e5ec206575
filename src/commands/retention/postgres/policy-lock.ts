import { withTryAdvisoryXactLock } from '../../../connections/postgres/advisory-lock.js';
import type { Pool } from '../../../connections/postgres/pool.js';

export interface HeldLock {
  /** Throws when the lock's connection is gone (the lock with it): stop before the next batch. */
  check(): Promise<void>;
}

/**
 * Holds a per-policy advisory lock for a whole run without a session lock: one transaction on a
 * dedicated connection takes `pg_try_advisory_xact_lock` and stays open (idle, no snapshot, no
 * xid, so it holds back neither vacuum nor anything else) until the run ends. A transaction keeps
 * its server connection even behind a transaction-pooling PgBouncer, where a session lock would be
 * left on a server connection someone else gets next. Batches run on other connections.
 */
export async function withHeldXactLock<T>(
  pool: Pool,
  name: string,
  fn: (lock: HeldLock) => Promise<T>,
): Promise<{ acquired: boolean; result?: T }> {
  const client = await pool.connect();
  let broken = false;
  try {
    return await withTryAdvisoryXactLock(
      client,
      name,
      async (c) => {
        let lastCheck = Date.now();
        return fn({
          async check() {
            if (Date.now() - lastCheck < 2000) return;
            lastCheck = Date.now();
            await c.query('select 1');
          },
        });
      },
      // The holder is idle in transaction by design; a site-wide idle timeout must not kill it.
      { idleInTransactionTimeout: 0, statementTimeout: 0 },
    );
  } catch (err) {
    broken = true;
    throw err;
  } finally {
    client.release(broken);
  }
}
