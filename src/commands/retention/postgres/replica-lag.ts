import type { Logger } from '../../../logger.js';
import { sleep } from '../../../sleep.js';

/** Runs one read-only query: the batch connection between batches, or a pool. */
export type LagQuery = <R>(sql: string) => Promise<{ rows: R[] }>;

/**
 * Replay lag of every streaming standby, read on the primary. `replay_lag` turns NULL once an
 * idle standby has caught up (that is 0, not unknown), and a replica-side
 * `now() - pg_last_xact_replay_timestamp()` grows on an idle cluster, so neither is trusted as is.
 */
export async function maxReplayLagMs(query: LagQuery): Promise<number> {
  const { rows } = await query<{ lag: number | null }>(
    `select coalesce(max(extract(epoch from replay_lag)), 0)::float8 * 1000 as lag
       from pg_catalog.pg_stat_replication
      where state = 'streaming'`,
  );
  return rows[0]?.lag ?? 0;
}

/** Waits while a replica is further behind than maxMs; returns the time waited. */
export async function waitForReplicas(
  query: LagQuery,
  maxMs: number,
  logger: Logger,
  signal: AbortSignal | undefined,
  deadline: number,
): Promise<number> {
  const started = Date.now();
  let warned = false;
  for (;;) {
    const lag = await maxReplayLagMs(query);
    if (lag <= maxMs || signal?.aborted || Date.now() >= deadline) return Date.now() - started;
    if (!warned) {
      logger.info(`replica lag ${Math.round(lag)} ms > ${maxMs} ms: pausing`);
      warned = true;
    }
    await sleep(Math.min(1000, Math.max(100, maxMs / 4)), signal);
  }
}
