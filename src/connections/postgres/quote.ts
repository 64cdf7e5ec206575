/**
 * The one place identifiers from config become SQL. Always quoted, so names with capitals,
 * spaces or quotes work and can never inject SQL.
 */
export function quoteIdent(name: string): string {
  if (name.includes('\u0000')) throw new Error('identifier contains a NUL byte');
  return `"${name.replaceAll('"', '""')}"`;
}

/** `schema.table` or `table` from config → quoted qualified name. */
export function quoteQualified(name: string | { schema?: string | undefined; name: string }): string {
  const parts = typeof name === 'string' ? splitQualified(name) : name;
  return parts.schema ? `${quoteIdent(parts.schema)}.${quoteIdent(parts.name)}` : quoteIdent(parts.name);
}

/** Splits `schema.table` (a quoted part may contain dots: `"my.schema".t`). */
export function splitQualified(name: string): { schema?: string; name: string } {
  const parts: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < name.length; i++) {
    const ch = name[i]!;
    if (ch === '"') {
      if (quoted && name[i + 1] === '"') {
        current += '"';
        i++;
      } else quoted = !quoted;
    } else if (ch === '.' && !quoted) {
      parts.push(current);
      current = '';
    } else current += ch;
  }
  parts.push(current);
  if (parts.length === 1) return { name: parts[0]! };
  if (parts.length === 2) return { schema: parts[0]!, name: parts[1]! };
  throw new Error(`cannot parse qualified name ${name}`);
}

/** A string literal, for the few places (DDL) where parameters are not allowed. */
export function quoteLiteral(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}
