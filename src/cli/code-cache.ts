import { readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire, wrap } from 'node:module';
import { dirname, join } from 'node:path';
import { Script } from 'node:vm';

import { userCacheDir } from '../cache-dir.js';

/**
 * The commands' words in argv (`backup run`): what a run compiles depends on them, so each command
 * keeps its own cache. Option values that look like words (`--target tiny` before the command) only
 * make another cache file.
 */
export function commandKey(argv: string[]): string {
  const words = argv.slice(2).filter((a) => /^[a-z]+(?:-[a-z]+)*$/.test(a));
  return words.slice(0, 2).join('-') || 'none';
}

/**
 * Loads a CommonJS bundle with V8's code cache, as Node 22's module.enableCompileCache() would (Node
 * 20 has no such thing): every command starts by compiling the CLI, and on the 2-core machines a
 * backup of a 100-row database took 206 ms without the cache and 168 ms with it. The cache holds the
 * functions a run compiled, so it is written at the exit of the first run of each command (and again
 * when V8 rejects it: another Node or another bundle), in the per-user cache directory (a cache
 * someone else could write would be code they could plant; there is none then, and no cache).
 */
export function requireWithCodeCache(file: string, argv: string[]): Record<string, unknown> {
  // The bundle is ASCII (scripts/bundle.mjs): latin1 reads it without decoding UTF-8.
  const source = readFileSync(file, 'latin1');
  const dir = userCacheDir();
  let cacheFile: string | undefined;
  let cached: Buffer | undefined;
  const command = commandKey(argv);
  if (dir) {
    const st = statSync(file);
    cacheFile = join(dir, `code-${command}-${process.version}-${st.size}-${Math.trunc(st.mtimeMs)}.bin`);
    try {
      cached = readFileSync(cacheFile);
    } catch {
      // the first run of this command: compiled from the source, the cache written at exit
    }
  }
  const script = new Script(wrap(source), {
    filename: file,
    ...(cached ? { cachedData: cached } : {}),
  });
  if (dir && cacheFile && (!cached || script.cachedDataRejected)) {
    const target = cacheFile;
    process.once('exit', () => {
      try {
        const tmp = `${target}.${process.pid}.tmp`;
        writeFileSync(tmp, script.createCachedData(), { mode: 0o600 });
        renameSync(tmp, target);
        // This command's caches for other bundles or Node versions (upgrades) go.
        for (const name of readdirSync(dir)) {
          if (name.startsWith(`code-${command}-v`) && join(dir, name) !== target) rmSync(join(dir, name));
        }
      } catch {
        // a full or read-only disk: the next run compiles again
      }
    });
  }
  const run = script.runInThisContext() as (
    exports: unknown,
    require: NodeJS.Require,
    module: { exports: Record<string, unknown> },
    filename: string,
    dirname: string,
  ) => void;
  const module = { exports: {} as Record<string, unknown> };
  run.call(module.exports, module.exports, createRequire(file), module, file, dirname(file));
  return module.exports;
}
