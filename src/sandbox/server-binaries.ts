import { access, constants } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { ToolError } from '../errors.js';
import { binDirCandidates, gatherBinDirSources, listDir } from '../tools/search-path.js';
import { parsePostgresToolVersion } from '../tools/versions.js';
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

async function hasServerPrograms(dir: string): Promise<boolean> {
  for (const p of SERVER_PROGRAMS) if (!(await isExecutable(path.join(dir, p)))) return false;
  return true;
}

/** Reads the version from `initdb --version` in binDir. */
export async function serverVersion(binDir: string): Promise<{ major: number; version: string }> {
  const initdb = path.join(binDir, 'initdb');
  const r = await execa(initdb, ['--version'], { reject: false, timeout: 10_000 });
  const parsed = r.exitCode === 0 ? parsePostgresToolVersion(r.stdout) : undefined;
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
  const candidates = binDirCandidates(await gatherBinDirSources(env));
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
