import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

import {
  DataOffsetScanner,
  parseToc,
  writeToc,
} from '../../../src/commands/backup/postgres/archive-offsets.js';
import { findPostgresTool } from '../../../src/tools/find-tool.js';
import { createDatabase, withClient } from '../../support/pg.js';

/**
 * pg_dump records each table's data offset in the TOC itself when its output is a file, and
 * cannot when it is a pipe (as in every dbops backup). dbops fills them in on the restore spool:
 * the result must be what pg_dump writes, byte for byte, for table data and large objects alike.
 */
let db: Awaited<ReturnType<typeof createDatabase>>;
let dir: string;
let toFile: Buffer;
let toPipe: Buffer;

/** The offset bytes of every TOC entry that has data. */
function offsets(archive: Buffer): string[] {
  const { slots, offSize } = parseToc(archive);
  return slots
    .filter((s) => s.state !== 3)
    .map((s) => `${s.dumpId}:${s.state}:${archive.subarray(s.at + 1, s.at + 1 + offSize).toString('hex')}`);
}

beforeAll(async () => {
  db = await createDatabase(inject('pgUrl'));
  await withClient(db.url, (c) =>
    c.query(`create table small (id int primary key, t text);
             insert into small select g, md5(g::text) from generate_series(1, 500) g;
             create table wide (id int, t text);
             insert into wide select g, repeat(md5(g::text), 40) from generate_series(1, 3000) g;
             create table empty (id int);
             select lo_from_bytea(0, convert_to(repeat('large object ', 5000), 'UTF8'));
             select lo_from_bytea(0, '\\x00ff'::bytea);`),
  );
  dir = await mkdtemp(join(tmpdir(), 'dbops-offsets-'));
  const pgDump = (await findPostgresTool('pg_dump')).path;
  const u = new URL(db.url);
  const env = {
    ...process.env,
    PGHOST: u.hostname,
    PGPORT: u.port,
    PGUSER: decodeURIComponent(u.username),
    PGPASSWORD: decodeURIComponent(u.password),
    PGDATABASE: db.name,
  };
  const file = join(dir, 'file.dump');
  execFileSync(pgDump, ['-Fc', '-Z0', '-f', file], { env });
  toFile = await readFile(file);
  toPipe = execFileSync(pgDump, ['-Fc', '-Z0'], { env, maxBuffer: 1 << 30 });
});

afterAll(async () => {
  await db?.drop();
  await rm(dir, { recursive: true, force: true });
});

describe('data offsets of a custom-format archive written to a pipe', () => {
  it('pg_dump set them for a file and not for a pipe (the premise)', () => {
    expect(offsets(toFile).every((o) => o.split(':')[1] === '2')).toBe(true);
    expect(offsets(toPipe).every((o) => o.split(':')[1] === '1')).toBe(true);
    expect(offsets(toFile).length).toBeGreaterThanOrEqual(4);
  });

  it('the scanner finds the same offsets, whatever the buffers it is fed', () => {
    // Sizes 1…9 bytes split headers across buffers; then 64 KiB and one piece.
    for (const sizes of [[1, 2, 3, 5, 7, 9], [65536], [toPipe.length]]) {
      const scanner = new DataOffsetScanner();
      let at = 0;
      for (let i = 0; at < toPipe.length; i++) {
        const n = sizes[i % sizes.length]!;
        scanner.push(toPipe.subarray(at, at + n));
        at += n;
      }
      const toc = scanner.finish(toPipe.length);
      expect(toc).toBeDefined();
      const fixed = Buffer.concat([toc!, toPipe.subarray(toc!.length)]);
      expect(offsets(fixed)).toEqual(offsets(toFile));
    }
  });

  it('the TOC is written over a spool file in place; a truncated archive gets none', async () => {
    const spool = join(dir, 'spool.dump');
    await writeFile(spool, toPipe);
    const scanner = new DataOffsetScanner();
    scanner.push(toPipe);
    await writeToc(spool, scanner.finish(toPipe.length)!);
    expect(scanner.entries).toBe(offsets(toFile).length);
    expect(offsets(await readFile(spool))).toEqual(offsets(toFile));

    const truncated = new DataOffsetScanner();
    truncated.push(toPipe.subarray(0, toPipe.length - 100));
    expect(truncated.finish(toPipe.length - 100)).toBeUndefined();
  });
});
