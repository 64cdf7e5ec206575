import { quoteIdent } from '../../../../connections/index.js';
import type { PgCheck } from '../context.js';
import { userSchemaFilter } from '../session.js';

export const NOT_VALID_SQL = `
select n.nspname as schema, t.relname as table, c.conname as constraint, c.contype as type
  from pg_constraint c join pg_class t on t.oid = c.conrelid join pg_namespace n on n.oid = t.relnamespace
 where not c.convalidated and ${userSchemaFilter('n')} order by 1, 2, 3`;

export const notValidConstraintCheck: PgCheck = {
  id: 'constraint.not-valid',
  async run(ctx) {
    const rows = await ctx.reader.query(NOT_VALID_SQL, [ctx.excludeSchemas]);
    return {
      findings: rows.map((r) => ({
        check: 'constraint.not-valid' as const,
        severity: ctx.settings('constraint.not-valid').severity ?? 'warning',
        object: `${r.schema}.${r.table}.${r.constraint}`,
        value: 'not valid',
        threshold: 'validated',
        message: `constraint ${r.constraint} on ${r.schema}.${r.table} was added NOT VALID and never validated`,
        fix: `ALTER TABLE ${quoteIdent(r.schema)}.${quoteIdent(r.table)} VALIDATE CONSTRAINT ${quoteIdent(r.constraint)};`,
        evidence: { sql: NOT_VALID_SQL, source: ctx.reader.node },
      })),
    };
  },
};
