import type { Finding } from '../../types.js';
import type { PgCheck } from '../context.js';
import { num } from '../session.js';

export const REPLICATION_SQL = `
select application_name as name, client_addr::text as client, state,
       extract(epoch from replay_lag)::float8 as lag_seconds,
       case when pg_is_in_recovery() then null
            else pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::float8 end as lag_bytes
  from pg_stat_replication`;

export const SLOTS_SQL = `
select slot_name as name, slot_type as type, database,
       case when pg_is_in_recovery() then null
            else pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::float8 end as retained_bytes
  from pg_replication_slots where not active`;

/** Lag as the primary sees each standby, and as each configured replica reports its replay. */
export const replicationLagCheck: PgCheck = {
  id: 'replication.lag',
  async run(ctx) {
    const s = ctx.settings('replication.lag');
    const findings: Finding[] = [];
    const grade = (seconds: number) =>
      s.severity ?? (seconds >= s.thresholds.errorSeconds! ? 'error' : 'warning');
    for (const r of await ctx.primary.query(REPLICATION_SQL)) {
      const lag = num(r.lag_seconds);
      if (lag < s.thresholds.warningSeconds!) continue;
      findings.push({
        check: 'replication.lag',
        severity: grade(lag),
        object: `standby:${r.name || r.client}`,
        value: Math.round(lag),
        threshold: s.thresholds.warningSeconds!,
        unit: 's',
        message: `standby ${r.name || r.client} replays ${Math.round(lag)} s behind (${Math.round(num(r.lag_bytes) / 1048576)} MiB)`,
        fix: 'check the standby’s I/O, network and long queries',
        evidence: { sql: REPLICATION_SQL, source: ctx.primary.node, values: { ...r } },
      });
    }
    for (const r of ctx.replicaHealth) {
      const lag = r.lagSeconds ?? 0;
      if (!r.ok || lag < s.thresholds.warningSeconds!) continue;
      findings.push({
        check: 'replication.lag',
        severity: grade(lag),
        object: `replica:${r.where}`,
        value: Math.round(lag),
        threshold: s.thresholds.warningSeconds!,
        unit: 's',
        message: `replica ${r.where}: last replayed transaction ${Math.round(lag)} s ago`,
        fix: 'check the replica’s I/O, network and long queries',
        evidence: {
          sql: 'select extract(epoch from now() - pg_last_xact_replay_timestamp())',
          source: r.where,
        },
      });
    }
    return { findings };
  },
};

export const inactiveSlotCheck: PgCheck = {
  id: 'replication.inactive-slot',
  async run(ctx) {
    const rows = await ctx.primary.query(SLOTS_SQL);
    return {
      findings: rows.map((r) => ({
        check: 'replication.inactive-slot' as const,
        severity: ctx.settings('replication.inactive-slot').severity ?? 'warning',
        object: `slot:${r.name}`,
        value: num(r.retained_bytes),
        threshold: 'active',
        unit: 'bytes retained',
        message: `replication slot ${r.name} (${r.type}) is inactive and retains ${Math.round(num(r.retained_bytes) / 1048576)} MiB of WAL`,
        fix: `SELECT pg_drop_replication_slot('${String(r.name).replaceAll("'", "''")}');`,
        evidence: { sql: SLOTS_SQL, source: ctx.primary.node, values: { ...r } },
      })),
    };
  },
};

/** No query: the reachability of each configured replica was measured when the target opened. */
export const replicaUnreachableCheck: PgCheck = {
  id: 'replication.replica-unreachable',
  async run(ctx) {
    return {
      findings: ctx.unreachableReplicas.map((r) => ({
        check: 'replication.replica-unreachable' as const,
        severity: ctx.settings('replication.replica-unreachable').severity ?? 'warning',
        object: `replica:${r.where}`,
        value: 'unreachable',
        threshold: 'reachable',
        message: `replica ${r.where} cannot be read: ${r.error}`,
        fix: 'check the replica URL, credentials and server',
      })),
    };
  },
};
