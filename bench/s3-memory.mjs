#!/usr/bin/env node
// Peak memory of an S3 upload against its part size (issue 3: peak RSS ≤ 200 MB whatever the
// database size). Run after `npm run build`:
//   node bench/s3-memory.mjs            (1 GiB per upload; SIZE_MIB=2048 for more)
// A backup to S3 streams an object of unknown length, so its part size follows the database's size
// (10,000 parts at most): 16 MiB up to ~80 GB, ~150 MiB for an 800 GB database. Each upload here
// runs in a child process (the S3 test server runs in this one) and streams SIZE_MIB of data with
// the size hint of a small and of an 800 GB database, parts staged on disk (what dbops does) and
// in memory (lib-storage's Upload, DBOPS_S3_PARTS_IN_MEMORY=1). Prints wall time, peak RSS, and the
// ratio of each run's time to the small database's in-memory upload (the floor: lib-storage with
// its smallest parts, same bytes, same server).
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const work = join(root, 'bench/.work/s3-memory');
const sizeMiB = Number(process.env.SIZE_MIB ?? 1024);
rmSync(work, { recursive: true, force: true });
mkdirSync(join(work, 'spool'), { recursive: true });

const S3rver = createRequire(import.meta.url)('s3rver');
const s3 = new S3rver({
  address: '127.0.0.1',
  port: 0,
  directory: join(work, 's3'),
  silent: true,
  vhostBuckets: false,
  configureBuckets: [{ name: 'bench' }],
});
const { port } = await s3.run();

// The child: one put of SIZE_MIB through the repository interface, as a backup makes it.
const child = join(work, 'put.mjs');
writeFileSync(
  child,
  `import { Readable } from 'node:stream';
import { randomBytes } from 'node:crypto';
const { openRepository } = await import(${JSON.stringify(join(root, 'dist/src/storage/index.js'))});
const [endpoint, mib, hint, spoolDir] = process.argv.slice(2);
const repo = await openRepository('bench', { type: 's3', bucket: 'bench', prefix: '', region: 'us-east-1',
  endpoint, accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER', checksums: 'when-required', maxAttempts: 3, spoolDir });
const block = randomBytes(1 << 20);
let left = Number(mib);
// Fresh 1 MiB buffers, as a dump produces them (a shared one would hide what is held).
const body = new Readable({ read() { this.push(left-- > 0 ? Buffer.from(block) : null); } });
const t0 = performance.now();
await repo.put('object', body, { sizeHint: Number(hint) });
process.stdout.write(String((performance.now() - t0) / 1000));
await repo.delete(['object']);
await repo.close();
`,
);

async function run(label, hint, spool) {
  const env = { ...process.env, DBOPS_S3_PARTS_IN_MEMORY: spool ? '0' : '1' };
  const p = spawn(
    '/usr/bin/time',
    [
      '-f',
      '%M',
      process.execPath,
      child,
      `http://127.0.0.1:${port}`,
      String(sizeMiB),
      String(hint),
      join(work, 'spool'),
    ],
    { env },
  );
  let out = '';
  let err = '';
  p.stdout.on('data', (d) => (out += d));
  p.stderr.on('data', (d) => (err += d));
  const status = await new Promise((resolve) => p.on('close', resolve));
  if (status !== 0) throw new Error(`${label} failed:\n${err}`);
  return { label, s: Number(out), rssMb: Number(err.trim().split('\n').pop()) / 1024 };
}

const { choosePartSize } = await import(join(root, 'dist/src/storage/s3.js'));
const small = 10e9;
const large = 800e9;
const rows = [];
for (const [label, hint, spool] of [
  ['10 GB database, parts in memory (floor)', small, false],
  ['10 GB database, parts staged on disk (dbops)', small, true],
  ['800 GB database, parts in memory (lib-storage)', large, false],
  ['800 GB database, parts staged on disk (dbops)', large, true],
]) {
  const r = await run(label, hint, spool);
  rows.push({ ...r, part: choosePartSize(undefined, hint) / 2 ** 20 });
}
await s3.close();
rmSync(work, { recursive: true, force: true });

console.log(`\n${sizeMiB} MiB per upload to the S3 test server`);
console.log(
  `${'run'.padEnd(48)} ${'part'.padStart(8)} ${'wall'.padStart(7)} ${'peak RSS'.padStart(9)}  vs floor`,
);
for (const r of rows) {
  console.log(
    `${r.label.padEnd(48)} ${`${r.part} MiB`.padStart(8)} ${`${r.s.toFixed(2)}s`.padStart(7)} ${`${r.rssMb.toFixed(0)} MB`.padStart(9)}  ${(r.s / rows[0].s).toFixed(2)}×`,
  );
}
const spooled = [rows[1], rows[3]];
console.log(
  `peak RSS of dbops's uploads: ${spooled.map((r) => `${r.rssMb.toFixed(0)} MB with ${r.part} MiB parts`).join(', ')} ` +
    '(target ≤ 200 MB whatever the database size)',
);
