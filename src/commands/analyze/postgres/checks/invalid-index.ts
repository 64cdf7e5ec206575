import type { PgCheck } from '../context.js';
import {
  columnsText,
  dropIndexSql,
  INDEX_CATALOGUE_SQL,
  indexObject,
  readIndexes,
} from './index-catalogue.js';

export const invalidIndexCheck: PgCheck = {
  id: 'index.invalid',
  async run(ctx) {
    const rows = await readIndexes(ctx.reader, ctx.excludeSchemas);
    return {
      findings: rows
        .filter((r) => !r.valid)
        .map((r) => ({
          check: 'index.invalid' as const,
          severity: ctx.settings('index.invalid').severity ?? 'error',
          object: indexObject(r),
          value: 'invalid',
          threshold: 'valid',
          message: `index ${r.index} on ${r.schema}.${r.table} (${columnsText(r.keys)}) is invalid: a failed CREATE INDEX CONCURRENTLY; it is maintained on writes but never used`,
          fix: `${dropIndexSql(r)}\n${r.definition.replace(/^CREATE (UNIQUE )?INDEX /, 'CREATE $1INDEX CONCURRENTLY ')};`,
          evidence: {
            sql: INDEX_CATALOGUE_SQL,
            source: ctx.reader.node,
            values: { definition: r.definition },
          },
        })),
    };
  },
};
