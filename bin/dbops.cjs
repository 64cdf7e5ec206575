#!/usr/bin/env node
'use strict';
// The command's entry, CommonJS on purpose: PostgreSQL runs `dbops wal push %p` once per 16 MB
// WAL segment, and an ES-module entry costs Node's module loader start-up before any code runs.
// `wal push` / `wal fetch` run from one pre-bundled CommonJS file; everything else, and the WAL
// commands when that file is missing, load the bundled ES-module CLI (scripts/bundle.mjs).
const { existsSync } = require('node:fs');
const { join } = require('node:path');
const { pathToFileURL } = require('node:url');

/** A bundle from dist/, or undefined when it was not built. */
function bundle(file) {
  try {
    return require(join(__dirname, '..', 'dist', file));
  } catch {
    return undefined;
  }
}

/** Everything is awaited and written: exit now rather than wait for Node's teardown (a background
 * worker, if one was started, is a detached process of its own). */
function exitIfDrained() {
  if (!process.stdout.writableLength && !process.stderr.writableLength) process.exit();
}

// A reader that went away (`dbops backup list | head -1`) is not the command's failure: what it
// would still print is dropped, the command finishes its work (a backup in progress completes),
// and no stack trace lands in the log.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err) => {
    if (err.code !== 'EPIPE') throw err;
  });
}

async function run() {
  if (process.argv.includes('wal')) {
    // A segment the background worker already archived: answered from a few KB of code.
    const quick = process.argv.includes('push') ? bundle('wal-quick.cjs') : undefined;
    if (quick && quick.walQuickPush(process.argv)) return exitIfDrained();
    const fast = bundle('wal-fast.cjs');
    if (fast && (await fast.walFastPath(process.argv))) return exitIfDrained();
  }
  // `--version` alone: package.json, without loading the program.
  const args = process.argv.slice(2);
  if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
    process.stdout.write(`${require(join(__dirname, '..', 'package.json')).version}\n`);
    return;
  }
  // The bundled program (scripts/bundle.mjs) with V8's code cache when it was built, else tsc's files.
  const bundled = join(__dirname, '..', 'dist', 'cli', 'dbops.cjs');
  const loader = existsSync(bundled) ? bundle('code-cache.cjs') : undefined;
  if (loader) {
    await loader.requireWithCodeCache(bundled, process.argv).main(process.argv);
    return;
  }
  await import(pathToFileURL(join(__dirname, '..', 'dist', 'bin', 'dbops.js')).href);
}

run().catch((err) => {
  process.stderr.write(`dbops: ${err && err.stack ? err.stack : err}\n`);
  process.exitCode = 1;
});
