import { hostname } from 'node:os';

import type { PostgresHandle } from '../../connections/postgres/handle.js';
import { quoteQualified } from '../../connections/postgres/quote.js';
import type { PoolClient } from '../../connections/postgres/pool.js';
import { withTransaction } from '../../connections/postgres/scope.js';
import { ADVISORY_NAMESPACE } from '../../connections/postgres/advisory-lock.js';
import type { LastRun, StateStore } from './state.js';

/**
 * `lock: cluster` for several scheduler replicas sharing one PostgreSQL database, safe behind a
 * transaction-pooling PgBouncer (no session locks):
 *  1. a transaction-scoped advisory lock per job, taken in a transaction that stays open (idle, no
 *     snapshot) while the job runs: one replica runs a job at a time, and a dead replica's lock
 *     vanishes with its connection;
 *  2. a claim row per job: `last_slot` only moves forward, in one autocommitted UPDATE … WHERE
 *     last_slot < $slot, so a tick that one replica already ran is never run again by a replica
 *     whose clock is a little late.
 */
export const STATE_TABLE = 'dbops_schedule_state';

export interface ClusterClaim {
  release(outcome: { end: Date; outcome: string; exitCode?: number; summary?: unknown }): Promise<void>;
}

export class ClusterCoordinator implements StateStore {
  private readonly host = `${hostname()}:${process.pid}`;
  private ready: Promise<void> | undefined;

  constructor(
    private readonly pg: PostgresHandle,
    private readonly history?: { table: string; keepMs: number | undefined },
  ) {}

  private ensure(): Promise<void> {
    // Concurrent `create table if not exists` can fail on pg_type's unique index when two
    // schedulers start together; an advisory lock around the DDL serialises them.
    return (this.ready ??= this.pg
      .withClient((client) =>
        withTransaction(client, async (c) => {
          await c.query('select pg_advisory_xact_lock(hashtextextended($1, 0))', [
            `${ADVISORY_NAMESPACE}schedule-ddl`,
          ]);
          await c.query(
            `create table if not exists ${STATE_TABLE} (
           job text primary key, last_slot timestamptz, last_start timestamptz, last_end timestamptz,
           last_outcome text, holder text)`,
          );
          if (this.history) {
            await c.query(
              `create table if not exists ${quoteQualified(this.history.table)} (
             id bigserial primary key, job text not null, slot timestamptz not null, started_at timestamptz not null,
             finished_at timestamptz, outcome text not null, exit_code int, summary jsonb, host text)`,
            );
          }
        }),
      )
      .catch((err: unknown) => {
        this.ready = undefined;
        throw err;
      }));
  }

  async lastRun(job: string): Promise<LastRun | undefined> {
    await this.ensure();
    const { rows } = await this.pg.query<{
      slot: Date | null;
      start: Date | null;
      end: Date | null;
      outcome: string | null;
    }>(
      `select last_slot as slot, last_start as start, last_end as "end", last_outcome as outcome from ${STATE_TABLE} where job = $1`,
      [job],
    );
    const r = rows[0];
    if (!r?.slot) return undefined;
    return {
      slot: r.slot.toISOString(),
      start: r.start?.toISOString() ?? r.slot.toISOString(),
      ...(r.end ? { end: r.end.toISOString() } : {}),
      ...(r.outcome ? { outcome: r.outcome } : {}),
    };
  }

  /** The state row is written by claim/release; nothing else to record. */
  async record(): Promise<void> {}

  /** A row in the history table (when configured); start undefined = the claimed start. */
  async recordHistory(
    job: string,
    slot: Date,
    start: Date | undefined,
    end: Date,
    outcome: string,
    exitCode: number | undefined,
    summary: unknown,
  ): Promise<void> {
    if (!this.history) return;
    await this.ensure();
    const table = quoteQualified(this.history.table);
    await this.pg.query(
      `insert into ${table} (job, slot, started_at, finished_at, outcome, exit_code, summary, host)
       values ($1, $2, coalesce($8, (select last_start from ${STATE_TABLE} where job = $1), $3), $3, $4, $5, $6::jsonb, $7)`,
      [
        job,
        slot,
        end,
        outcome,
        exitCode ?? null,
        summary === undefined ? null : JSON.stringify(summary),
        this.host,
        start ?? null,
      ],
    );
    if (this.history.keepMs !== undefined) {
      await this.pg.query(`delete from ${table} where finished_at < now() - $1 * interval '1 millisecond'`, [
        this.history.keepMs,
      ]);
    }
  }

  /** Lock + claim; undefined when another replica runs this job or already ran this tick. */
  async claim(job: string, slot: Date): Promise<ClusterClaim | { skipped: string }> {
    await this.ensure();
    const holder: PoolClient = await this.pg.pool.connect();
    let released = false;
    const finish = async (sql: 'commit' | 'rollback', broken = false) => {
      if (released) return;
      released = true;
      await holder.query(sql).catch(() => (broken = true));
      holder.release(broken);
    };
    try {
      await holder.query('begin');
      await holder.query(`select pg_catalog.set_config('idle_in_transaction_session_timeout', '0', true)`);
      const { rows } = await holder.query<{ locked: boolean }>(
        'select pg_try_advisory_xact_lock(hashtextextended($1, 0)) as locked',
        [`${ADVISORY_NAMESPACE}schedule:${job}`],
      );
      if (!rows[0]?.locked) {
        await finish('rollback');
        return { skipped: 'running on another scheduler' };
      }
      const claimed = await this.pg.query(
        `insert into ${STATE_TABLE} as s (job, last_slot, last_start, holder) values ($1, $2, now(), $3)
         on conflict (job) do update set last_slot = excluded.last_slot, last_start = excluded.last_start,
                                         last_end = null, last_outcome = null, holder = excluded.holder
          where s.last_slot is null or s.last_slot < excluded.last_slot
         returning job`,
        [job, slot, this.host],
      );
      if (claimed.rowCount === 0) {
        await finish('rollback');
        return { skipped: 'tick already run by another scheduler' };
      }
    } catch (err) {
      await finish('rollback', true);
      throw err;
    }
    return {
      release: async ({ end, outcome, exitCode, summary }) => {
        try {
          await this.pg.query(
            `update ${STATE_TABLE} set last_end = $2, last_outcome = $3 where job = $1 and last_slot = $4`,
            [job, end, outcome, slot],
          );
          await this.recordHistory(job, slot, undefined, end, outcome, exitCode, summary);
        } finally {
          await finish('commit');
        }
      },
    };
  }
}
