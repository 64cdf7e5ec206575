#!/usr/bin/env node
// Bundles the `wal push` / `wal fetch` fast path (dist/src/commands/wal/fast-cli.js, emitted by
// tsc) into one CommonJS file, dist/wal-fast.cjs, that bin/dbops.cjs requires. PostgreSQL starts
// archive_command once per 16 MB segment: as ES modules the path loads ~30 files plus Node's
// ES-module loader, ~40-50 ms of every call on the 2-core machines (bench/wal.mjs); one CommonJS
// file skips both. The AWS SDK stays outside (loaded from node_modules for S3 repositories only).
import { build } from 'esbuild';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const entry = join(root, 'dist/src/commands/wal/fast-cli.js');
if (!existsSync(entry)) {
  console.error('dist/src/commands/wal/fast-cli.js is missing: run tsc first (npm run build does both)');
  process.exit(1);
}
await build({
  entryPoints: [entry],
  outfile: join(root, 'dist/wal-fast.cjs'),
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  // import.meta does not exist in CommonJS: version.ts finds package.json from this file instead.
  define: { 'import.meta.url': '__dbopsFileUrl' },
  banner: { js: "const __dbopsFileUrl = require('node:url').pathToFileURL(__filename).href;" },
  legalComments: 'none',
  logLevel: 'warning',
});
