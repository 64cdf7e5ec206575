import { execa } from 'execa';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

import { withPostgres } from '../../src/connections/postgres/handle.js';
import { resolveTarget, type ResolvedPostgresTarget } from '../../src/connections/target.js';
import { parseConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/logger.js';
import { ClusterCoordinator } from '../../src/commands/schedule/cluster-lock.js';
import type { ScheduledJob } from '../../src/commands/schedule/jobs.js';
import { Scheduler, type RunLine } from '../../src/commands/schedule/scheduler.js';
import { MemoryStateStore } from '../../src/commands/schedule/state.js';
import { DBOPS_BIN, runDbops } from '../support/cli.js';
import { createDatabase } from '../support/pg.js';
import { tempDir } from '../support/temp-dir.js';

let db: { name: string; url: string; drop(): Promise<void> };
let client: pg.Client;
let dir: string;

beforeAll(async () => {
  db = await createDatabase(inject('pgUrl'));
  client = new pg.Client({ connectionString: db.url });
  await client.connect();
  dir = await tempDir('dbops-schedule-');
});

afterAll(async () => {
  await client?.end();
  await db?.drop();
});

const everySecond: ScheduledJob = {
  name: 'tick',
  cron: '* * * * * *',
  timezone: 'UTC',
  run: 'noop',
  argv: ['noop'],
  lock: 'cluster',
  catchUp: 'skip',
  timeoutMs: undefined,
};

describe('schedule run', () => {
  it('two schedulers with lock: cluster run each tick once', async () => {
    const target = resolveTarget(parseConfig({}, undefined), { url: db.url }) as ResolvedPostgresTarget;
    const runs: { slot: string; who: number }[] = [];
    const lines: RunLine[] = [];
    const instance = (who: number) =>
      withPostgres(target, async (handle) => {
        const scheduler = new Scheduler([everySecond], {
          runJob: async (_job, slot) => {
            runs.push({ slot: slot.toISOString(), who });
            await new Promise((r) => setTimeout(r, 300));
            return { exitCode: 0 };
          },
          state: new MemoryStateStore(),
          coordinator: new ClusterCoordinator(handle, { table: 'dbops_job_runs', keepMs: undefined }),
          emit: (l) => lines.push(l),
          logger: silentLogger,
        });
        await scheduler.start();
        await new Promise((r) => setTimeout(r, 4500));
        await scheduler.shutdown(1000);
      });
    await Promise.all([instance(1), instance(2)]);
    const slots = runs.map((r) => r.slot);
    expect(new Set(slots).size).toBe(slots.length);
    expect(slots.length).toBeGreaterThanOrEqual(3);
    expect(lines.filter((l) => l.outcome === 'skipped').length).toBeGreaterThan(0);
    const history = await client.query<{ n: string; d: string }>(
      `select count(*) as n, count(distinct slot) as d from dbops_job_runs where job = 'tick'`,
    );
    const failed = lines.filter((l) => l.outcome === 'failed');
    expect(failed, JSON.stringify(failed)).toEqual([]);
    expect(Number(history.rows[0]!.n)).toBe(slots.length);
    expect(Number(history.rows[0]!.d)).toBe(slots.length);
  });

  it('exits 2 naming the job on an invalid cron expression or time zone', async () => {
    const path = join(dir, 'bad.yaml');
    await writeFile(
      path,
      `schedule:\n  jobs:\n    - { name: purge-audit, cron: "0 25 * * *", run: "retention run audit" }\n`,
    );
    const r = await runDbops(['schedule', 'run', '--config', path]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('purge-audit');
    const path2 = join(dir, 'badtz.yaml');
    await writeFile(
      path2,
      `schedule:\n  jobs:\n    - { name: nightly, cron: "0 3 * * *", timezone: Mars/Olympus, run: "retention run audit" }\n`,
    );
    const r2 = await runDbops(['schedule', 'list', '--config', path2]);
    expect(r2.exitCode).toBe(2);
    expect(r2.stderr).toContain('nightly');
    expect(r2.stderr).toContain('Mars/Olympus');
  });

  it('SIGTERM during a scheduled retention run ends after the current batch, within the bound', async () => {
    await client.query(`create table ev (id bigserial primary key, created_at timestamptz not null)`);
    await client.query(
      `insert into ev (created_at) select now() - interval '3 years' from generate_series(1, 20000)`,
    );
    const path = join(dir, 'sched.yaml');
    await writeFile(
      path,
      `targets:\n  main: { engine: postgres, url: "${db.url}" }\n` +
        `retention:\n  policies:\n    ev:\n      table: ev\n      ageColumn: created_at\n      olderThan: 2y\n      walk: key\n      batchSize: 100\n      maxBatchSize: 100\n      pause: 150ms\n` +
        `schedule:\n  stateFile: ${join(dir, 'state.json')}\n  shutdownTimeout: 10s\n  history: { table: dbops_job_runs }\n  jobs:\n    - { name: purge-ev, cron: "* * * * * *", run: "retention run ev" }\n`,
    );
    const child = execa(process.execPath, [DBOPS_BIN, 'schedule', 'run', '--config', path], {
      reject: false,
      env: { NO_COLOR: '1' },
    });
    const count = async () =>
      Number((await client.query<{ n: string }>('select count(*) as n from ev')).rows[0]!.n);
    // Signalled once the run is well under way and a later tick has found it still running (on a
    // fast machine the first 500 rows go within the second of the first tick).
    let seen = '';
    child.stdout?.on('data', (d: Buffer) => (seen += d.toString()));
    const deadline = Date.now() + 20_000;
    while ((await count()) > 19_500 || !seen.includes('previous run still running')) {
      if (Date.now() > deadline)
        throw new Error('the scheduled retention never started, or never overlapped');
      await new Promise((r) => setTimeout(r, 50));
    }
    const t0 = Date.now();
    child.kill('SIGTERM');
    const done = await child;
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(done.exitCode, String(done.stderr)).toBe(0);
    const lines = String(done.stdout)
      .split('\n')
      .filter(Boolean)
      .map(
        (l) => JSON.parse(l) as RunLine & { summary: { policies: { rows: number; stoppedBy?: string }[] } },
      );
    const runs = lines.filter((l) => l.outcome !== 'skipped');
    expect(runs).toHaveLength(1);
    expect(runs[0]!.exitCode).toBe(130);
    expect(runs[0]!.summary.policies[0]!.stoppedBy).toBe('signal');
    const deleted = 20_000 - (await count());
    expect(runs[0]!.summary.policies[0]!.rows).toBe(deleted);
    expect(deleted % 100).toBe(0);
    expect(lines.some((l) => l.outcome === 'skipped' && l.reason === 'previous run still running')).toBe(
      true,
    );
    const hist = await client.query(`select outcome, exit_code from dbops_job_runs where job = 'purge-ev'`);
    expect(hist.rows).toEqual([{ outcome: 'failed', exit_code: 130 }]);
  });
});
