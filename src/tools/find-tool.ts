import { execFile } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { basename } from 'node:path';

import { ToolError } from '../errors.js';

import { installHint } from './install-hint.js';
import { cachedProbe } from './probe-cache.js';
import { findExecutables, pathDirs, postgresBinDirs } from './search-path.js';
import { parseMongoToolVersion, parsePostgresToolVersion } from './versions.js';

export interface FoundTool {
  name: string;
  path: string;
  major: number;
  version: string;
}

export type PostgresClientTool =
  'pg_dump' | 'pg_restore' | 'pg_basebackup' | 'psql' | 'pg_dumpall' | 'pg_receivewal';
export type MongoTool = 'mongodump' | 'mongorestore';

const versionCache = new Map<string, Promise<{ major: number; version: string } | undefined>>();

function versionOf(path: string, parse: typeof parsePostgresToolVersion, cacheable = true) {
  let cached = versionCache.get(path);
  if (!cached) {
    // node:child_process, not execa: this runs before every dump and restore, and execa's import
    // alone costs ~300 ms on a loaded machine.
    const ask = () =>
      new Promise<{ major: number; version: string } | undefined>((resolve) =>
        execFile(
          path,
          ['--version'],
          { timeout: 10_000, env: { ...process.env, LC_MESSAGES: 'C' } },
          (err, stdout, stderr) => resolve(err ? undefined : parse(`${String(stdout)}\n${String(stderr)}`)),
        ),
      );
    cached = cacheable ? cachedProbe('version', path, ask) : ask();
    versionCache.set(path, cached);
  }
  return cached;
}

/**
 * Debian's /usr/bin/pg_dump is postgresql-common's pg_wrapper, a Perl script that runs one of the
 * real binaries in /usr/lib/postgresql/N/bin; those are candidates themselves, so the wrapper is
 * asked (and trusted) only when it is all there is. Its answer is never cached: it changes when
 * another major is installed, not when the wrapper does.
 */
function isWrapper(path: string): boolean {
  try {
    return basename(realpathSync(path)) === 'pg_wrapper';
  } catch {
    return false;
  }
}

/** Every installed copy of a PostgreSQL client tool with its version, best location first. */
export async function listPostgresTools(name: PostgresClientTool, env = process.env): Promise<FoundTool[]> {
  const paths = findExecutables(name, await postgresBinDirs(env, name));
  const wrappers = new Set(paths.filter(isWrapper));
  const wanted = wrappers.size < paths.length ? paths.filter((p) => !wrappers.has(p)) : paths;
  const versions = await Promise.all(
    wanted.map((p) => versionOf(p, parsePostgresToolVersion, !wrappers.has(p))),
  );
  return wanted.flatMap((path, i) => {
    const v = versions[i];
    return v ? [{ name, path, ...v }] : [];
  });
}

/**
 * Picks the binary of a PostgreSQL client tool that fits the server: pg_dump refuses to dump
 * a server newer than itself, so the tool's major must be ≥ the server's; among those the
 * closest major wins (a much newer pg_dump writes archives an older pg_restore cannot read).
 */
export async function findPostgresTool(
  name: PostgresClientTool,
  options: { serverMajor?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<FoundTool> {
  const all = await listPostgresTools(name, options.env);
  if (all.length === 0) {
    throw new ToolError(`${name} not found`, {
      tool: name,
      hint: `${installHint(name)}; searched PATH, pg_config --bindir, /usr/lib/postgresql/*/bin and Homebrew`,
    });
  }
  const serverMajor = options.serverMajor;
  if (serverMajor === undefined) return all[0]!;
  const fitting = all.filter((t) => t.major >= serverMajor).sort((a, b) => a.major - b.major);
  if (fitting.length > 0) return fitting[0]!;
  const newest = [...all].sort((a, b) => b.major - a.major)[0]!;
  throw new ToolError(
    `${name} ${newest.version} (${newest.path}) is older than the server (major ${serverMajor}); ${name} must be at least as new as the server`,
    {
      tool: name,
      hint: `install the client tools of PostgreSQL ${serverMajor} or newer (Debian/Ubuntu: apt-get install postgresql-client-${serverMajor}) or point DBOPS_PG_BINDIR at them`,
    },
  );
}

/** mongodump / mongorestore on PATH. */
export async function findMongoTool(name: MongoTool, env = process.env): Promise<FoundTool> {
  const [path] = findExecutables(name, pathDirs(env));
  if (!path) throw new ToolError(`${name} not found on PATH`, { tool: name, hint: installHint(name) });
  const v = await versionOf(path, parseMongoToolVersion);
  return { name, path, major: v?.major ?? 0, version: v?.version ?? 'unknown' };
}
