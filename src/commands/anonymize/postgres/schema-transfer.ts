import type { ResolvedPostgresTarget } from '../../../connections/index.js';
import { postgresToolEnv } from '../../../connections/index.js';
import { findPostgresTool, startTool } from '../../../tools/index.js';

export interface SchemaTransferOptions {
  source: ResolvedPostgresTarget;
  dest: ResolvedPostgresTarget;
  sourceMajor: number;
  destMajor: number;
  section: 'pre-data' | 'post-data';
  /** pg_dump -n patterns (exact names, quoted). */
  schemas?: string[];
  /** pg_dump -T patterns: tables left out entirely. */
  excludeTables: string[];
  signal?: AbortSignal;
}

/** A name as a pg_dump pattern that matches only itself (quoted: no wildcards, case kept). */
export function exactPattern(schema: string, name?: string): string {
  const q = (s: string) => `"${s.replaceAll('"', '""')}"`;
  return name === undefined ? q(schema) : `${q(schema)}.${q(name)}`;
}

/**
 * pg_dump --section=… | psql: the schema (pre-data) or indexes and constraints (post-data) of the
 * source, replayed on the destination. Owners and grants are left out (the roles of production
 * rarely exist on staging); psql stops at the first error. Connection details travel in PG*
 * environment variables, never in argv.
 */
export async function transferSchemaSection(o: SchemaTransferOptions): Promise<void> {
  const pgDump = await findPostgresTool('pg_dump', { serverMajor: o.sourceMajor });
  const psql = await findPostgresTool('psql', { serverMajor: o.destMajor }).catch(() =>
    findPostgresTool('psql'),
  );
  const args = [
    `--section=${o.section}`,
    '--format=plain',
    '--no-owner',
    '--no-privileges',
    '--no-security-labels',
    '--no-publications',
    '--no-subscriptions',
    '--no-comments',
  ];
  for (const s of o.schemas ?? []) args.push(`--schema=${exactPattern(s)}`);
  for (const t of o.excludeTables) args.push(`--exclude-table=${t}`);
  const dump = startTool('pg_dump', pgDump.path, args, {
    env: postgresToolEnv(o.source),
    stdout: 'pipe',
    ...(o.signal ? { signal: o.signal } : {}),
  });
  const load = startTool(
    'psql',
    psql.path,
    ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '--single-transaction', '-f', '-'],
    {
      env: postgresToolEnv(o.dest),
      stdin: dump.stdout!,
      stdout: 'ignore',
      ...(o.signal ? { signal: o.signal } : {}),
    },
  );
  const [d, l] = await Promise.allSettled([dump.done, load.done]);
  if (d.status === 'rejected') {
    load.kill();
    throw d.reason;
  }
  if (l.status === 'rejected') throw l.reason;
}
