import { execFile } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { access, constants, readdir, realpath } from 'node:fs/promises';
import path, { delimiter, join } from 'node:path';

import { cachedProbe } from './probe-cache.js';

export interface BinDirCandidate {
  dir: string;
  /** Where the candidate came from, for logs and the "not found" message. */
  source: 'DBOPS_PG_BINDIR' | 'PATH' | 'pg_config' | 'debian' | 'homebrew';
}

/** Sorts directory names like `15`, `postgresql@16`, `postgresql@9.6` by their version, newest first. */
export function newestFirst(names: string[]): string[] {
  const key = (name: string): number[] => (/(\d+(?:\.\d+)*)$/.exec(name)?.[1] ?? '0').split('.').map(Number);
  return [...names].sort((a, b) => {
    const ka = key(a);
    const kb = key(b);
    for (let i = 0; i < Math.max(ka.length, kb.length); i++) {
      const d = (kb[i] ?? 0) - (ka[i] ?? 0);
      if (d !== 0) return d;
    }
    return a.localeCompare(b);
  });
}

export interface CandidateSources {
  env: NodeJS.ProcessEnv;
  /** Directory of the `initdb` found on PATH (symlinks resolved), if any. */
  pathInitdbDir?: string | undefined;
  /** Output of `pg_config --bindir`, if pg_config is on PATH. */
  pgConfigBindir?: string | undefined;
  /** Entries of /usr/lib/postgresql (Debian/Ubuntu), unsorted. */
  debianMajors: string[];
  /** Entries `postgresql@N` of /opt/homebrew/opt and /usr/local/opt, unsorted. */
  homebrewOptAppleSilicon: string[];
  homebrewOptIntel: string[];
}

/**
 * The ordered list of directories to try. DBOPS_PG_BINDIR wins alone: an operator who sets it
 * means exactly that directory, and silently falling back to another version would surprise them.
 */
export function binDirCandidates(s: CandidateSources): BinDirCandidate[] {
  const override = s.env.DBOPS_PG_BINDIR?.trim();
  if (override) return [{ dir: path.resolve(override), source: 'DBOPS_PG_BINDIR' }];
  const out: BinDirCandidate[] = [];
  if (s.pathInitdbDir) out.push({ dir: s.pathInitdbDir, source: 'PATH' });
  if (s.pgConfigBindir) out.push({ dir: s.pgConfigBindir, source: 'pg_config' });
  for (const major of newestFirst(s.debianMajors.filter((n) => /^\d+(\.\d+)?$/.test(n)))) {
    out.push({ dir: `/usr/lib/postgresql/${major}/bin`, source: 'debian' });
  }
  for (const name of newestFirst(s.homebrewOptAppleSilicon.filter((n) => /^postgresql@\d/.test(n)))) {
    out.push({ dir: `/opt/homebrew/opt/${name}/bin`, source: 'homebrew' });
  }
  for (const name of newestFirst(s.homebrewOptIntel.filter((n) => /^postgresql@\d/.test(n)))) {
    out.push({ dir: `/usr/local/opt/${name}/bin`, source: 'homebrew' });
  }
  out.push({ dir: '/opt/homebrew/bin', source: 'homebrew' });
  const seen = new Set<string>();
  return out.filter((c) => (seen.has(c.dir) ? false : (seen.add(c.dir), true)));
}

async function isExecutable(file: string): Promise<boolean> {
  try {
    await access(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export async function listDir(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch {
    return [];
  }
}

async function findOnPath(program: string, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const file = path.join(dir, program);
    if (await isExecutable(file)) return file;
  }
  return undefined;
}

export async function gatherBinDirSources(
  env: NodeJS.ProcessEnv,
  anchor = 'initdb',
): Promise<CandidateSources> {
  const sources: CandidateSources = {
    env,
    debianMajors: await listDir('/usr/lib/postgresql'),
    homebrewOptAppleSilicon: await listDir('/opt/homebrew/opt'),
    homebrewOptIntel: await listDir('/usr/local/opt'),
  };
  if (env.DBOPS_PG_BINDIR?.trim()) return sources;
  const initdb = await findOnPath(anchor, env);
  // Distributions symlink the programs into /usr/local/bin or similar; its real directory is where
  // the other programs of the same version live.
  if (initdb) sources.pathInitdbDir = path.dirname(await realpath(initdb).catch(() => initdb));
  const pgConfig = await findOnPath('pg_config', env);
  if (pgConfig) {
    // node:child_process rather than execa: this runs on start-up paths where execa's import cost shows.
    // Debian's pg_config is a wrapper whose answer follows the installed majors: they key the cache.
    const bindir = await cachedProbe(
      'bindir',
      pgConfig,
      () =>
        new Promise<string | undefined>((resolve) =>
          execFile(pgConfig, ['--bindir'], { timeout: 10_000 }, (err, stdout) =>
            resolve(err ? undefined : String(stdout).trim() || undefined),
          ),
        ),
      sources.debianMajors.slice().sort().join(','),
    );
    if (bindir) sources.pgConfigBindir = bindir;
  }
  return sources;
}

/**
 * Directories to search for a PostgreSQL program, best first: DBOPS_PG_BINDIR alone when set,
 * else the directory of `anchor` on PATH, pg_config --bindir, Debian/Ubuntu and Homebrew
 * locations, then the rest of PATH.
 */
export function postgresBinDirs(env: NodeJS.ProcessEnv = process.env, anchor = 'initdb'): Promise<string[]> {
  // One search per process and question: a backup asks for pg_dump twice (discovery, then choice).
  const key = JSON.stringify([anchor, env.DBOPS_PG_BINDIR ?? null, env.PATH ?? null]);
  let dirs = binDirsMemo.get(key);
  if (!dirs) {
    dirs = (async () => {
      const candidates = binDirCandidates(await gatherBinDirSources(env, anchor)).map((c) => c.dir);
      if (env.DBOPS_PG_BINDIR?.trim()) return candidates;
      return [...new Set([...candidates, ...pathDirs(env)])];
    })();
    binDirsMemo.set(key, dirs);
  }
  return dirs;
}

const binDirsMemo = new Map<string, Promise<string[]>>();

export function pathDirs(env: NodeJS.ProcessEnv = process.env): string[] {
  return (env.PATH ?? '').split(delimiter).filter(Boolean);
}

/** Every existing executable called `name` in the given directories, in order, each real file once. */
export function findExecutables(name: string, dirs: string[]): string[] {
  const found: string[] = [];
  const seen = new Set<string>();
  for (const dir of dirs) {
    const candidate = join(dir, name);
    if (!existsSync(candidate)) continue;
    // The same binary is often reachable twice (/usr/local/bin symlinks into /usr/lib/postgresql).
    const real = realpathSync(candidate);
    if (seen.has(real)) continue;
    seen.add(real);
    found.push(candidate);
  }
  return found;
}
