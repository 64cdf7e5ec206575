import { quoteIdent, quoteQualified } from '../../../connections/postgres/quote.js';
import { ConfigError } from '../../../errors.js';
import type { RetentionPolicy } from '../policy.js';
import type { ColumnInfo, TableInfo } from './introspect.js';

/**
 * The SQL of one batch, built once per run. Every identifier goes through quoteIdent; values
 * (cutoff, last key, batch size) are parameters. Keyset values travel as text and are cast to the
 * column's exact type, because a JS Date would drop microseconds and make the walk skip or repeat
 * rows.
 */
export interface BatchSql {
  /** `key`: keyset walk along an index; `pages`: ranges of heap pages (statements below). */
  mode: WalkMode;
  /** pages only: $1 = cutoff, $2/$3 = first and end (exclusive) TID of the page range. */
  pageBatch?: string;
  /** pages only: the same range, skipping rows other sessions hold locks on. */
  pageBatchSkipLocked?: string;
  /** Columns walked in order (keyset), e.g. [created_at, id] or [id]. */
  walk: ColumnInfo[];
  /** Unique key used to delete exactly the archived rows (archive-storage). */
  key: ColumnInfo[];
  /** key only: $1 = cutoff (text, or null when the policy has no age), $2 = limit, $3… = last walk values. */
  firstBatch?: string;
  nextBatch?: string;
  /** archive-storage only: selects a batch (locked) with each row as JSON text. */
  selectFirst?: string;
  selectNext?: string;
  /** archive-storage only: $1 = JSON array of rows from a batch file, $2 = cutoff. */
  deleteByKeys?: string;
}

export function eligibilitySql(policy: RetentionPolicy, table: TableInfo, alias = 't'): string {
  const parts: string[] = [];
  if (policy.ageColumn) {
    const col = column(table, policy.ageColumn, policy.name, 'ageColumn');
    parts.push(`${alias}.${quoteIdent(col.name)} < $1::${col.type}`);
  } else {
    // A `where`-only policy has no cutoff, but every statement binds it as $1 (then $2 the batch
    // size, $3… the last key): PostgreSQL cannot type a parameter no statement mentions.
    parts.push('$1::text is null');
  }
  // The where expression is operator config, validated (one expression, no `;`/comments) and
  // checked by the server in plan; parenthesised so it cannot change the precedence around it.
  if (policy.where) parts.push(`(${policy.where})`);
  return parts.join(' and ');
}

function column(table: TableInfo, name: string, policy: string, what: string): ColumnInfo {
  const col = table.columns.find((c) => c.name === name);
  if (!col) {
    throw new ConfigError(`retention policy ${policy}: ${what} "${name}" is not a column of ${table.sql}`, {
      hint: `columns: ${table.columns.map((c) => c.name).join(', ')}`,
    });
  }
  return col;
}

/** The unique key, then the walk: the age index when there is one (a short range scan), else the key. */
export function chooseWalk(
  policy: RetentionPolicy,
  table: TableInfo,
): { key: ColumnInfo[]; walk: ColumnInfo[] } {
  const keyNames = policy.key ?? table.primaryKey;
  if (keyNames.length === 0) {
    throw new ConfigError(`retention policy ${policy.name}: ${table.sql} has no primary key`, {
      hint: 'add a primary key, or set key: [unique, not-null columns] in the policy',
    });
  }
  const key = keyNames.map((k) => column(table, k, policy.name, 'key'));
  for (const k of key) {
    if (!k.notNull) {
      throw new ConfigError(`retention policy ${policy.name}: key column "${k.name}" may be NULL`, {
        hint: 'keyset pagination needs NOT NULL key columns',
      });
    }
  }
  if (policy.ageColumn && table.ageIndexed && !keyNames.includes(policy.ageColumn)) {
    const age = column(table, policy.ageColumn, policy.name, 'ageColumn');
    return { key, walk: [age, ...key] };
  }
  return { key, walk: key };
}

export type WalkMode = 'key' | 'pages';

/**
 * Below this share of eligible rows an index walk is cheaper than reading every page: measured
 * on 2M rows, the page walk deletes ~2.2× faster per eligible row but reads the whole table, and
 * the two meet near 11 % (docs/retention.md).
 */
const PAGE_WALK_MIN_SHARE = 0.1;

