import { withRollback, type PoolClient } from '../../../connections/index.js';
import type { QueryCounter } from '../postgres/session.js';
import type { CorpusEntry } from './corpus.js';
import type { ExplainOutput } from './plan.js';

export function explainStatement(sql: string, analyze: boolean): string {
  return `EXPLAIN (${analyze ? 'ANALYZE, BUFFERS, ' : ''}FORMAT JSON) ${sql}`;
}

/**
 * EXPLAIN one corpus entry. With analyze the statement really runs, so it runs inside a
 * transaction that is always rolled back (an UPDATE in the corpus changes nothing) and under
 * the statement timeout; the entry was already checked to hold a single statement, so nothing
 * can follow the EXPLAIN and escape the rollback.
 */
export async function explainEntry(
  client: PoolClient,
  entry: CorpusEntry,
  options: { analyze: boolean; statementTimeoutMs: number; counter: QueryCounter },
): Promise<ExplainOutput> {
  const statement = explainStatement(entry.sql, options.analyze);
  const run = async (c: PoolClient) => {
    options.counter.sent++;
    const { rows } = await c.query<{ 'QUERY PLAN': ExplainOutput[] }>(statement, entry.params);
    return rows[0]!['QUERY PLAN'][0]!;
  };
  if (!options.analyze) return run(client);
  options.counter.sent += 3; // begin, set_config, rollback
  return withRollback(client, run, { statementTimeout: Math.round(options.statementTimeoutMs) });
}

export const RELATION_ROWS_SQL = `
select n.nspname || '.' || c.relname as relation, greatest(c.reltuples, 0)::float8 as rows
  from unnest($1::text[], $2::text[]) as r(schema, name)
  join pg_namespace n on n.nspname = r.schema
  join pg_class c on c.relnamespace = n.oid and c.relname = r.name`;

/** One catalogue query for every relation the plans touch. */
export async function relationRows(
  client: PoolClient,
  relations: Iterable<string>,
  counter: QueryCounter,
): Promise<Map<string, number>> {
  const schemas: string[] = [];
  const names: string[] = [];
  for (const rel of relations) {
    const dot = rel.indexOf('.');
    schemas.push(rel.slice(0, dot));
    names.push(rel.slice(dot + 1));
  }
  if (schemas.length === 0) return new Map();
  counter.sent++;
  const { rows } = await client.query<{ relation: string; rows: number }>(RELATION_ROWS_SQL, [
    schemas,
    names,
  ]);
  return new Map(rows.map((r) => [r.relation, Number(r.rows)]));
}
