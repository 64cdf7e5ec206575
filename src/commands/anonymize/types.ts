/** What masking needs to know about a column's type (PostgreSQL) or a field's (MongoDB). */
export type TypeFamily =
  | 'text'
  | 'int'
  | 'numeric'
  | 'date'
  | 'timestamp'
  | 'timestamptz'
  | 'json'
  | 'uuid'
  | 'inet'
  | 'bool'
  | 'other';

export interface ColumnType {
  /** As the database prints it (`character varying(64)`, `bigint`). */
  sql: string;
  family: TypeFamily;
  /** varchar(n) / char(n): masked values are cut to fit. */
  maxLength?: number;
  /** Largest value of an integer type (permutations stay inside it). */
  intMax?: bigint;
}

const INT_MAX: Record<string, bigint> = {
  int2: 32767n,
  int4: 2147483647n,
  int8: 9223372036854775807n,
};

/** From pg_type.typname of the column's base type and its atttypmod. */
export function postgresColumnType(sql: string, typname: string, typmod: number): ColumnType {
  const t = typname.replace(/^_/, '');
  if (typname.startsWith('_')) return { sql, family: 'other' };
  if (['text', 'varchar', 'bpchar', 'citext', 'name'].includes(t)) {
    return typmod > 4 && t !== 'text'
      ? { sql, family: 'text', maxLength: typmod - 4 }
      : { sql, family: 'text' };
  }
  if (INT_MAX[t] !== undefined) return { sql, family: 'int', intMax: INT_MAX[t] };
  if (['numeric', 'float4', 'float8', 'money'].includes(t)) return { sql, family: 'numeric' };
  if (t === 'date') return { sql, family: 'date' };
  if (t === 'timestamp') return { sql, family: 'timestamp' };
  if (t === 'timestamptz') return { sql, family: 'timestamptz' };
  if (t === 'json' || t === 'jsonb') return { sql, family: 'json' };
  if (t === 'uuid') return { sql, family: 'uuid' };
  if (t === 'inet' || t === 'cidr') return { sql, family: 'inet' };
  if (t === 'bool') return { sql, family: 'bool' };
  return { sql, family: 'other' };
}
