import type { PgCheck } from '../context.js';
import {
  columnsText,
  dropIndexSql,
  INDEX_CATALOGUE_SQL,
  indexObject,
  readIndexes,
  type IndexRow,
} from './index-catalogue.js';

/**
 * Is `a` served by `b`? Same table, method, predicate and expressions; a's keys (with their
 * operator classes, collations and sort options) are a leading prefix of b's; a's INCLUDE
 * columns are among b's columns. A unique index is only covered by an identical unique one, and
 * a primary key is never reported (PgHero #508: users read "duplicate of a unique" as a bug).
 */
export function coveredBy(a: IndexRow, b: IndexRow): 'duplicate' | 'prefix' | undefined {
  if (a === b || a.schema !== b.schema || a.table !== b.table) return undefined;
  if (!a.valid || !b.valid || a.primary) return undefined;
  if (a.method !== b.method || (a.predicate ?? '') !== (b.predicate ?? '')) return undefined;
  if ((a.expressions ?? '') !== (b.expressions ?? '')) return undefined;
  // Only B-tree keys are ordered: a prefix of a hash/gin/gist index is not an index on the prefix.
  if (a.method !== 'btree' && a.keys.length !== b.keys.length) return undefined;
  if (a.keys.length > b.keys.length) return undefined;
  for (let i = 0; i < a.keys.length; i++) {
    if (a.keys[i] === null || a.keys[i] !== b.keys[i]) return undefined;
    if (a.opclasses[i] !== b.opclasses[i] || a.collations[i] !== b.collations[i]) return undefined;
    if ((a.options[i] ?? 0) !== (b.options[i] ?? 0)) return undefined;
  }
  const bCols = new Set([...b.keys, ...b.included]);
  if (!a.included.every((c) => c !== null && bCols.has(c))) return undefined;
  const sameKeys = a.keys.length === b.keys.length;
  if (a.unique && !(b.unique && sameKeys)) return undefined;
  if (sameKeys) {
    const sameIncluded =
      a.included.length === b.included.length && a.included.every((c, i) => c === b.included[i]);
    if (!sameIncluded) return a.included.length < b.included.length ? 'prefix' : undefined;
    // Of two identical indexes report one: keep the constraint-backing one, else the older one.
    if (a.backs_constraint && !b.backs_constraint) return undefined;
    if (a.backs_constraint === b.backs_constraint && a.oid < b.oid) return undefined;
    return 'duplicate';
  }
  return 'prefix';
}

export const redundantIndexCheck: PgCheck = {
  id: 'index.redundant',
  async run(ctx) {
    const rows = await readIndexes(ctx.reader, ctx.excludeSchemas);
    const byTable = new Map<string, IndexRow[]>();
    for (const r of rows) {
      const k = `${r.schema}.${r.table}`;
      byTable.set(k, [...(byTable.get(k) ?? []), r]);
    }
    const findings = [];
    for (const list of byTable.values()) {
      for (const a of list) {
        if (a.backs_constraint) continue; // dropping it means dropping a constraint: not our call
        for (const b of list) {
          const kind = coveredBy(a, b);
          if (!kind) continue;
          findings.push({
            check: 'index.redundant' as const,
            severity: ctx.settings('index.redundant').severity ?? 'warning',
            object: indexObject(a),
            value: kind,
            threshold: 'not covered',
            message:
              kind === 'duplicate'
                ? `${a.index} (${columnsText(a.keys)}) duplicates ${b.index} on ${a.schema}.${a.table}`
                : `${a.index} (${columnsText(a.keys)}) is covered by ${b.index} (${columnsText(b.keys)}) on ${a.schema}.${a.table}`,
            fix: dropIndexSql(a),
            evidence: {
              sql: INDEX_CATALOGUE_SQL,
              source: ctx.reader.node,
              values: { index: a.definition, coveredBy: b.definition, sizeBytes: a.size },
            },
          });
          break;
        }
      }
    }
    return { findings };
  },
};
