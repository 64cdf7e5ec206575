#!/usr/bin/env node
// Whole-process start-up of dbops against the floor of any Node CLI (`node -e 0`).
// Target: ≤ 1.5× for `dbops --version` and `dbops doctor --help` (no AWS SDK, mongodb, pg or
// zod loaded on paths that do not need them). Run after `npm run build`.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../bin/dbops.cjs', import.meta.url));
const runs = Number(process.env.RUNS ?? 20);

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function time(args) {
  const samples = [];
  for (let i = 0; i < runs + 2; i++) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(process.execPath, args, { stdio: 'ignore' });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (r.status !== 0) return NaN; // command not available in this build
    if (i >= 2) samples.push(ms); // the first runs warm the file cache
  }
  return median(samples);
}

const floor = time(['-e', '0']);
const rows = [
  ['node -e 0', floor],
  ['dbops --version', time([bin, '--version'])],
  ['dbops doctor --help', time([bin, 'doctor', '--help'])],
  ['dbops wal push --help', time([bin, 'wal', 'push', '--help'])],
];
console.log(`start-up, median of ${runs} runs`);
for (const [name, ms] of rows.filter(([, ms]) => !Number.isNaN(ms))) {
  console.log(`${name.padEnd(24)} ${ms.toFixed(1).padStart(7)} ms  ${(ms / floor).toFixed(2)}× floor`);
}
const worst = Math.max(...rows.slice(1, 3).map(([, ms]) => ms / floor));
console.log(
  worst <= 1.5 ? `ok: ≤ 1.5× (worst ${worst.toFixed(2)}×)` : `over target: ${worst.toFixed(2)}× > 1.5×`,
);
