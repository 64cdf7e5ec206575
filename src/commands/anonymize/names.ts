import { splitQualified } from '../../connections/index.js';

/** A table's identity: schema + name, as stored in the catalog (unquoted). */
export interface TableName {
  schema: string;
  name: string;
}

function part(p: string): string {
  return /^[a-z_][a-z0-9_$]*$/.test(p) ? p : `"${p.replaceAll('"', '""')}"`;
}

/** `schema.table`, parts quoted only when needed: the one canonical spelling used as map key. */
export function tableKey(t: TableName): string {
  return `${part(t.schema)}.${part(t.name)}`;
}

/** A table name from config: `users`, `app.users`, `"My Schema"."My Table"`; default schema public. */
export function parseTableName(text: string, defaultSchema = 'public'): TableName {
  const p = splitQualified(text);
  return { schema: p.schema ?? defaultSchema, name: p.name };
}

export function configTableKey(text: string): string {
  return tableKey(parseTableName(text));
}
