import { createHash } from 'node:crypto';

/** A node of EXPLAIN (FORMAT JSON) output; only the fields the rules read are typed. */
export interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  Schema?: string;
  Alias?: string;
  'Index Name'?: string;
  'Parent Relationship'?: string;
  'Total Cost': number;
  'Plan Rows': number;
  'Actual Rows'?: number;
  'Actual Loops'?: number;
  'Rows Removed by Filter'?: number;
  'Rows Removed by Join Filter'?: number;
  'Rows Removed by Index Recheck'?: number;
  'Sort Method'?: string;
  'Sort Space Type'?: string;
  'Sort Key'?: string[];
  'Hash Batches'?: number;
  'HashAgg Batches'?: number;
  'Disk Usage'?: number;
  'Lossy Heap Blocks'?: number;
  'Shared Hit Blocks'?: number;
  'Shared Read Blocks'?: number;
  Filter?: string;
  'Index Cond'?: string;
  'Recheck Cond'?: string;
  'Hash Cond'?: string;
  'Join Filter'?: string;
  'Merge Cond'?: string;
  Plans?: PlanNode[];
  [key: string]: unknown;
}

export interface ExplainOutput {
  Plan: PlanNode;
  'Planning Time'?: number;
  'Execution Time'?: number;
}

export function* walk(node: PlanNode, depth = 0): Generator<{ node: PlanNode; depth: number }> {
  yield { node, depth };
  for (const child of node.Plans ?? []) yield* walk(child, depth + 1);
}

export const relationOf = (n: PlanNode) =>
  n['Relation Name'] ? `${n.Schema ?? 'public'}.${n['Relation Name']}` : undefined;

/** How a node reads a relation: `Seq Scan`, `Index Scan using orders_customer_idx` … */
export const accessOf = (n: PlanNode) =>
  `${n['Node Type']}${n['Index Name'] ? ` using ${n['Index Name']}` : ''}`;

/** The plan's shape: node kinds, relations and indexes in tree order (no costs, no row counts). */
export function planShape(root: PlanNode): string[] {
  return [...walk(root)].map(({ node, depth }) => {
    const rel = relationOf(node);
    return `${'  '.repeat(depth)}${accessOf(node)}${rel ? ` on ${rel}` : ''}`;
  });
}

export function shapeHash(shape: string[]): string {
  return createHash('sha256').update(shape.join('\n')).digest('hex').slice(0, 16);
}

/** relation → the ways it is read, sorted (a relation may be read twice in a plan). */
export function scansByRelation(root: PlanNode): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const { node } of walk(root)) {
    const rel = relationOf(node);
    if (rel) (out[rel] ??= []).push(accessOf(node));
  }
  for (const k of Object.keys(out)) out[k]!.sort();
  return out;
}

/**
 * Actual rows over all loops (EXPLAIN reports per-loop averages, so multiply back).
 * Undefined outside ANALYZE mode.
 */
export function actualTotal(n: PlanNode): number | undefined {
  if (n['Actual Rows'] === undefined) return undefined;
  return n['Actual Rows'] * (n['Actual Loops'] ?? 1);
}
