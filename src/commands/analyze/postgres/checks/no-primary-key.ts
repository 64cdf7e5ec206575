import { quoteIdent } from '../../../../connections/index.js';
import type { PgCheck } from '../context.js';
import { userSchemaFilter } from '../session.js';

// Partitions inherit the parent's key, so only the parent (or a plain table) is reported.
export const NO_PRIMARY_KEY_SQL = `
select n.nspname as schema, c.relname as table, c.reltuples::float8 as rows
  from pg_class c join pg_namespace n on n.oid = c.relnamespace
 where c.relkind in ('r', 'p') and not c.relispartition and ${userSchemaFilter('n')}
   and not exists (select 1 from pg_constraint k where k.conrelid = c.oid and k.contype = 'p')
 order by 1, 2`;

export const noPrimaryKeyCheck: PgCheck = {
  id: 'table.no-primary-key',
  async run(ctx) {
    const rows = await ctx.reader.query<{ schema: string; table: string; rows: number }>(NO_PRIMARY_KEY_SQL, [
      ctx.excludeSchemas,
    ]);
    return {
      findings: rows.map((r) => ({
        check: 'table.no-primary-key' as const,
        severity: ctx.settings('table.no-primary-key').severity ?? 'warning',
        object: `${r.schema}.${r.table}`,
        value: 'none',
        threshold: 'a primary key',
        message: `table ${r.schema}.${r.table} has no primary key`,
        fix: `ALTER TABLE ${quoteIdent(r.schema)}.${quoteIdent(r.table)} ADD PRIMARY KEY (…);`,
        evidence: {
          sql: NO_PRIMARY_KEY_SQL,
          source: ctx.reader.node,
          values: { estimatedRows: Number(r.rows) },
        },
      })),
    };
  },
};
