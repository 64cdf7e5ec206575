#!/usr/bin/env node
// Start-up is a feature: `--version` prints without loading the CLI, and `wal push` / `wal fetch`
// (run once per WAL segment) skip commander and every other command's modules.
const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
  const { dbopsVersion } = await import('../src/version.js');
  process.stdout.write(`${dbopsVersion()}\n`);
} else {
  const fast =
    args.includes('wal') &&
    (await (await import('../src/commands/wal/fast-cli.js')).walFastPath(process.argv));
  if (!fast) {
    const { main } = await import('../src/cli/main.js');
    await main(process.argv);
  }
}
