import type { CorpusEntry } from '../explain/corpus.js';
import { relationOf, walk, type PlanNode } from '../explain/plan.js';

/** A column use found in a plan: which relation, which column, and how it is used. */
export interface ColumnUse {
  relation: string;
  column: string;
  kind: 'eq' | 'range' | 'join' | 'sort';
}

export interface Candidate {
  relation: string;
  columns: string[];
}

const IDENT = String.raw`(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)`;
const COLREF = new RegExp(String.raw`(?:(${IDENT})\.)?(${IDENT})`, 'y');
const unquote = (s: string) => (s.startsWith('"') ? s.slice(1, -1).replace(/""/g, '"') : s.toLowerCase());

/**
 * Column references in a plan condition text such as `((customer_id = 42) AND (created_at > …))`
 * or `(o.customer_id = c.id)`: a column followed by a comparison operator (or preceded by one,
 * for the right side of a join condition).
 */
export function conditionColumns(cond: string): { qualifier?: string; column: string; op: string }[] {
  const out: { qualifier?: string; column: string; op: string }[] = [];
  const re = new RegExp(
    String.raw`\(\s*((?:${IDENT}\.)?${IDENT})\s*(=|<>|<=|>=|<|>|~~\*?|IS NOT NULL|IS NULL)\s*((?:${IDENT}\.)?${IDENT})?`,
    'g',
  );
  for (const m of cond.matchAll(re)) {
    for (const side of [m[1], m[3]]) {
      if (!side) continue;
      COLREF.lastIndex = 0;
      const ref = COLREF.exec(side);
      if (!ref) continue;
      const column = unquote(ref[2]!);
      // Literals and casts look like identifiers only when they are keywords; skip the obvious ones.
      if (['true', 'false', 'null', 'any', 'all'].includes(column)) continue;
      out.push({ ...(ref[1] ? { qualifier: unquote(ref[1]) } : {}), column, op: m[2]! });
    }
  }
  return out;
}

/** Every column a plan filters, joins or sorts on, attributed to its relation. */
export function columnUses(root: PlanNode): ColumnUse[] {
  const aliases = new Map<string, string>();
  for (const { node } of walk(root)) {
    const rel = relationOf(node);
    if (rel) {
      aliases.set((node.Alias ?? node['Relation Name']!).toLowerCase(), rel);
      aliases.set(node['Relation Name']!.toLowerCase(), rel);
    }
  }
  const uses: ColumnUse[] = [];
  const resolve = (q: string | undefined, own: string | undefined) => (q ? aliases.get(q) : own);
  const visit = (node: PlanNode, scanRel?: string) => {
    const own = relationOf(node) ?? scanRel;
    for (const text of [node.Filter, node['Recheck Cond'], node['Index Cond']]) {
      if (!text) continue;
      for (const c of conditionColumns(text)) {
        const rel = resolve(c.qualifier, own);
        if (rel) uses.push({ relation: rel, column: c.column, kind: c.op === '=' ? 'eq' : 'range' });
      }
    }
    for (const text of [node['Hash Cond'], node['Merge Cond'], node['Join Filter']]) {
      if (!text) continue;
      for (const c of conditionColumns(text)) {
        const rel = resolve(c.qualifier, undefined);
        if (rel) uses.push({ relation: rel, column: c.column, kind: 'join' });
      }
    }
    for (const key of node['Sort Key'] ?? []) {
      COLREF.lastIndex = 0;
      const ref = COLREF.exec(key.trim());
      if (!ref) continue;
      const rel = resolve(ref[1] ? unquote(ref[1]) : undefined, own ?? singleRelation(node));
      if (rel) uses.push({ relation: rel, column: unquote(ref[2]!), kind: 'sort' });
    }
    for (const child of node.Plans ?? []) visit(child, node['Node Type'].includes('Scan') ? own : undefined);
  };
  visit(root);
  return uses;
}

function singleRelation(node: PlanNode): string | undefined {
  const rels = new Set<string>();
  for (const { node: n } of walk(node)) if (relationOf(n)) rels.add(relationOf(n)!);
  return rels.size === 1 ? [...rels][0] : undefined;
}

/**
 * Candidate indexes for one query (Dexter-style): each used column alone, then pairs with
 * equality columns first, then range, join or sort columns. At most `max` per query.
 */
export function candidatesFor(uses: ColumnUse[], max = 12): Candidate[] {
  const byRel = new Map<string, ColumnUse[]>();
  for (const u of uses) byRel.set(u.relation, [...(byRel.get(u.relation) ?? []), u]);
  const out: Candidate[] = [];
  const seen = new Set<string>();
  const add = (relation: string, columns: string[]) => {
    const key = `${relation}(${columns.join(',')})`;
    if (seen.has(key) || new Set(columns).size !== columns.length) return;
    seen.add(key);
    out.push({ relation, columns });
  };
  const rank = { eq: 0, join: 1, range: 2, sort: 3 };
  for (const [rel, list] of byRel) {
    const cols = [
      ...new Map(list.sort((a, b) => rank[a.kind] - rank[b.kind]).map((u) => [u.column, u])).values(),
    ];
    for (const u of cols) add(rel, [u.column]);
    for (const a of cols.filter((u) => u.kind === 'eq' || u.kind === 'join'))
      for (const b of cols) if (a.column !== b.column) add(rel, [a.column, b.column]);
  }
  return out.slice(0, max);
}

export const candidateKey = (c: Candidate) => `${c.relation}(${c.columns.join(', ')})`;

export type AdviceSource = Pick<CorpusEntry, 'name' | 'sql' | 'params' | 'file' | 'line'> & {
  /** pg_stat_statements text with $n placeholders: planned generically. */
  generic?: boolean;
};