/**
 * How a run walks the table. A page walk is a single DELETE's sequential scan cut into short
 * transactions (0.85× a single DELETE's rate, where the keyset walk managed 0.25×: no index
 * descent, sort or row lock per row); a keyset walk touches only the rows that go.
 */
export function chooseWalkMode(
  policy: RetentionPolicy,
  table: TableInfo,
  eligibleEstimate: number | undefined,
): { mode: WalkMode; reason: string } {
  const pagesImpossible = table.partitioned
    ? 'a partitioned table is walked by key'
    : !table.tidRangeScans
      ? 'page ranges need PostgreSQL 14 or newer'
      : policy.action === 'archive-storage'
        ? 'archive-storage records key ranges'
        : undefined;
  if (policy.walk === 'key') return { mode: 'key', reason: 'walk: key in the policy' };
  if (policy.walk === 'pages') {
    if (pagesImpossible) {
      throw new ConfigError(
        `retention policy ${policy.name}: walk: pages is not possible here: ${pagesImpossible}`,
        {
          hint: 'use walk: auto or walk: key',
        },
      );
    }
    return { mode: 'pages', reason: 'walk: pages in the policy' };
  }
  if (pagesImpossible) return { mode: 'key', reason: pagesImpossible };
  if (policy.key) return { mode: 'key', reason: 'the policy names its key' };
  if (!policy.ageColumn || !table.ageIndexed) {
    return { mode: 'pages', reason: `no index on ${policy.ageColumn ?? 'the condition'} to walk` };
  }
  const rows = table.rowsPerPage * table.pages;
  if (eligibleEstimate !== undefined && rows > 0) {
    const share = eligibleEstimate / rows;
    const pct = `${Math.round(share * 100)} %`;
    return share >= PAGE_WALK_MIN_SHARE
      ? { mode: 'pages', reason: `about ${pct} of the rows go` }
      : { mode: 'key', reason: `only about ${pct} of the rows go` };
  }
  return { mode: 'key', reason: 'no estimate of the eligible rows' };
}

const list = (cols: ColumnInfo[], alias?: string) =>
  cols.map((c) => (alias ? `${alias}.${quoteIdent(c.name)}` : quoteIdent(c.name))).join(', ');
const row = (parts: string) => (parts.includes(',') ? `(${parts})` : parts);

/** `(a, b) > ($3::timestamptz, $4::bigint)`: one row comparison the btree can seek on. */
function afterLast(walk: ColumnInfo[], firstParam: number): string {
  const params = walk.map((c, i) => `$${firstParam + i}::${c.type}`).join(', ');
  return `${row(list(walk, 't'))} > ${row(params)}`;
}

/** Columns an archive insert may write (generated columns of the archive are left out). */
export function archiveColumns(
  source: ColumnInfo[],
  archive: ColumnInfo[],
  policy: string,
  archiveName: string,
): string[] {
  const missing = source.filter((c) => !archive.some((a) => a.name === c.name));
  if (missing.length > 0) {
    throw new ConfigError(
      `retention policy ${policy}: archive table ${archiveName} lacks column(s) ${missing.map((c) => c.name).join(', ')}`,
      { hint: 'add the columns to the archive table (or drop it: dbops creates it with the same columns)' },
    );
  }
  return source.filter((c) => !archive.find((a) => a.name === c.name)!.generated).map((c) => c.name);
}

