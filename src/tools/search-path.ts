import { existsSync, readdirSync, realpathSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/**
 * Directories where PostgreSQL binaries usually live, best first: DBOPS_PG_BINDIR alone when set, else PATH,
 * then Debian/Ubuntu (/usr/lib/postgresql/<major>/bin, newest major first), then Homebrew.
 * Shared by the client-tool finder and the sandbox's server-binary finder.
 */
export function postgresBinDirCandidates(env: NodeJS.ProcessEnv = process.env): string[] {
  // An explicit override is taken literally: the operator chose those binaries, so dbops must
  // not silently pick others elsewhere on the machine.
  if (env.DBOPS_PG_BINDIR) return [env.DBOPS_PG_BINDIR];
  const dirs: string[] = [];
  dirs.push(...pathDirs(env));
  dirs.push(...versionedDirs('/usr/lib/postgresql', (v) => join('/usr/lib/postgresql', v, 'bin')));
  for (const root of ['/opt/homebrew/opt', '/usr/local/opt']) {
    dirs.push(...versionedDirs(root, (v) => join(root, v, 'bin'), /^postgresql@(\d+)$/));
  }
  dirs.push('/opt/homebrew/bin', '/usr/local/bin', '/usr/bin');
  return [...new Set(dirs)];
}

export function pathDirs(env: NodeJS.ProcessEnv = process.env): string[] {
  return (env.PATH ?? '').split(delimiter).filter(Boolean);
}

function versionedDirs(root: string, toDir: (entry: string) => string, pattern = /^(\d+)$/): string[] {
  if (!existsSync(root)) return [];
  let entries: string[];
  try {
    entries = readdirSync(root);
  } catch {
    return [];
  }
  return entries
    .map((e) => ({ e, m: pattern.exec(e) }))
    .filter((x) => x.m)
    .sort((a, b) => Number(b.m![1]) - Number(a.m![1]))
    .map((x) => toDir(x.e))
    .filter((d) => existsSync(d));
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
