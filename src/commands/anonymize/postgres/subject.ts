import type { PoolClient } from 'pg';

import { quoteIdent, quoteQualified } from '../../../connections/index.js';
import { ConfigError } from '../../../errors.js';
import type { MaskKey } from '../keyed.js';
import { maskValue } from '../mask.js';
import type { MaskingPlan, TablePlan } from '../plan.js';
import type { SampleChange, TableReceipt } from '../receipt.js';
import { describeRule } from '../rules.js';
import type { SubjectTable } from '../subject-plan.js';
import type { Catalog } from './catalog.js';

const BATCH = 5000;

export interface PostgresEraseInput {
  catalog: Catalog;
  plan: MaskingPlan;
  tables: SubjectTable[];
  key: MaskKey;
  subjectId: string;
  subjectRef: string;
  sampleSize: number;
}

function qualified(tp: TablePlan): string {
  return quoteQualified({ schema: tp.table.schema, name: tp.table.name });
}

/** Columns referenced by a foreign key somewhere: rewriting them would orphan other rows. */
function referencedColumns(catalog: Catalog, tableKey: string): Set<string> {
  const out = new Set<string>();
  for (const fk of catalog.foreignKeys)
    if (fk.refTable === tableKey) for (const c of fk.refColumns) out.add(c);
  return out;
}

function keyPredicate(tp: TablePlan, keys: string[]): string {
  return keys
    .map((k) => {
      const col = tp.table.columns.find((c) => c.name === k)!;
      return `${quoteIdent(k)} = $1::${col.type.sql}`;
    })
    .join(' or ');
}

/**
 * Erases one subject in the caller's transaction: per table, deletes the subject's rows or
 * rewrites its classified columns. Values are computed in Node from each row's identity, then
 * written back in batches through unnest(); the UPDATE touches only rows whose value really
 * changes, which is what makes a second run a no-op.
 */
export async function erasePostgresSubject(
  client: PoolClient,
  input: PostgresEraseInput,
): Promise<TableReceipt[]> {
  const receipts: TableReceipt[] = [];
  for (const st of input.tables) {
    const tp = input.plan.tables.get(st.key)!;
    const action = tp.config?.erase ?? 'mask';
    const where = keyPredicate(tp, st.keys);
    try {
      if (action === 'delete-row') {
        const r = await client.query(`delete from ${qualified(tp)} where ${where}`, [input.subjectId]);
        receipts.push({
          table: st.key,
          action,
          matched: r.rowCount ?? 0,
          changed: r.rowCount ?? 0,
          columns: [],
        });
        continue;
      }
      receipts.push(await maskTable(client, tp, st, where, input));
    } catch (err) {
      throw asErasureError(err, st.key);
    }
  }
  return receipts;
}

async function maskTable(
  client: PoolClient,
  tp: TablePlan,
  st: SubjectTable,
  where: string,
  input: PostgresEraseInput,
): Promise<TableReceipt> {
  const referenced = referencedColumns(input.catalog, st.key);
  const keptKeys: string[] = [];
  const masked = tp.columns.filter((cp) => {
    if (!cp.rule || cp.rule.kind === 'keep' || cp.column.generated) return false;
    if (st.keys.includes(cp.column.name) || referenced.has(cp.column.name)) {
      keptKeys.push(cp.column.name);
      return false;
    }
    return true;
  });
  const pk = tp.table.primaryKey;
  const selectList = [
    'ctid::text as r',
    ...pk.map((c, i) => `${quoteIdent(c)}::text as k${i}`),
    ...masked.map((cp, i) => `${quoteIdent(cp.column.name)}::text as c${i}`),
  ].join(', ');
  const { rows } = await client.query<Record<string, string | null>>(
    `select ${selectList} from ${qualified(tp)} where ${where} for update`,
    [input.subjectId],
  );
  const receipt: TableReceipt = {
    table: st.key,
    action: 'mask',
    matched: rows.length,
    changed: 0,
    columns: masked.map((cp) => ({ column: cp.column.name, rule: describeRule(cp.rule!) })),
    ...(keptKeys.length ? { keptKeys } : {}),
  };
  if (rows.length === 0 || masked.length === 0) return receipt;

  const ctids: string[] = [];
  const values: (string | null)[][] = masked.map(() => []);
  const sample: SampleChange[][] = [];
  for (const row of rows) {
    const identity = pk.length
      ? pk.map((_, i) => row[`k${i}`] ?? '').join('\u0001')
      : `subject:${input.subjectRef}`;
    ctids.push(row.r!);
    const changes: SampleChange[] = [];
    masked.forEach((cp, i) => {
      const before = row[`c${i}`] ?? null;
      const after =
        before === null
          ? null
          : maskValue(cp.rule!, before, cp.column.type, {
              key: input.key,
              mode: 'erase',
              identity: `${st.key}/${identity}/${cp.column.name}`,
              unique: cp.column.unique,
            });
      const value = typeof after === 'symbol' ? null : after;
      values[i]!.push(value);
      if (sample.length < input.sampleSize && value !== before)
        changes.push({ column: cp.column.name, before, after: value });
    });
    if (changes.length && sample.length < input.sampleSize) sample.push(changes);
  }

  const sets = masked
    .map((cp, i) => `${quoteIdent(cp.column.name)} = v.c${i}::${cp.column.type.sql}`)
    .join(', ');
  const differs = masked
    .map((cp, i) => `t.${quoteIdent(cp.column.name)} is distinct from v.c${i}::${cp.column.type.sql}`)
    .join(' or ');
  const params = masked.map((_, i) => `$${i + 2}::text[]`).join(', ');
  const sql = `update ${qualified(tp)} as t set ${sets}
                 from unnest($1::tid[], ${params}) as v(r, ${masked.map((_, i) => `c${i}`).join(', ')})
                where t.ctid = v.r and (${differs})`;
  for (let start = 0; start < ctids.length; start += BATCH) {
    const r = await client.query(sql, [
      ctids.slice(start, start + BATCH),
      ...values.map((v) => v.slice(start, start + BATCH)),
    ]);
    receipt.changed += r.rowCount ?? 0;
  }
  if (sample.length) receipt.sample = sample;
  return receipt;
}

function asErasureError(err: unknown, table: string): Error {
  const e = err as { code?: string; message?: string; constraint?: string };
  if (e && typeof e.code === 'string') {
    if (e.code === '22P02' || e.code === '22003') {
      return new ConfigError(`the subject id does not fit the key column of ${table}: ${e.message}`, {
        cause: err,
      });
    }
    return new ConfigError(`erasure failed on ${table} and was rolled back: ${e.message}`, {
      cause: err,
      hint:
        e.code === '23503'
          ? 'a foreign key still references these rows: list the referencing table as related (delete-row) before this one'
          : 'nothing was changed; fix the rule or the data and run again',
    });
  }
  return err as Error;
}
