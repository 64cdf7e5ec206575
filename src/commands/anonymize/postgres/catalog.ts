import type { Queryable } from './queryable.js';
import { tableKey, type TableName } from '../names.js';
import { postgresColumnType } from '../types.js';
import type { ColumnType } from '../types.js';

export interface CatalogColumn {
  name: string;
  type: ColumnType;
  nullable: boolean;
  /** GENERATED ALWAYS AS (…) STORED: never copied (the destination computes it). */
  generated: boolean;
  /** Part of a primary key or unique index (any of its columns). */
  unique: boolean;
  primaryKey: boolean;
}

export interface ForeignKey {
  /** Referencing table and columns. */
  table: string;
  columns: string[];
  /** Referenced table and columns (same order). */
  refTable: string;
  refColumns: string[];
}

export interface CatalogTable extends TableName {
  key: string;
  /** 'r' plain table, 'p' partitioned parent (holds no rows itself). */
  kind: 'r' | 'p';
  columns: CatalogColumn[];
  primaryKey: string[];
  /** Estimated rows (pg_class.reltuples), for ordering parallel copies largest first. */
  estimatedRows: number;
}

export interface Catalog {
  tables: Map<string, CatalogTable>;
  foreignKeys: ForeignKey[];
}

/** Every user table of the database, with column types, unique columns and foreign keys. */
export async function readCatalog(db: Queryable, schemas?: string[]): Promise<Catalog> {
  const schemaFilter = schemas && schemas.length ? schemas : null;
  const cols = await db.query<{
    schema: string;
    table: string;
    relkind: 'r' | 'p';
    reltuples: number;
    column: string;
    sql_type: string;
    typname: string;
    typmod: number;
    nullable: boolean;
    generated: boolean;
  }>(
    `select n.nspname as schema, c.relname as table, c.relkind, c.reltuples::float8 as reltuples,
            a.attname as column, format_type(a.atttypid, a.atttypmod) as sql_type,
            coalesce(bt.typname, t.typname) as typname,
            case when t.typtype = 'd' then t.typtypmod else a.atttypmod end as typmod,
            not a.attnotnull as nullable, a.attgenerated <> '' as generated
       from pg_class c
       join pg_namespace n on n.oid = c.relnamespace
       join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
       join pg_type t on t.oid = a.atttypid
       left join pg_type bt on t.typtype = 'd' and bt.oid = t.typbasetype
      where c.relkind in ('r', 'p') and not c.relispartition
        and n.nspname not in ('pg_catalog', 'information_schema')
        and n.nspname !~ '^pg_(toast|temp_)'
        and ($1::text[] is null or n.nspname = any($1::text[]))
        and not exists (select 1 from pg_depend d where d.classid = 'pg_class'::regclass
                          and d.objid = c.oid and d.deptype = 'e')
      order by n.nspname, c.relname, a.attnum`,
    [schemaFilter],
  );
  const tables = new Map<string, CatalogTable>();
  for (const r of cols.rows) {
    const key = tableKey({ schema: r.schema, name: r.table });
    let t = tables.get(key);
    if (!t) {
      t = {
        schema: r.schema,
        name: r.table,
        key,
        kind: r.relkind,
        columns: [],
        primaryKey: [],
        estimatedRows: Math.max(0, Number(r.reltuples)),
      };
      tables.set(key, t);
    }
    t.columns.push({
      name: r.column,
      type: postgresColumnType(r.sql_type, r.typname, Number(r.typmod)),
      nullable: r.nullable,
      generated: r.generated,
      unique: false,
      primaryKey: false,
    });
  }
  const uniques = await db.query<{ schema: string; table: string; column: string; primary: boolean }>(
    `select n.nspname as schema, c.relname as table, a.attname as column, i.indisprimary as primary
       from pg_index i
       join pg_class c on c.oid = i.indrelid
       join pg_namespace n on n.oid = c.relnamespace
       join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any(i.indkey) and a.attnum > 0
      where i.indisunique`,
  );
  for (const u of uniques.rows) {
    const col = tables
      .get(tableKey({ schema: u.schema, name: u.table }))
      ?.columns.find((c) => c.name === u.column);
    if (!col) continue;
    col.unique = true;
    if (u.primary) col.primaryKey = true;
  }
  for (const t of tables.values()) t.primaryKey = t.columns.filter((c) => c.primaryKey).map((c) => c.name);
  const fks = await db.query<{
    schema: string;
    table: string;
    columns: string[];
    ref_schema: string;
    ref_table: string;
    ref_columns: string[];
  }>(
    `select n.nspname as schema, c.relname as table,
            array(select a.attname::text from unnest(k.conkey) with ordinality u(n, o)
                    join pg_attribute a on a.attrelid = k.conrelid and a.attnum = u.n order by u.o) as columns,
            rn.nspname as ref_schema, rc.relname as ref_table,
            array(select a.attname::text from unnest(k.confkey) with ordinality u(n, o)
                    join pg_attribute a on a.attrelid = k.confrelid and a.attnum = u.n order by u.o) as ref_columns
       from pg_constraint k
       join pg_class c on c.oid = k.conrelid join pg_namespace n on n.oid = c.relnamespace
       join pg_class rc on rc.oid = k.confrelid join pg_namespace rn on rn.oid = rc.relnamespace
      where k.contype = 'f'`,
  );
  const foreignKeys = fks.rows.map((f) => ({
    table: tableKey({ schema: f.schema, name: f.table }),
    columns: f.columns,
    refTable: tableKey({ schema: f.ref_schema, name: f.ref_table }),
    refColumns: f.ref_columns,
  }));
  return { tables, foreignKeys };
}
