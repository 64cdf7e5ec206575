import type { AnonymizeConfig } from '../../../config/sections/anonymize.js';
import type { PostgresHandle } from '../../../connections/index.js';
import type { CheckProblem, CheckResult } from '../check-types.js';
import { guessPii } from '../pii.js';
import { buildMaskingPlan } from '../plan.js';
import { readCatalog } from './catalog.js';

/** `anonymize check` on PostgreSQL: every column of every table must have a rule. */
export async function checkPostgres(pg: PostgresHandle, config: AnonymizeConfig): Promise<CheckResult> {
  const catalog = await readCatalog(pg.pool, config.schemas);
  const plan = buildMaskingPlan(catalog, config);
  const problems: CheckProblem[] = plan.problems.map((p) => {
    if (p.kind !== 'unclassified') return { ...p };
    const col = plan.tables.get(p.table)?.columns.find((c) => c.column.name === p.column)?.column;
    const guess = guessPii(p.column!, col?.type.family ?? 'other');
    return { ...p, suggestion: guess.suggestion, ...(guess.category ? { pii: guess.category } : {}) };
  });
  let columns = 0;
  let classified = 0;
  for (const tp of plan.tables.values()) {
    for (const c of tp.columns) {
      columns++;
      if (c.rule || c.column.generated) classified++;
    }
  }
  return {
    engine: 'postgres',
    target: pg.where,
    ok: problems.length === 0,
    tables: plan.tables.size,
    columns,
    classified,
    problems,
    notes: plan.notes,
  };
}
