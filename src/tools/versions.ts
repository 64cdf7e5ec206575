/** Parses `pg_dump (PostgreSQL) 15.18 (Debian …)` / `psql (PostgreSQL) 17beta1` style output. */
export function parsePostgresToolVersion(output: string): { major: number; version: string } | undefined {
  const m = /\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?(\S*)/.exec(output);
  if (!m) return undefined;
  return { major: Number(m[1]), version: `${m[1]}${m[2] !== undefined ? `.${m[2]}` : ''}${m[3] ?? ''}` };
}

/** server_version_num (150018) → { major: 15, version: '15.18' }; versions before 10 are x.y.z. */
export function parseServerVersionNum(num: number): { major: number; version: string } {
  if (num >= 100000)
    return { major: Math.floor(num / 10000), version: `${Math.floor(num / 10000)}.${num % 10000}` };
  const major = Math.floor(num / 100) / 100;
  return { major, version: `${Math.floor(num / 10000)}.${Math.floor(num / 100) % 100}.${num % 100}` };
}

/** `mongodump version: 100.9.4` / `mongorestore version: r4.0.3` */
export function parseMongoToolVersion(output: string): { major: number; version: string } | undefined {
  const m = /version:\s*r?(\d+)\.(\d+)\.(\d+)/.exec(output);
  if (!m) return undefined;
  return { major: Number(m[1]), version: `${m[1]}.${m[2]}.${m[3]}` };
}
