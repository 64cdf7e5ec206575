import type { AnonymizeConfig, AnonymizeTableConfig } from '../../config/sections/anonymize.js';
import { configTableKey } from './names.js';
import { ruleProblem } from './mask.js';
import { describeRule, normalizeRule, type Rule } from './rules.js';
import type { Catalog, CatalogColumn, CatalogTable } from './postgres/catalog.js';
import { ConfigError } from '../../errors.js';

export interface ColumnPlan {
  column: CatalogColumn;
  /** The configured rule; undefined when the column is not classified. */
  rule: Rule | undefined;
  /** What a masked copy applies: the rule, upgraded to `permute` for unique columns, inherited along FKs. */
  copyRule: Rule;
  /** Why copyRule differs from rule. */
  copyReason?: string;
}

export interface TablePlan {
  table: CatalogTable;
  config: AnonymizeTableConfig | undefined;
  columns: ColumnPlan[];
}

export type ProblemKind = 'unclassified' | 'missing-table' | 'missing-column' | 'bad-rule';

export interface PlanProblem {
  kind: ProblemKind;
  table: string;
  column?: string;
  type?: string;
  message: string;
}

export interface MaskingPlan {
  tables: Map<string, TablePlan>;
  problems: PlanProblem[];
  /** Rule upgrades (unique → permute, FK inheritance), for the operator to see. */
  notes: string[];
}

const KEEP: Rule = { kind: 'keep' };
const PERMUTE: Rule = { kind: 'permute' };

/** Config tables keyed by canonical name (`users` → `public.users`). */
export function configTables(
  config: AnonymizeConfig,
): Map<string, { name: string; table: AnonymizeTableConfig }> {
  const out = new Map<string, { name: string; table: AnonymizeTableConfig }>();
  for (const [name, table] of Object.entries(config.tables)) out.set(configTableKey(name), { name, table });
  return out;
}

export function isExcluded(config: AnonymizeConfig, key: string): boolean {
  const audit = configTableKey(config.auditTable);
  return key === audit || config.exclude.some((e) => configTableKey(e) === key);
}

/**
 * Resolves the config against the live catalog: every column gets its rule (or a problem), and
 * the rule a masked copy really applies. Nothing is run; `check` reports the problems, the
 * commands refuse to start while there are any in the tables they touch.
 */
export function buildMaskingPlan(catalog: Catalog, config: AnonymizeConfig): MaskingPlan {
  const problems: PlanProblem[] = [];
  const notes: string[] = [];
  const tables = new Map<string, TablePlan>();
  const cfg = configTables(config);

  for (const [key, { name }] of cfg) {
    if (!catalog.tables.has(key) && !isExcluded(config, key))
      problems.push({
        kind: 'missing-table',
        table: key,
        message: `rules for table "${name}", which does not exist`,
      });
  }

  for (const [key, table] of catalog.tables) {
    if (isExcluded(config, key)) continue;
    const tc = cfg.get(key)?.table;
    const columns: ColumnPlan[] = [];
    for (const column of table.columns) {
      const input = tc?.columns[column.name];
      let rule: Rule | undefined;
      if (input !== undefined) {
        try {
          rule = normalizeRule(input);
        } catch (err) {
          problems.push({
            kind: 'bad-rule',
            table: key,
            column: column.name,
            message: (err as Error).message,
          });
        }
      }
      if (rule) {
        const why = ruleProblem(rule, column.type, column);
        if (why)
          problems.push({
            kind: 'bad-rule',
            table: key,
            column: column.name,
            type: column.type.sql,
            message: why,
          });
      } else if (input === undefined && !column.generated) {
        problems.push({
          kind: 'unclassified',
          table: key,
          column: column.name,
          type: column.type.sql,
          message: 'column is not classified',
        });
      }
      columns.push({ column, rule, copyRule: rule ?? KEEP });
    }
    if (tc) {
      for (const name of Object.keys(tc.columns)) {
        if (!table.columns.some((c) => c.name === name))
          problems.push({
            kind: 'missing-column',
            table: key,
            column: name,
            message: `rule for column "${name}", which does not exist`,
          });
      }
    }
    tables.set(key, { table, config: tc, columns });
  }

  // Unique columns: any rule that changes the value becomes a keyed permutation (no collisions).
  for (const [key, tp] of tables) {
    for (const cp of tp.columns) {
      const r = cp.copyRule;
      if (!cp.column.unique || r.kind === 'keep' || r.kind === 'null' || r.kind === 'permute') continue;
      if (ruleProblem(PERMUTE, cp.column.type, cp.column)) {
        problems.push({
          kind: 'bad-rule',
          table: key,
          column: cp.column.name,
          type: cp.column.type.sql,
          message: `unique column: ${describeRule(r)} could collide and ${cp.column.type.sql} cannot be permuted; use keep or null`,
        });
        continue;
      }
      cp.copyRule = PERMUTE;
      cp.copyReason = `unique: ${describeRule(r)} → permute`;
      notes.push(`${key}.${cp.column.name}: ${cp.copyReason}`);
    }
  }

  // Foreign keys follow the column they reference, so joins hold in the copy. Repeat for chains.
  for (let changed = true, guard = 0; changed && guard < 20; guard++) {
    changed = false;
    for (const fk of catalog.foreignKeys) {
      const child = tables.get(fk.table);
      const parent = tables.get(fk.refTable);
      if (!child || !parent) continue;
      fk.columns.forEach((colName, i) => {
        const refCol = parent.columns.find((c) => c.column.name === fk.refColumns[i]);
        const cp = child.columns.find((c) => c.column.name === colName);
        if (!refCol || !cp) return;
        const want =
          refCol.copyRule.kind === 'permute'
            ? PERMUTE
            : refCol.copyRule.kind === 'null'
              ? refCol.copyRule
              : KEEP;
        if (cp.copyRule.kind === want.kind) return;
        cp.copyRule = want;
        cp.copyReason = `foreign key → ${fk.refTable}.${refCol.column.name} (${want.kind})`;
        notes.push(`${fk.table}.${colName}: ${cp.copyReason}`);
        changed = true;
      });
    }
  }
  return { tables, problems, notes };
}

/** Throws a ConfigError listing the problems that concern the given tables (all when omitted). */
export function assertNoProblems(plan: MaskingPlan, what: string, onlyTables?: Set<string>): void {
  const relevant = plan.problems.filter((p) => !onlyTables || onlyTables.has(p.table));
  if (relevant.length === 0) return;
  throw new ConfigError(
    `${what}: the anonymize rules do not fit the database (${relevant.length} problem(s))`,
    {
      problems: relevant.map((p) => `${p.table}${p.column ? `.${p.column}` : ''}: ${p.message}`),
      hint: 'run `dbops anonymize check` for the full list with suggested rules',
    },
  );
}
