import type { Finding } from '../../types.js';
import type { PgCheck } from '../context.js';

export const WRAPAROUND_SQL = `
select datname as database, age(datfrozenxid)::float8 as xid_age, mxid_age(datminmxid)::float8 as mxid_age
  from pg_database where datname = current_database()`;

const LIMIT = 2 ** 31;

export const wraparoundCheck: PgCheck = {
  id: 'txid.wraparound',
  async run(ctx) {
    const s = ctx.settings('txid.wraparound');
    const [r] = await ctx.primary.query(WRAPAROUND_SQL);
    if (!r) return { findings: [] };
    const findings: Finding[] = [];
    for (const kind of ['xid', 'mxid'] as const) {
      const age = Number(r[`${kind}_age`]);
      const pct = (100 * age) / LIMIT;
      if (pct < s.thresholds.warningPct!) continue;
      const severity = s.severity ?? (pct >= s.thresholds.errorPct! ? 'error' : 'warning');
      findings.push({
        check: 'txid.wraparound',
        severity,
        object: `database:${r.database}:${kind}`,
        value: Math.round(pct * 100) / 100,
        threshold: severity === 'error' ? s.thresholds.errorPct! : s.thresholds.warningPct!,
        unit: '% of 2^31',
        message: `${kind === 'xid' ? 'transaction ID' : 'MultiXact'} age ${age.toLocaleString('en-US')} is ${pct.toFixed(1)} % of the wraparound limit`,
        fix: 'VACUUM (FREEZE) the oldest tables; end long transactions and drop stale replication slots',
        evidence: { sql: WRAPAROUND_SQL, source: ctx.primary.node, values: { age } },
      });
    }
    return { findings };
  },
};
