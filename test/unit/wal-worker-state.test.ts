import { mkdir, mkdtemp, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { invocationOf, invocationStamp, quickPickedUp } from '../../src/commands/wal/quick-ok.js';
import { recordPushed } from '../../src/commands/wal/spool.js';
import { awaitWorker, claim, lockWorker, workerRunning } from '../../src/commands/wal/worker-state.js';

const NAME = '000000010000000000000007';
let dir: string;
let walDir: string;
let spool: string;
let config: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dbops-walstate-'));
  walDir = join(dir, 'pg_wal');
  spool = join(walDir, '.dbops');
  await mkdir(walDir, { recursive: true });
  await writeFile(join(walDir, NAME), 'segment bytes');
  config = join(dir, 'dbops.config.yaml');
  await writeFile(config, 'repositories: {}\n');
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('the quick answer for a segment the worker archived', () => {
  const record = (stamp: string) =>
    recordPushed(spool, NAME, join(walDir, NAME), `t/wal/00000001/${NAME}`, 'repo:t', 'abc', stamp);

  it('answers once, for the same invocation and the very same file', async () => {
    const inv = invocationOf(config, undefined, undefined);
    await record(invocationStamp(inv));
    expect(quickPickedUp(join(walDir, NAME), inv)).toEqual({ key: `t/wal/00000001/${NAME}`, size: 13 });
    // The record is consumed: PostgreSQL's retry of the same name goes the normal way.
    expect(quickPickedUp(join(walDir, NAME), inv)).toBeUndefined();
  });

  it('falls through for another --target, an edited config, or a rewritten file', async () => {
    const inv = invocationOf(config, undefined, undefined);
    await record(invocationStamp(inv));
    expect(quickPickedUp(join(walDir, NAME), invocationOf(config, undefined, 'other'))).toBeUndefined();
    await utimes(config, new Date(), new Date(Date.now() + 5000));
    expect(quickPickedUp(join(walDir, NAME), inv)).toBeUndefined();
    await record(invocationStamp(inv));
    await writeFile(join(walDir, NAME), 'other bytes!!');
    expect(quickPickedUp(join(walDir, NAME), inv)).toBeUndefined();
    // Nothing was consumed by the refusals.
    expect(await readdir(join(spool, 'ok'))).toEqual([NAME]);
  });
});

describe('the worker lock and claims', () => {
  it('lets one worker in, and takes over a lock whose process is gone', async () => {
    const release = await lockWorker(spool);
    expect(release).toBeDefined();
    expect(await workerRunning(spool)).toBe(true);
    expect(await lockWorker(spool)).toBeUndefined();
    await release!();
    expect(await workerRunning(spool)).toBe(false);
    // A lock left by a dead process (pid 2^22 + 1 does not exist).
    await writeFile(join(spool, 'worker.pid'), String(4_194_305));
    expect(await workerRunning(spool)).toBe(false);
    const again = await lockWorker(spool);
    expect(again).toBeDefined();
    await again!();
  });

  it('a call waits for a claimed segment and takes the record the worker writes', async () => {
    const release = await lockWorker(spool);
    await claim(spool, NAME);
    const waiting = awaitWorker(spool, join(walDir, NAME), NAME, 'repo:t', 5000);
    setTimeout(() => {
      void recordPushed(spool, NAME, join(walDir, NAME), `t/wal/00000001/${NAME}`, 'repo:t', 'abc').then(() =>
        rm(join(spool, 'inflight', NAME)),
      );
    }, 50);
    expect((await waiting)?.key).toBe(`t/wal/00000001/${NAME}`);
    await release!();
    // Not claimed and no record: the call archives the segment itself.
    expect(await awaitWorker(spool, join(walDir, NAME), NAME, 'repo:t', 100)).toBeUndefined();
    expect(await stat(join(spool, 'ok', NAME)).catch(() => undefined)).toBeUndefined();
  });
});
