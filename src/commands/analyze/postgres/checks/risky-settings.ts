import type { Finding, Severity } from '../../types.js';
import type { PgCheck } from '../context.js';

export const SETTINGS_SQL = `
select name, setting from pg_settings
 where name in ('fsync', 'full_page_writes', 'synchronous_commit', 'archive_mode', 'wal_level', 'data_checksums')`;

interface Rule {
  name: string;
  bad: (value: string, ctx: { expectsWalArchiving: boolean }) => boolean;
  severity: Severity;
  why: string;
  fix: string;
}

const rules: Rule[] = [
  {
    name: 'fsync',
    bad: (v) => v === 'off',
    severity: 'error',
    why: 'a crash can corrupt the cluster',
    fix: 'ALTER SYSTEM SET fsync = on; SELECT pg_reload_conf();',
  },
  {
    name: 'full_page_writes',
    bad: (v) => v === 'off',
    severity: 'error',
    why: 'torn pages after a crash cannot be repaired',
    fix: 'ALTER SYSTEM SET full_page_writes = on; SELECT pg_reload_conf();',
  },
  {
    name: 'synchronous_commit',
    bad: (v) => v === 'off',
    severity: 'warning',
    why: 'committed transactions can be lost on a crash',
    fix: 'ALTER SYSTEM SET synchronous_commit = on; SELECT pg_reload_conf();',
  },
  {
    name: 'archive_mode',
    bad: (v, c) => c.expectsWalArchiving && v === 'off',
    severity: 'warning',
    why: 'the config archives WAL (wal: section) but the server does not: point-in-time recovery has gaps',
    fix: "ALTER SYSTEM SET archive_mode = on; ALTER SYSTEM SET archive_command = 'dbops wal push %p'; -- restart",
  },
  {
    name: 'wal_level',
    bad: (v, c) => c.expectsWalArchiving && v === 'minimal',
    severity: 'warning',
    why: 'wal_level=minimal cannot support archiving or replicas',
    fix: 'ALTER SYSTEM SET wal_level = replica; -- restart',
  },
];

export const riskySettingsCheck: PgCheck = {
  id: 'config.risky-setting',
  async run(ctx) {
    const rows = await ctx.primary.query<{ name: string; setting: string }>(SETTINGS_SQL);
    const values = new Map(rows.map((r) => [r.name, r.setting]));
    const findings: Finding[] = [];
    for (const rule of rules) {
      const v = values.get(rule.name);
      if (v === undefined || !rule.bad(v, ctx)) continue;
      findings.push({
        check: 'config.risky-setting',
        severity: ctx.settings('config.risky-setting').severity ?? rule.severity,
        object: `setting:${rule.name}`,
        value: v,
        threshold: rule.name === 'wal_level' ? 'replica' : 'on',
        message: `${rule.name} = ${v}: ${rule.why}`,
        fix: rule.fix,
        evidence: { sql: SETTINGS_SQL, source: ctx.primary.node },
      });
    }
    return { findings };
  },
};
