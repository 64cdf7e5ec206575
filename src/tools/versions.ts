/**
 * Parses `--version` output of PostgreSQL programs (pg_dump, initdb, postgres …):
 * `initdb (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)`, `postgres (PostgreSQL) 17beta2`, `… 9.6.24`.
 */
export function parsePostgresToolVersion(output: string): { major: number; version: string } | undefined {
  const m = /\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?(?:\.(\d+))?((?:devel|alpha|beta|rc)\d*)?/.exec(output);
  if (!m) return undefined;
  const first = Number(m[1]);
  const parts = [m[1], m[2], m[3]].filter((p): p is string => p !== undefined);
  const version = parts.join('.') + (m[4] ?? '');
  // Before 10 the major version had two parts (9.6); dbops only needs the first to refuse it.
  return { major: first, version };
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
