import { execa } from 'execa';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

import { DBOPS_BIN, json, runDbops } from '../support/cli.js';
import { createDatabase } from '../support/pg.js';
import { tempDir } from '../support/temp-dir.js';

/**
 * `dbops retention` against the shared PostgreSQL cluster, through the built CLI. The large test
 * uses 200k rows (1M is in bench/retention.mjs: on the 2-core CI machine 1M rows plus the
 * concurrent insert loop takes well over the per-file budget).
 */

let db: { name: string; url: string; drop(): Promise<void> };
let client: pg.Client;
let dir: string;

beforeAll(async () => {
  db = await createDatabase(inject('pgUrl'));
  client = new pg.Client({ connectionString: db.url });
  await client.connect();
  dir = await tempDir('dbops-retention-');
});

afterAll(async () => {
  await client?.end();
  await db?.drop();
});

async function config(name: string, policies: string, extra = ''): Promise<string> {
  const path = join(dir, `${name}.yaml`);
  await writeFile(
    path,
    `targets:\n  main: { engine: postgres, url: "${db.url}" }\nrepositories:\n  arch: { type: local, path: "${join(dir, `repo-${name}`)}" }\n${extra}retention:\n  policies:\n${policies}`,
  );
  return path;
}

const one = async <T = Record<string, unknown>>(sql: string, params: unknown[] = []) =>
  (await client.query(sql, params)).rows[0] as T;

async function makeEvents(table: string, rows: number, eligibleFraction: number): Promise<void> {
  await client.query(`drop table if exists ${table}; drop table if exists ${table}_archive`);
  await client.query(
    `create table ${table} (id bigserial primary key, created_at timestamptz not null, user_id int, payload text)`,
  );
  // Eligible rows are 3 years old; the rest 1 day old; interleaved ids (age not correlated with id).
  await client.query(
    `insert into ${table} (created_at, user_id, payload)
     select case when (g % 1000) < $2 then now() - interval '3 years' - g * interval '1 second'
                 else now() - interval '1 day' - g * interval '1 millisecond' end,
            g % 5000, md5(g::text)
       from generate_series(1, $1) g`,
    [rows, Math.round(eligibleFraction * 1000)],
  );
  await client.query(`create index on ${table} (created_at)`);
  await client.query(`analyze ${table}`);
}

const eligibleChecksum = (table: string) =>
  one<{ n: string; sum: string }>(
    `select count(*) as n, md5(coalesce(string_agg(id::text || ':' || payload, ',' order by id), '')) as sum
       from ${table} where created_at < now() - interval '2 years'`,
  );