export function buildBatchSql(
  policy: RetentionPolicy,
  table: TableInfo,
  archive?: { sql: string; columns: string[] },
  mode: WalkMode = 'key',
): BatchSql {
  // archive-table: the deleted rows (CTE `gone`, RETURNING x.*) go into the archive table.
  const insertArchive =
    archive &&
    `insert into ${archive.sql} (${archive.columns.map(quoteIdent).join(', ')}) overriding system value
    select ${archive.columns.map(quoteIdent).join(', ')} from gone`;
  const intoArchive = (deleteStatement: string) =>
    insertArchive ? `with gone as (${deleteStatement} returning x.*)\n    ${insertArchive}` : deleteStatement;
  if (mode === 'pages') {
    // Plain statements, one transaction each: the row count is the result's rowCount (for
    // archive-table the insert's, which is the deleted rows'), and no row travels back.
    const range = (a: string) => `${a}.ctid >= $2::tid and ${a}.ctid < $3::tid`;
    // A page walk needs no key: it deletes what it finds in the range.
    return {
      mode,
      walk: [],
      key: [],
      pageBatch: intoArchive(
        `delete from ${table.sql} x where ${range('x')} and ${eligibilitySql(policy, table, 'x')}`,
      ),
      pageBatchSkipLocked: intoArchive(
        `delete from ${table.sql} x where x.ctid = any (array(
      select t.ctid from ${table.sql} t where ${range('t')} and ${eligibilitySql(policy, table)}
       for update of t skip locked))`,
      ),
    };
  }
  const { key, walk } = chooseWalk(policy, table);
  const elig = eligibilitySql(policy, table);
  const walkOrder = list(walk, 't');
  const lastWalk = walk.map((c, i) => `${quoteIdent(c.name)}::text as w${i}`).join(', ');
  const descOrder = walk.map((c) => `${quoteIdent(c.name)} desc`).join(', ');

  const select = (withLast: boolean, extra: string) =>
    `select ${extra} from ${table.sql} t
      where ${[withLast ? afterLast(walk, 3) : '', elig].filter(Boolean).join(' and ')}
      order by ${walkOrder}
      limit $2
      for update of t skip locked`;

  // What the statement costs per row decides the rate (EXPLAIN ANALYZE, 50k-row batches: 254 ms
  // with a materialized batch CTE, 127 ms without). A plain table deletes the locked rows by ctid:
  // the locking select is an InitPlan whose TIDs go straight into one TID scan, with no CTE
  // tuplestore (it spilled to disk at ~50k rows) read twice more for the array and for the last key.
  // ctid is not unique across partitions, so a partitioned table deletes by its key.
  const deleteWhere = (withLast: boolean) =>
    table.partitioned
      ? `${row(list(key, 'x'))} in (select ${list(key)} from batch)`
      : `x.ctid = any (array(${select(withLast, 't.ctid')}))`;
  // The client needs only a count and the last walk key: both are read from the deleted rows
  // (RETURNING only the walk columns for a plain delete), so no row travels to the client.
  const deleted = (withLast: boolean) =>
    `gone as (delete from ${table.sql} x where ${deleteWhere(withLast)} returning ${archive ? 'x.*' : list(walk, 'x')})`;
  const moved = insertArchive ? `, moved as (${insertArchive})` : '';
  // A data-modifying CTE runs to completion whether or not it is read, so every deleted row is
  // archived in this statement; the count is the deleted rows'.
  const tail = `select (select count(*) from gone)::int as rows, w.*
      from (select ${lastWalk} from gone order by ${descOrder} limit 1) w`;
  const statement = (withLast: boolean) =>
    table.partitioned
      ? `with batch as materialized (
      ${select(withLast, list(uniqueCols(walk, key), 't'))}
    ), ${deleted(withLast)}${moved}
    ${tail}`
      : `with ${deleted(withLast)}${moved}
    ${tail}`;

  const result: BatchSql = {
    mode,
    walk,
    key,
    firstBatch: statement(false),
    nextBatch: statement(true),
  };
  if (policy.action === 'archive-storage') {
    const json = `row_to_json(t)::text as j, ${walk.map((c, i) => `t.${quoteIdent(c.name)}::text as w${i}`).join(', ')}`;
    result.selectFirst = select(false, json);
    result.selectNext = select(true, json);
    const recordType = key.map((c) => `${quoteIdent(c.name)} ${c.type}`).join(', ');
    // Deletes exactly the rows written to a batch file, matched by key, and only while they are
    // still eligible (a row that was updated to be kept is not deleted by a late settlement).
    const eligX =
      policy.ageColumn || policy.where
        ? ` and ${eligibilitySql(policy, table, 'x').replaceAll('$1::', '$2::')}`
        : '';
    result.deleteByKeys = `delete from ${table.sql} x
      where ${row(list(key, 'x'))} in (select ${list(key, 'k')} from json_to_recordset($1::json) as k(${recordType}))${eligX}`;
  }
  return result;
}

function uniqueCols(walk: ColumnInfo[], key: ColumnInfo[]): ColumnInfo[] {
  return [...walk, ...key.filter((k) => !walk.some((w) => w.name === k.name))];
}

/** `create table … (like …)`: same columns and NOT NULLs, without defaults, identity or indexes. */
export function createArchiveTableSql(archiveName: string, table: TableInfo): string {
  return `create table if not exists ${quoteQualified(archiveName)} (like ${table.sql})`;
}
