#!/usr/bin/env node
// Bundles what tsc emitted in dist/ into the files bin/dbops.cjs loads. Every command starts by
// loading modules, and on the 2-core machines resolving, reading and compiling a few hundred small
// files (zod, yaml, commander, pg, ours) cost more than a short command's work:
// - dist/cli/: the command-line program as ES-module chunks, one per lazily loaded part
//   (`dbops config check` measured 0.29 s bundled against 0.37 s from the files);
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
const cliEntry = join(dist, 'bin', 'dbops.js');
const walEntry = join(dist, 'src', 'commands', 'wal', 'fast-cli.js');
const walQuickEntry = join(dist, 'src', 'commands', 'wal', 'quick-cli.js');
for (const f of [cliEntry, walEntry, walQuickEntry]) {
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
await build({
  entryPoints: [
    { in: cliEntry, out: 'dbops' },
    ...[...workers].map(([name, path]) => ({ in: path, out: name })),
  ],
  outdir: join(dist, 'cli'),
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  chunkNames: '[name]-[hash]',
  external: heavy,
  plugins: [englishOnlyZod],
  // Bundled CommonJS packages (pg, yaml, commander) call require() for Node's own modules.
  banner: {
    js: "import { createRequire as __dbopsCreateRequire } from 'node:module'; const require = __dbopsCreateRequire(import.meta.url);",
  },
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
  // import.meta does not exist in CommonJS: version.ts finds package.json from this file instead.
  define: { 'import.meta.url': '__dbopsFileUrl' },
  banner: { js: "const __dbopsFileUrl = require('node:url').pathToFileURL(__filename).href;" },
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
