import type { Finding } from '../../types.js';
import type { PgCheck, PgCheckContext } from '../context.js';
import { num, type SqlRunner } from '../session.js';

/** One snapshot of this database's client sessions, with who blocks whom (pg_blocking_pids). */
export const ACTIVITY_SQL = `
select pid, usename as user, application_name as application, client_addr::text as client, state,
       wait_event_type, wait_event,
       extract(epoch from now() - query_start)::float8 as query_seconds,
       extract(epoch from now() - xact_start)::float8 as xact_seconds,
       extract(epoch from now() - state_change)::float8 as state_seconds,
       pg_blocking_pids(pid) as blocked_by, left(query, 2000) as query
  from pg_stat_activity
 where pid <> pg_backend_pid() and backend_type = 'client backend' and datname = current_database()
 order by query_start nulls last`;

export interface SessionRow {
  pid: number;
  user: string | null;
  application: string | null;
  client: string | null;
  state: string | null;
  wait_event_type: string | null;
  wait_event: string | null;
  query_seconds: number | null;
  xact_seconds: number | null;
  state_seconds: number | null;
  blocked_by: number[];
  query: string | null;
}

export function readActivity(runner: SqlRunner): Promise<SessionRow[]> {
  return runner.query<SessionRow>(ACTIVITY_SQL);
}

function snapshot(ctx: PgCheckContext): Promise<SessionRow[]> {
  let p = ctx.memo.get('activity') as Promise<SessionRow[]> | undefined;
  if (!p) {
    p = readActivity(ctx.primary);
    ctx.memo.set('activity', p);
  }
  return p;
}

const short = (q: string | null) => (q ?? '').replace(/\s+/g, ' ').trim().slice(0, 200);

export const longRunningCheck: PgCheck = {
  id: 'activity.long-running',
  async run(ctx) {
    const s = ctx.settings('activity.long-running');
    const rows = await snapshot(ctx);
    const findings: Finding[] = rows
      .filter((r) => r.state === 'active' && num(r.query_seconds) >= s.thresholds.seconds!)
      .map((r) => ({
        check: 'activity.long-running',
        severity: s.severity ?? 'warning',
        object: `pid:${r.pid}`,
        value: Math.round(num(r.query_seconds)),
        threshold: s.thresholds.seconds!,
        unit: 's',
        message: `pid ${r.pid} (${r.user ?? '?'}, ${r.application || 'no application_name'}) running for ${Math.round(num(r.query_seconds))} s: ${short(r.query)}`,
        fix: `SELECT pg_cancel_backend(${r.pid});`,
        evidence: { sql: ACTIVITY_SQL, source: ctx.primary.node, values: { ...r } },
      }));
    return { findings };
  },
};

export const idleInTransactionCheck: PgCheck = {
  id: 'activity.idle-in-transaction',
  async run(ctx) {
    const s = ctx.settings('activity.idle-in-transaction');
    const rows = await snapshot(ctx);
    const findings: Finding[] = rows
      .filter(
        (r) =>
          (r.state ?? '').startsWith('idle in transaction') && num(r.state_seconds) >= s.thresholds.seconds!,
      )
      .map((r) => ({
        check: 'activity.idle-in-transaction',
        severity: s.severity ?? 'warning',
        object: `pid:${r.pid}`,
        value: Math.round(num(r.state_seconds)),
        threshold: s.thresholds.seconds!,
        unit: 's',
        message: `pid ${r.pid} (${r.user ?? '?'}) idle in transaction for ${Math.round(num(r.state_seconds))} s (transaction open ${Math.round(num(r.xact_seconds))} s); last query: ${short(r.query)}`,
        fix: `SELECT pg_terminate_backend(${r.pid});   -- and set idle_in_transaction_session_timeout`,
        evidence: { sql: ACTIVITY_SQL, source: ctx.primary.node, values: { ...r } },
      }));
    return { findings };
  },
};