describe('retention run (PostgreSQL)', () => {
  it('archives exactly the eligible rows of 200k while new rows are inserted concurrently', async () => {
    await makeEvents('events', 200_000, 0.5);
    const before = await eligibleChecksum('events');
    const maxId = Number((await one<{ m: string }>('select max(id) as m from events')).m);
    const path = await config(
      'big',
      `    events-archive:\n      table: events\n      ageColumn: created_at\n      olderThan: 2y\n      action: archive-table\n      archiveTable: events_archive\n      batchSize: 2000\n`,
    );
    const inserter = new pg.Client({ connectionString: db.url });
    await inserter.connect();
    let stop = false;
    let inserted = 0;
    const loop = (async () => {
      while (!stop) {
        await inserter.query(`insert into events (created_at, payload) values (now(), 'new')`);
        inserted++;
      }
    })();
    const r = await runDbops(['retention', 'run', '--config', path, '--yes', '--format', 'json']);
    stop = true;
    await loop;
    await inserter.end();
    expect(r.exitCode, r.stderr).toBe(0);
    const result = json<{ policies: { rows: number; outcome: string; maxBatchMs: number }[] }>(r);
    expect(result.policies[0]!.outcome).toBe('complete');
    expect(result.policies[0]!.rows).toBe(Number(before.n));
    expect(Number(before.n)).toBe(100_000);
    const archived = await one<{ n: string; sum: string }>(
      `select count(*) as n, md5(string_agg(id::text || ':' || payload, ',' order by id)) as sum from events_archive`,
    );
    expect(archived).toEqual(before);
    expect(Number((await eligibleChecksum('events')).n)).toBe(0);
    expect(inserted).toBeGreaterThan(0);
    const newRows = await one<{ n: string }>(`select count(*) as n from events where id > $1`, [maxId]);
    expect(Number(newRows.n)).toBe(inserted);
    expect(Number((await one<{ n: string }>('select count(*) as n from events')).n)).toBe(100_000 + inserted);
  });

  it('plan and --dry-run change nothing', async () => {
    await makeEvents('plan_events', 5000, 0.4);
    const before = await eligibleChecksum('plan_events');
    const path = await config(
      'plan',
      `    p:\n      table: plan_events\n      ageColumn: created_at\n      olderThan: 2y\n      action: archive-table\n      archiveTable: plan_events_archive\n`,
    );
    const plan = await runDbops(['retention', 'plan', '--config', path, '--format', 'json']);
    expect(plan.exitCode, plan.stderr).toBe(0);
    const p = json<{
      policies: { eligible: number; walkMode: string; walkReason: string; statements: string[] }[];
    }>(plan);
    expect(p.policies[0]!.eligible).toBe(2000);
    // 40 % of the rows go: cheaper to read every page than to walk the index.
    expect(p.policies[0]!.walkMode).toBe('pages');
    expect(p.policies[0]!.walkReason).toMatch(/about \d+ % of the rows go/);
    expect(p.policies[0]!.statements.join('\n')).toContain('x.ctid >= $2::tid and x.ctid < $3::tid');
    const dry = await runDbops(['retention', 'run', '--dry-run', '--config', path]);
    expect(dry.exitCode, dry.stderr).toBe(0);
    expect(dry.stdout).toContain('nothing was changed');
    expect(await eligibleChecksum('plan_events')).toEqual(before);
    expect(
      (await one<{ t: string | null }>(`select to_regclass('plan_events_archive')::text as t`)).t,
    ).toBeNull();
  });

  it('quotes identifiers from the config (a table and column with a quote and a space)', async () => {
    await client.query(
      `create table "we""ird tab" ("the id" int primary key, "created at" timestamptz not null)`,
    );
    await client.query(
      `insert into "we""ird tab" select g, case when g <= 30 then now() - interval '100 days' else now() end from generate_series(1, 50) g`,
    );
    const path = await config(
      'quoted',
      `    odd:\n      table: '"we""ird tab"'\n      ageColumn: created at\n      olderThan: 90d\n      where: '"the id" > 10'\n`,
    );
    const r = await runDbops(['retention', 'run', '--config', path, '--yes', '--format', 'json']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(json<{ rows: number }>(r).rows).toBe(20);
    expect(Number((await one<{ n: string }>(`select count(*) as n from "we""ird tab"`)).n)).toBe(30);
  });

  it('runs a policy with a where condition and no age column (expired sessions)', async () => {
    await client.query(`create table sessions (id bigint primary key, expires_at timestamptz not null)`);
    await client.query(
      `insert into sessions select g, now() + (case when g % 4 = 0 then -1 else 1 end) * interval '1 hour' from generate_series(1, 400) g`,
    );
    const path = await config(
      'where-only',
      `    expired:\n      table: sessions\n      where: "expires_at < now()"\n`,
    );
    const plan = await runDbops(['retention', 'plan', '--config', path, '--format', 'json']);
    expect(plan.exitCode, plan.stderr).toBe(0);
    expect(json<{ policies: { eligible: number }[] }>(plan).policies[0]!.eligible).toBe(100);
    const r = await runDbops(['retention', 'run', '--config', path, '--yes', '--format', 'json']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(json<{ rows: number }>(r).rows).toBe(100);
    expect(Number((await one<{ n: string }>(`select count(*) as n from sessions`)).n)).toBe(300);
  });

  it('walCompression applies to the batch session; a role that may not set it gets a warning, the run goes on', async () => {
    await makeEvents('z_events', 4000, 0.5);
    const policy = `    z:\n      table: z_events\n      ageColumn: created_at\n      olderThan: 2y\n      walCompression: lz4\n`;
    const r = await runDbops([
      'retention',
      'run',
      '--config',
      await config('walc', policy),
      '--yes',
      '--format',
      'json',
    ]);
    expect(r.exitCode, r.stderr).toBe(0);
    const [done] = json<{ policies: { rows: number; walCompression?: string }[] }>(r).policies;
    expect(done).toMatchObject({ rows: 2000, walCompression: 'lz4' });

    // An ordinary role (owner of nothing, rights on the table only) may not change wal_compression.
    await makeEvents('z_events', 4000, 0.5);
    const role = `ret_${Date.now()}`;
    await client.query(`create role ${role} login password 'pw'`);
    await client.query(`grant select, delete on z_events to ${role}`);
    const u = new URL(db.url);
    u.username = role;
    u.password = 'pw';
    const path = join(dir, 'walc-plain.yaml');
    await writeFile(
      path,
      `targets:\n  main: { engine: postgres, url: "${u.toString()}" }\nretention:\n  policies:\n${policy}`,
    );
    const plain = await runDbops(['retention', 'run', '--config', path, '--yes', '--format', 'json']);
    expect(plain.exitCode, plain.stderr).toBe(0);
    expect(plain.stderr).toMatch(/walCompression lz4 not applied.*GRANT SET ON PARAMETER wal_compression/);
    const [ran] = json<{ policies: { rows: number; walCompression?: string }[] }>(plain).policies;
    expect(ran!.rows).toBe(2000);
    expect(ran!.walCompression).toBeUndefined();
  });

  it('keeps each batch under maxBatchDuration where the initial batch size would take much longer', async () => {
    await client.query(`create table slow_rows (id int primary key, created_at timestamptz not null)`);
    await client.query(
      `insert into slow_rows select g, now() - interval '1 year' from generate_series(1, 3000) g`,
    );
    // ~1 ms per deleted row: the initial 2000-row batch would take ~2 s.
    await client.query(`create function slow_delete() returns trigger language plpgsql as
      $$ begin perform pg_sleep(0.001); return old; end $$`);
    await client.query(
      `create trigger slow before delete on slow_rows for each row execute function slow_delete()`,
    );
    const path = await config(
      'bound',
      `    slow:\n      table: slow_rows\n      ageColumn: created_at\n      olderThan: 30d\n      batchSize: 2000\n      maxBatchDuration: 300ms\n`,
    );
    const r = await runDbops([
      'retention',
      'run',
      '--config',
      path,
      '--yes',
      '--batches',
      '--format',
      'json',
    ]);
    expect(r.exitCode, r.stderr).toBe(0);
    const p = json<{
      policies: { rows: number; boundCancels: number; batchLog: { ms: number; size: number }[] }[];
    }>(r).policies[0]!;
    expect(p.rows).toBe(3000);
    expect(p.boundCancels).toBeGreaterThan(0);
    // Statement bounded at 300 ms; commit and round trips add a little.
    for (const b of p.batchLog) expect(b.ms).toBeLessThan(400);
    expect(Math.max(...p.batchLog.map((b) => b.size))).toBeLessThan(2000);
  });

  it('retries a batch that meets a held lock (lock_timeout) instead of waiting forever', async () => {
    await makeEvents('locked_events', 2000, 0.5);
    const path = await config(
      'lock',
      `    locked:\n      table: locked_events\n      ageColumn: created_at\n      olderThan: 2y\n      lockTimeout: 200ms\n      lockRetries: 6\n`,
    );
    const holder = new pg.Client({ connectionString: db.url });
    await holder.connect();
    await holder.query('begin');
    await holder.query('lock table locked_events in access exclusive mode');
    // CLI start-up takes up to ~1 s on a busy CI machine: hold the lock well beyond it.
    const release = setTimeout(() => void holder.query('commit'), 3500);
    const r = await runDbops(['retention', 'run', '--config', path, '--yes', '--format', 'json']);
    clearTimeout(release);
    await holder.end();
    expect(r.exitCode, r.stderr).toBe(0);
    const p = json<{ policies: { rows: number; lockRetries: number; outcome: string }[] }>(r).policies[0]!;
    expect(p.outcome).toBe('complete');
    expect(p.lockRetries).toBeGreaterThan(0);
    expect(p.rows).toBe(1000);

    // With no retries left the policy reports retry-later (exit 1) instead of hanging.
    await makeEvents('locked_events', 200, 0.5);
    const path2 = await config(
      'lock2',
      `    locked:\n      table: locked_events\n      ageColumn: created_at\n      olderThan: 2y\n      lockTimeout: 100ms\n      lockRetries: 0\n`,
    );
    const holder2 = new pg.Client({ connectionString: db.url });
    await holder2.connect();
    await holder2.query('begin');
    await holder2.query('lock table locked_events in access exclusive mode');
    const r2 = await runDbops(['retention', 'run', '--config', path2, '--yes', '--format', 'json']);
    await holder2.query('rollback');
    await holder2.end();
    expect(r2.exitCode).toBe(1);
    expect(json<{ policies: { outcome: string }[] }>(r2).policies[0]!.outcome).toBe('retry-later');
  });

  it('a page walk that meets a locked row skips it instead of waiting', async () => {
    await makeEvents('rowlock_events', 20_000, 0.5);
    const path = await config(
      'rowlock',
      `    rl:\n      table: rowlock_events\n      ageColumn: created_at\n      olderThan: 2y\n      walk: pages\n      lockTimeout: 5s\n`,
    );
    const victim = await one<{ id: string }>(
      `select id from rowlock_events where created_at < now() - interval '2 years' order by id limit 1 offset 5000`,
    );
    const holder = new pg.Client({ connectionString: db.url });
    await holder.connect();
    await holder.query('begin');
    await holder.query('select 1 from rowlock_events where id = $1 for update', [victim.id]);
    const t0 = Date.now();
    const r = await runDbops(['retention', 'run', '--config', path, '--yes', '--format', 'json']);
    const took = Date.now() - t0;
    await holder.query('rollback');
    await holder.end();
    expect(r.exitCode, r.stderr).toBe(0);
    const p = json<{ policies: { rows: number; lockRetries: number; walk: string; outcome: string }[] }>(r)
      .policies[0]!;
    expect(p.walk).toBe('pages');
    expect(p.outcome).toBe('complete');
    expect(p.rows).toBe(9999);
    expect(p.lockRetries).toBe(1);
    // The lock wait is capped by the batch bound (500 ms), not the 5 s lockTimeout.
    expect(took).toBeLessThan(5000);
    expect(
      Number(
        (await one<{ n: string }>(`select count(*) as n from rowlock_events where id = $1`, [victim.id])).n,
      ),
    ).toBe(1);
  });

  async function killMidRun(path: string, table: string, doneWhen: () => Promise<boolean>): Promise<void> {
    const child = execa(
      process.execPath,
      [DBOPS_BIN, 'retention', 'run', '--config', path, '--yes', '--format', 'json'],
      {
        reject: false,
        env: { NO_COLOR: '1' },
      },
    );
    const deadline = Date.now() + 30_000;
    while (!(await doneWhen())) {
      if (Date.now() > deadline) throw new Error(`no progress on ${table}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    child.kill('SIGKILL');
    await child;
  }

  it.each(['pages', 'key'])(
    'kill -9 during archive-table (walk: %s), then run again: totals exact',
    async (walk) => {
      await makeEvents('k_events', 30_000, 0.5);
      const before = await eligibleChecksum('k_events');
      const path = await config(
        `kill-table-${walk}`,
        `    k:\n      table: k_events\n      ageColumn: created_at\n      olderThan: 2y\n      walk: ${walk}\n      action: archive-table\n      archiveTable: k_events_archive\n      batchSize: 200\n      maxBatchSize: 200\n      pause: 5ms\n`,
      );
      await killMidRun(path, 'k_events', async () => {
        const t = await one<{ t: string | null }>(`select to_regclass('k_events_archive')::text as t`);
        return (
          t.t !== null &&
          Number((await one<{ n: string }>('select count(*) as n from k_events_archive')).n) > 1000
        );
      });
      const mid = Number((await one<{ n: string }>('select count(*) as n from k_events_archive')).n);
      expect(mid).toBeLessThan(15_000);
      const r = await runDbops(['retention', 'run', '--config', path, '--yes', '--format', 'json']);
      expect(r.exitCode, r.stderr).toBe(0);
      const archived = await one<{ n: string; sum: string }>(
        `select count(*) as n, md5(string_agg(id::text || ':' || payload, ',' order by id)) as sum from k_events_archive`,
      );
      expect(archived).toEqual(before);
      expect(Number((await eligibleChecksum('k_events')).n)).toBe(0);
    },
  );

  it('kill -9 during archive-storage, then run again: every row in exactly one file, none left', async () => {
    await makeEvents('s_events', 20_000, 0.5);
    const before = await client.query<{ id: string }>(
      `select id::text from s_events where created_at < now() - interval '2 years' order by id`,
    );
    const path = await config(
      'kill-storage',
      `    s:\n      table: s_events\n      ageColumn: created_at\n      olderThan: 2y\n      action: archive-storage\n      repository: arch\n      batchSize: 200\n      maxBatchSize: 200\n      pause: 5ms\n`,
    );
    const repoDir = join(dir, 'repo-kill-storage', 'main', 'archive', 's');
    await killMidRun(path, 's_events', async () => {
      const n = Number(
        (
          await one<{ n: string }>(
            `select count(*) as n from s_events where created_at < now() - interval '2 years'`,
          )
        ).n,
      );
      return n < 8000;
    });
    const r = await runDbops(['retention', 'run', '--config', path, '--yes', '--format', 'json']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(Number((await eligibleChecksum('s_events')).n)).toBe(0);
    const ids: string[] = [];
    let manifests = 0;
    for (const run of await readdir(repoDir)) {
      for (const f of await readdir(join(repoDir, run))) {
        if (f === 'manifest.json') manifests++;
        if (!f.endsWith('.ndjson.gz')) continue;
        const text = gunzipSync(await readFile(join(repoDir, run, f))).toString('utf8');
        for (const line of text.split('\n').filter(Boolean))
          ids.push(String((JSON.parse(line) as { id: number }).id));
      }
    }
    expect(manifests).toBe(2);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.sort()).toEqual(before.rows.map((r) => r.id).sort());
  });

  it('SIGTERM ends the run after the current batch (exit 130, counts consistent)', async () => {
    await makeEvents('t_events', 20_000, 0.5);
    const path = await config(
      'sigterm',
      `    t:\n      table: t_events\n      ageColumn: created_at\n      olderThan: 2y\n      walk: key\n      batchSize: 100\n      maxBatchSize: 100\n      pause: 100ms\n`,
    );
    const child = execa(
      process.execPath,
      [DBOPS_BIN, 'retention', 'run', '--config', path, '--yes', '--format', 'json'],
      {
        reject: false,
        env: { NO_COLOR: '1' },
      },
    );
    const eligible = async () =>
      Number(
        (
          await one<{ n: string }>(
            `select count(*) as n from t_events where created_at < now() - interval '2 years'`,
          )
        ).n,
      );
    while ((await eligible()) > 9700) await new Promise((r) => setTimeout(r, 20));
    const t0 = Date.now();
    child.kill('SIGTERM');
    const done = await child;
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(done.exitCode).toBe(130);
    const result = JSON.parse(String(done.stdout)) as {
      policies: { rows: number; stoppedBy: string; outcome: string }[];
    };
    expect(result.policies[0]!.stoppedBy).toBe('signal');
    expect(result.policies[0]!.outcome).toBe('partial');
    expect(result.policies[0]!.rows % 100).toBe(0);
    expect(10_000 - (await eligible())).toBe(result.policies[0]!.rows);
  });

  it('status reports violations (exit 1) until a run purges them (exit 0)', async () => {
    await makeEvents('st_events', 1000, 0.2);
    const path = await config(
      'status',
      `    st:\n      table: st_events\n      ageColumn: created_at\n      olderThan: 2y\n`,
    );
    const s1 = await runDbops(['retention', 'status', '--config', path, '--format', 'json']);
    expect(s1.exitCode, s1.stderr).toBe(1);
    const st = json<{ policies: { rowsPastPolicy: number; violated: boolean; oldestAgeSeconds: number }[] }>(
      s1,
    ).policies[0]!;
    expect(st.rowsPastPolicy).toBe(200);
    expect(st.violated).toBe(true);
    expect(st.oldestAgeSeconds).toBeGreaterThan(3 * 365 * 86400);
    expect((await runDbops(['retention', 'run', '--config', path, '--yes'])).exitCode).toBe(0);
    const s2 = await runDbops(['retention', 'status', '--config', path, '--format', 'json']);
    expect(s2.exitCode, s2.stderr).toBe(0);
    expect(json<{ policies: { rowsPastPolicy: number }[] }>(s2).policies[0]!.rowsPastPolicy).toBe(0);
  });

  it('skips a policy whose lock is held by another run', async () => {
    await makeEvents('l_events', 100, 0.5);
    const path = await config(
      'held',
      `    held:\n      table: l_events\n      ageColumn: created_at\n      olderThan: 2y\n`,
    );
    const holder = new pg.Client({ connectionString: db.url });
    await holder.connect();
    await holder.query('begin');
    await holder.query(`select pg_advisory_xact_lock(hashtextextended('dbops:retention:held', 0))`);
    const r = await runDbops(['retention', 'run', '--config', path, '--yes', '--format', 'json']);
    await holder.query('rollback');
    await holder.end();
    expect(r.exitCode, r.stderr).toBe(0);
    expect(json<{ policies: { outcome: string }[] }>(r).policies[0]!.outcome).toBe('skipped-running');
    expect(r.stderr).toContain('already running');
  });
});
