import { access, constants, readdir, realpath } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { ToolError } from '../errors.js';
import type { Logger } from '../logger.js';
import { silentLogger } from '../logger.js';

/** The PostgreSQL server programs a sandbox needs, all from one directory (one major version). */
export const SERVER_PROGRAMS = ['initdb', 'pg_ctl', 'postgres'] as const;

export interface ServerBinaries {
  /** Directory holding initdb, pg_ctl and postgres. */
  binDir: string;
  major: number;
  /** e.g. `15.18` */
  version: string;
}

export interface BinDirCandidate {
  dir: string;
  /** Where the candidate came from, for logs and the "not found" message. */
  source: 'DBOPS_PG_BINDIR' | 'PATH' | 'pg_config' | 'debian' | 'homebrew';
}

/**
 * Parses `initdb --version` / `postgres --version` output:
 * `initdb (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)`, `postgres (PostgreSQL) 17beta2`, `… 9.6.24`.
 */
export function parseServerVersion(output: string): { major: number; version: string } | undefined {
  const m = /\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?(?:\.(\d+))?((?:devel|alpha|beta|rc)\d*)?/.exec(output);
  if (!m) return undefined;
  const first = Number(m[1]);
  const parts = [m[1], m[2], m[3]].filter((p): p is string => p !== undefined);
  const version = parts.join('.') + (m[4] ?? '');
  // Before 10 the major version had two parts (9.6); dbops only needs the first to refuse it.
  return { major: first, version };
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

/** What to install, per platform; printed as the hint of the "not found" error. */
export function installHint(platform: NodeJS.Platform): string {
  const override = 'or set DBOPS_PG_BINDIR to the directory holding initdb, pg_ctl and postgres';
  if (platform === 'darwin')
    return `Install the PostgreSQL server with \`brew install postgresql@16\`, ${override}.`;
  if (platform === 'linux') {
    return (
      'Install the PostgreSQL server with `apt-get install postgresql` (Debian/Ubuntu; it puts the programs in ' +
      `/usr/lib/postgresql/<major>/bin, not on PATH), ${override}.`
    );
  }
  return `Install the PostgreSQL server (initdb, pg_ctl, postgres), ${override}.`;
}

async function isExecutable(file: string): Promise<boolean> {
  try {
    await access(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

async function listDir(dir: string): Promise<string[]> {
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

async function gatherSources(env: NodeJS.ProcessEnv): Promise<CandidateSources> {
  const sources: CandidateSources = {
    env,
    debianMajors: await listDir('/usr/lib/postgresql'),
    homebrewOptAppleSilicon: await listDir('/opt/homebrew/opt'),
    homebrewOptIntel: await listDir('/usr/local/opt'),
  };
  if (env.DBOPS_PG_BINDIR?.trim()) return sources;
  const initdb = await findOnPath('initdb', env);
  // Distributions symlink initdb into /usr/local/bin or similar; its real directory is where
  // pg_ctl and postgres of the same version live.
  if (initdb) sources.pathInitdbDir = path.dirname(await realpath(initdb).catch(() => initdb));
  const pgConfig = await findOnPath('pg_config', env);
  if (pgConfig) {
    const r = await execa(pgConfig, ['--bindir'], { reject: false, timeout: 10_000 });
    if (r.exitCode === 0 && r.stdout.trim()) sources.pgConfigBindir = r.stdout.trim();
  }
  return sources;
}

async function hasServerPrograms(dir: string): Promise<boolean> {
  for (const p of SERVER_PROGRAMS) if (!(await isExecutable(path.join(dir, p)))) return false;
  return true;
}

/** Reads the version from `initdb --version` in binDir. */
export async function serverVersion(binDir: string): Promise<{ major: number; version: string }> {
  const initdb = path.join(binDir, 'initdb');
  const r = await execa(initdb, ['--version'], { reject: false, timeout: 10_000 });
  const parsed = r.exitCode === 0 ? parseServerVersion(r.stdout) : undefined;
  if (!parsed) {
    throw new ToolError(`cannot read the version of ${initdb}`, {
      tool: 'initdb',
      argv: [initdb, '--version'],
      ...(r.exitCode === undefined ? {} : { toolExitCode: r.exitCode }),
      stderrTail: String(r.stderr ?? '').slice(-2000),
      hint: 'Check that the PostgreSQL server installation is complete.',
    });
  }
  return parsed;
}

/**
 * Finds initdb, pg_ctl and postgres of one PostgreSQL installation. Never downloads anything:
 * a missing server is a ToolError telling the operator what to install.
 */
export async function findServerBinaries(
  opts: { env?: NodeJS.ProcessEnv; logger?: Logger; platform?: NodeJS.Platform } = {},
): Promise<ServerBinaries> {
  const env = opts.env ?? process.env;
  const logger = opts.logger ?? silentLogger;
  const candidates = binDirCandidates(await gatherSources(env));
  for (const c of candidates) {
    if (!(await hasServerPrograms(c.dir))) continue;
    const { major, version } = await serverVersion(c.dir);
    logger.debug('found PostgreSQL server binaries', { binDir: c.dir, source: c.source, version });
    return { binDir: c.dir, major, version };
  }
  const platform = opts.platform ?? process.platform;
  if (candidates[0]?.source === 'DBOPS_PG_BINDIR') {
    throw new ToolError(`DBOPS_PG_BINDIR=${candidates[0].dir} does not hold initdb, pg_ctl and postgres`, {
      tool: 'initdb',
      hint: `Point DBOPS_PG_BINDIR at the PostgreSQL server's bin directory, or unset it. ${installHint(platform)}`,
    });
  }
  throw new ToolError('PostgreSQL server programs (initdb, pg_ctl, postgres) not found', {
    tool: 'initdb',
    hint: `${installHint(platform)} Looked in: PATH, pg_config --bindir, ${candidates.map((c) => c.dir).join(', ')}.`,
  });
}

/**
 * The server's share directory (for extension control files): `pg_config --sharedir` of the same
 * installation when it ships pg_config, else the Debian layout, else `<prefix>/share/postgresql`.
 */
export async function findShareDir(bins: ServerBinaries): Promise<string | undefined> {
  const pgConfig = path.join(bins.binDir, 'pg_config');
  if (await isExecutable(pgConfig)) {
    const r = await execa(pgConfig, ['--sharedir'], { reject: false, timeout: 10_000 });
    if (r.exitCode === 0 && r.stdout.trim()) return r.stdout.trim();
  }
  const prefix = path.dirname(bins.binDir);
  for (const dir of [
    `/usr/share/postgresql/${bins.major}`,
    path.join(prefix, 'share', `postgresql@${bins.major}`),
    path.join(prefix, 'share', 'postgresql'),
  ]) {
    if ((await listDir(path.join(dir, 'extension'))).length > 0) return dir;
  }
  return undefined;
}

/** Whether an extension's files are installed for this server (e.g. `pg_stat_statements`). */
export async function hasExtension(bins: ServerBinaries, name: string): Promise<boolean> {
  const share = await findShareDir(bins);
  if (!share) return false;
  try {
    await access(path.join(share, 'extension', `${name}.control`), constants.R_OK);
    return true;
  } catch {
    return false;
  }
}