export interface BlockingChain {
  pid: number;
  waitingSeconds: number;
  query: string;
  blockedBy: { pid: number; state: string | null; query: string; xactSeconds: number | null }[];
  /** The sessions at the root of the chain (blocking, not blocked themselves). */
  rootBlockers: number[];
}

export function blockingChains(rows: SessionRow[]): BlockingChain[] {
  const byPid = new Map(rows.map((r) => [r.pid, r]));
  const roots = (pid: number, seen = new Set<number>()): number[] => {
    if (seen.has(pid)) return [];
    seen.add(pid);
    const r = byPid.get(pid);
    if (!r || r.blocked_by.length === 0) return [pid];
    return [...new Set(r.blocked_by.flatMap((b) => roots(b, seen)))];
  };
  return rows
    .filter((r) => r.blocked_by.length > 0)
    .map((r) => ({
      pid: r.pid,
      waitingSeconds: num(r.state_seconds),
      query: short(r.query),
      blockedBy: r.blocked_by.map((b) => {
        const o = byPid.get(b);
        return {
          pid: b,
          state: o?.state ?? null,
          query: short(o?.query ?? null),
          xactSeconds: o?.xact_seconds ?? null,
        };
      }),
      rootBlockers: r.blocked_by.flatMap((b) => roots(b)).filter((p, i, a) => a.indexOf(p) === i),
    }));
}

export const blockedCheck: PgCheck = {
  id: 'locks.blocked',
  async run(ctx) {
    const s = ctx.settings('locks.blocked');
    const chains = blockingChains(await snapshot(ctx));
    return {
      findings: chains
        .filter((c) => c.waitingSeconds >= s.thresholds.seconds!)
        .map((c) => ({
          check: 'locks.blocked' as const,
          severity: s.severity ?? 'warning',
          object: `pid:${c.pid}`,
          value: Math.round(c.waitingSeconds),
          threshold: s.thresholds.seconds!,
          unit: 's waiting',
          message: `pid ${c.pid} waits ${Math.round(c.waitingSeconds)} s for ${c.blockedBy
            .map((b) => `pid ${b.pid} (${b.state ?? '?'}: ${b.query || '…'})`)
            .join(', ')}; blocked query: ${c.query}`,
          fix: c.rootBlockers.map((p) => `SELECT pg_terminate_backend(${p});   -- root blocker`).join('\n'),
          evidence: { sql: ACTIVITY_SQL, source: ctx.primary.node, values: { ...c } },
        })),
    };
  },
};

export const CONNECTIONS_SQL = `
select (select count(*) from pg_stat_activity where backend_type = 'client backend')::float8 as used,
       current_setting('max_connections')::float8 as max,
       current_setting('superuser_reserved_connections')::float8 as reserved`;

export const connectionsCheck: PgCheck = {
  id: 'connections.usage',
  async run(ctx) {
    const s = ctx.settings('connections.usage');
    const [r] = await ctx.primary.query(CONNECTIONS_SQL);
    const available = Math.max(1, num(r?.max) - num(r?.reserved));
    const pct = (100 * num(r?.used)) / available;
    if (pct < s.thresholds.warningPct!) return { findings: [] };
    const severity = s.severity ?? (pct >= s.thresholds.errorPct! ? 'error' : 'warning');
    return {
      findings: [
        {
          check: 'connections.usage',
          severity,
          object: 'server:connections',
          value: Math.round(pct * 10) / 10,
          threshold: severity === 'error' ? s.thresholds.errorPct! : s.thresholds.warningPct!,
          unit: '% of max_connections',
          message: `${num(r?.used)} client connections of ${available} available (max_connections ${num(r?.max)} − ${num(r?.reserved)} reserved)`,
          fix: 'put PgBouncer in front, or raise max_connections',
          evidence: { sql: CONNECTIONS_SQL, source: ctx.primary.node, values: { ...r } },
        },
      ],
    };
  },
};
