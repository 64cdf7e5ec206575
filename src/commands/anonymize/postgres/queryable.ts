import type { QueryResult, QueryResultRow } from 'pg';

/** A pool or a client: anything that runs a parameterised query. */
export interface Queryable {
  query<R extends QueryResultRow = QueryResultRow>(sql: string, params?: unknown[]): Promise<QueryResult<R>>;
}
