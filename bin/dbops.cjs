#!/usr/bin/env node
'use strict';
// The command's entry, CommonJS on purpose: PostgreSQL runs `dbops wal push %p` once per 16 MB
// WAL segment, and an ES-module entry costs Node's module loader start-up before any code runs.
// `wal push` / `wal fetch` run from one pre-bundled CommonJS file (scripts/bundle-wal.mjs);
// everything else, and the WAL commands when that file is missing, load the ES-module CLI.
const { join } = require('node:path');
const { pathToFileURL } = require('node:url');

async function run() {
  if (process.argv.includes('wal')) {
    let fast;
    try {
      fast = require(join(__dirname, '..', 'dist', 'wal-fast.cjs'));
    } catch {
      fast = undefined;
    }
    if (fast && (await fast.walFastPath(process.argv))) {
      // Everything is awaited and written: exit now rather than wait for Node's teardown (the
      // background worker, if one was started, is a detached process of its own).
      if (!process.stdout.writableLength && !process.stderr.writableLength) process.exit();
      return;
    }
  }
  await import(pathToFileURL(join(__dirname, '..', 'dist', 'bin', 'dbops.js')).href);
}

run().catch((err) => {
  process.stderr.write(`dbops: ${err && err.stack ? err.stack : err}\n`);
  process.exitCode = 1;
});
