#!/usr/bin/env node
// `wal push` / `wal fetch` run once per WAL segment: they skip commander and every other command's modules.
const fast =
  process.argv.includes('wal') &&
  (await (await import('../src/commands/wal/fast-cli.js')).walFastPath(process.argv));
if (!fast) {
  const { main } = await import('../src/cli/main.js');
  await main(process.argv);
}
