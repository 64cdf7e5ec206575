#!/usr/bin/env node
// Bundles what tsc emitted in dist/ into the files bin/dbops.cjs loads. Every command starts by
// loading modules, and on the 2-core machines resolving, reading and compiling a few hundred small
// files (zod, yaml, commander, pg, ours) cost more than a short command's work:
// - dist/cli/dbops.cjs: the command-line program as one CommonJS file, which bin/dbops.cjs runs
//   through V8's code cache (dist/code-cache.cjs, from src/cli/code-cache.ts): no ES-module
//   loader, and no compiling after a command's first run (a 100-row backup: 168 ms against 206 ms
//   from ES-module chunks, which took 0.29 s for `dbops config check` against 0.37 s unbundled);
//   workers (anonymize's masking) beside it as ES modules;
// - dist/wal-quick.cjs: the answer to `wal push` for a segment the background worker already
//   archived (node:fs and the spool record only; bench/wal.mjs: ~30 ms less per call);
// - dist/wal-fast.cjs: `wal push` / `wal fetch`, which PostgreSQL starts once per 16 MB segment, as
//   one CommonJS file: no ES-module loader either (~200 ms against ~235 ms a call; bench/wal.mjs).
// Kept out: the AWS SDK and the MongoDB driver (large, loaded only for an S3 repository or a
// MongoDB target, from node_modules), pg-native (optional, never installed), and what src loads
// with createRequire (chalk, cli-table3). dist/src stays unbundled for the library export.
import { build } from 'esbuild';
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = join(root, 'dist');
const cliEntry = join(dist, 'src', 'cli', 'bundle-entry.js');
const codeCacheEntry = join(dist, 'src', 'cli', 'code-cache.js');
const walEntry = join(dist, 'src', 'commands', 'wal', 'fast-cli.js');
const walQuickEntry = join(dist, 'src', 'commands', 'wal', 'quick-cli.js');
for (const f of [cliEntry, codeCacheEntry, walEntry, walQuickEntry]) {
  if (!existsSync(f)) {
    console.error(`${f} is missing: run tsc first (npm run build does both)`);
    process.exit(1);
  }
}
const heavy = ['@aws-sdk/*', '@smithy/*', 'mongodb', 'pg-native'];

function jsFiles(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? jsFiles(p) : p.endsWith('.js') ? [p] : [];
  });
}

// A worker started with `new Worker(new URL('./x.js', import.meta.url))` becomes an entry of its
// own beside the chunks, where that URL then points.
const workers = new Map();
for (const file of jsFiles(join(dist, 'src'))) {
  for (const m of readFileSync(file, 'utf8').matchAll(/new URL\('\.\/([\w-]+)\.js', import\.meta\.url\)/g)) {
    workers.set(m[1], join(file, '..', `${m[1]}.js`));
  }
}

// zod's namespace export carries every locale (~360 KB of the ~750 KB zod chunk, compiled on every
// command that reads the config); dbops only ever uses English, zod's default.
const englishOnlyZod = {
  name: 'zod-english-only',
  setup(b) {
    b.onLoad({ filter: /[\\/]zod[\\/]v4[\\/]locales[\\/]index\.js$/ }, () => ({
      contents: 'export { default as en } from "./en.js";',
      resolveDir: join(root, 'node_modules', 'zod', 'v4', 'locales'),
      loader: 'js',
    }));
  },
};

rmSync(join(dist, 'cli'), { recursive: true, force: true });
// import.meta does not exist in CommonJS: version.ts finds package.json from the file, chalk and
// cli-table3 are required relative to it, and a worker's URL points beside it (dist/cli/).
const importMetaUrl = {
  define: { 'import.meta.url': '__dbopsFileUrl' },
  banner: { js: "const __dbopsFileUrl = require('node:url').pathToFileURL(__filename).href;" },
};
await build({
  entryPoints: [cliEntry],
  outfile: join(dist, 'cli', 'dbops.cjs'),
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  // Left to node_modules and required when used: the AWS SDK, the MongoDB driver.
  external: heavy,
  // import() of those (and of Node's modules) becomes require(): code run through vm.Script has
  // no module loader for import() (and the one Node 20 offers is experimental and warns).
  supported: { 'dynamic-import': false },
  // ASCII only (other characters escaped), so that the loader reads it as latin1: 2.6 ms against
  // 6.4 ms as UTF-8 for the 3.4 MB; whitespace and syntax minified (names kept, for stack traces).
  charset: 'ascii',
  minifyWhitespace: true,
  minifySyntax: true,
  plugins: [englishOnlyZod],
  ...importMetaUrl,
  legalComments: 'none',
  logLevel: 'warning',
});
// Workers run on their own, as ES modules beside the program.
if (workers.size > 0) {
  await build({
    entryPoints: [...workers].map(([name, path]) => ({ in: path, out: name })),
    outdir: join(dist, 'cli'),
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    chunkNames: '[name]-[hash]',
    external: heavy,
    plugins: [englishOnlyZod],
    // Bundled CommonJS packages (pg) call require() for Node's own modules.
    banner: {
      js: "import { createRequire as __dbopsCreateRequire } from 'node:module'; const require = __dbopsCreateRequire(import.meta.url);",
    },
    legalComments: 'none',
    logLevel: 'warning',
  });
}
await build({
  entryPoints: [codeCacheEntry],
  outfile: join(dist, 'code-cache.cjs'),
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  legalComments: 'none',
  logLevel: 'warning',
});

await build({
  entryPoints: [walEntry],
  outfile: join(dist, 'wal-fast.cjs'),
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  // Packages stay in node_modules here: inlined, zod and yaml (needed only when the config cache
  // misses) made the file ~1.6 MB, and compiling it cost more than the module files it replaced.
  packages: 'external',
  ...importMetaUrl,
  legalComments: 'none',
  logLevel: 'warning',
});

await build({
  entryPoints: [walQuickEntry],
  outfile: join(dist, 'wal-quick.cjs'),
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  legalComments: 'none',
  logLevel: 'warning',
});
