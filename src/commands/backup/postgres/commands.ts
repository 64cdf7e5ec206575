/**
 * argv for pg_dump / pg_restore. The connection travels in PG* environment variables
 * (postgresToolEnv), never here: argv is visible to every user of the host through `ps`.
 */
export type PostgresDumpFormat = 'custom' | 'directory';

export interface PgDumpArgsOptions {
  format: PostgresDumpFormat;
  /** Parallel workers (directory format only). */
  jobs?: number;
  /** Output directory (directory format). Custom format writes to stdout. */
  directory?: string;
  /** An exported snapshot (pg_export_snapshot) so row counts and dump see the same data. */
  snapshot?: string;
}

export function pgDumpArgs(o: PgDumpArgsOptions): string[] {
  // Compression is dbops's job (zstd in the pipeline is ~4× faster than pg_dump's own gzip).
  const args = [`--format=${o.format}`, '--compress=0', '--no-password'];
  if (o.snapshot) args.push(`--snapshot=${o.snapshot}`);
  if (o.format === 'directory') {
    if (!o.directory) throw new Error('pgDumpArgs: directory format needs a directory');
    if (o.jobs !== undefined && o.jobs > 1) args.push(`--jobs=${o.jobs}`);
    args.push(`--file=${o.directory}`);
  }
  return args;
}

/** A libpq conninfo value, quoted: a database name is never taken for a URL or `key=value` string. */
export function conninfoDbname(name: string): string {
  return `dbname='${name.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

export interface PgRestoreArgsOptions {
  database: string;
  /** Archive path (a file or a directory-format dump); stdin when absent. */
  archive?: string;
  format: PostgresDumpFormat;
  jobs?: number;
  singleTransaction?: boolean;
  clean?: boolean;
  noOwner?: boolean;
  schemas?: string[];
  tables?: string[];
  /** Only these sections (`--section`); all when absent. */
  sections?: PgRestoreSection[];
  /** Only the entries of this `--use-list` file, in its order. */
  useList?: string;
}

export type PgRestoreSection = 'pre-data' | 'data' | 'post-data';

export function pgRestoreArgs(o: PgRestoreArgsOptions): string[] {
  const args = [
    `--format=${o.format}`,
    `--dbname=${conninfoDbname(o.database)}`,
    '--no-password',
    '--exit-on-error',
  ];
  if (o.jobs !== undefined && o.jobs > 1) args.push(`--jobs=${o.jobs}`);
  else if (o.singleTransaction) args.push('--single-transaction');
  if (o.clean) args.push('--clean', '--if-exists');
  if (o.noOwner) args.push('--no-owner', '--no-privileges');
  for (const s of o.schemas ?? []) args.push(`--schema=${s}`);
  for (const t of o.tables ?? []) args.push(`--table=${t}`);
  for (const s of o.sections ?? []) args.push(`--section=${s}`);
  if (o.useList !== undefined) args.push(`--use-list=${o.useList}`);
  if (o.archive !== undefined) args.push(o.archive);
  return args;
}

/** `pg_restore --list`: reads the archive's table of contents without a database. */
export function pgRestoreListArgs(format: PostgresDumpFormat, archive?: string): string[] {
  return [`--format=${format}`, '--list', ...(archive !== undefined ? [archive] : [])];
}
