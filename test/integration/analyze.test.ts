import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';

import { json, runDbops } from '../support/cli.js';
import { createDatabase, withClient } from '../support/pg.js';

interface Finding {
  check: string;
  object: string;
  severity: string;
  value?: unknown;
  baseline?: string;
}
interface Report {
  findings: Finding[];
  checks: { check: string; status: string; note?: string }[];
  verdict: { failed: boolean; newFindings: number };
  chains?: { pid: number; blockedBy: { pid: number }[] }[];
  candidates?: {
    relation: string;
    columns: string[];
    status: string;
    proofs: { before: number; after: number }[];
  }[];
}

// Cluster-wide checks that other test files running in parallel can move.
const clusterWide = new Set(['connections.usage', 'config.risky-setting', 'txid.wraparound']);

let dir: string;
let planted: Awaited<ReturnType<typeof createDatabase>>;
let clean: Awaited<ReturnType<typeof createDatabase>>;

async function config(url: string, extra = ''): Promise<string> {
  const file = join(dir, `config-${Math.random().toString(36).slice(2)}.yaml`);
  await writeFile(file, `targets:\n  main: { engine: postgres, url: "${url}" }\n${extra}`);
  return file;
}

const objects = (r: Report, check: string) =>
  r.findings
    .filter((f) => f.check === check)
    .map((f) => f.object)
    .sort();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dbops-analyze-'));
  planted = await createDatabase(inject('pgUrl'));
  clean = await createDatabase(inject('pgUrl'));
  await withClient(planted.url, async (c) => {
    await c.query(`
      create extension pg_stat_statements;
      create table customers (id serial primary key, name text);
      create table orders (id serial primary key, customer_id int references customers(id), total numeric);
      create table dup_t (id int primary key, a int);
      create index dup_t_a_idx on dup_t (a);
      create index dup_t_a_copy_idx on dup_t (a);
      create table logs (msg text);
      create table counters (id serial primary key, v int);
      select setval('counters_id_seq', 2000000000);
      create table events (id bigserial primary key, customer_id int not null, kind text, payload text);
      insert into events (customer_id, kind, payload)
        select g % 5000, 'k' || (g % 7), 'payload ' || g from generate_series(1, 1000000) g;
      create index events_payload_idx on events (payload);
    `);
    await c.query('vacuum analyze');
    await c.query('select pg_stat_reset()');
  });
  // A fresh session whose statistics are flushed when it closes.
  await withClient(planted.url, async (c) => {
    await c.query('select count(*) from events where customer_id = 42');
    await c.query('select count(*) from events where customer_id = 43');
    await c.query('select * from dup_t where a = 1');
  });
  await withClient(clean.url, async (c) => {
    await c.query(`create table items (id int primary key, name text not null);
                   insert into items select g, 'n' || g from generate_series(1, 100) g;`);
    await c.query('vacuum analyze');
  });
}, 180_000);

afterAll(async () => {
  await planted?.drop();
  await clean?.drop();
  await rm(dir, { recursive: true, force: true });
});

describe('dbops analyze checks', () => {
  it('reports exactly the planted object of each check', async () => {
    const cfg = await config(planted.url);
    const r = await runDbops(['analyze', '--config', cfg, '--min-window', '0', '--format', 'json']);
    const report = json<Report>(r);
    expect(report.checks.filter((c) => c.status === 'error')).toEqual([]);
    expect(objects(report, 'index.redundant')).toEqual(['public.dup_t.dup_t_a_copy_idx']);
    expect(objects(report, 'index.unused')).toEqual(['public.events.events_payload_idx']);
    expect(objects(report, 'fk.missing-index')).toEqual(['public.orders.orders_customer_id_fkey']);
    expect(objects(report, 'table.no-primary-key')).toEqual(['public.logs']);
    expect(objects(report, 'table.seq-scan')).toEqual(['public.events']);
    expect(objects(report, 'seq.overflow')).toEqual(['public.counters_id_seq']);
    expect(objects(report, 'index.invalid')).toEqual([]);
    expect(report.findings.find((f) => f.check === 'seq.overflow')?.severity).toBe('error');
    expect(r.exitCode).toBe(1); // seq.overflow is an error
  });

  it('refuses an "unused" verdict below --min-window', async () => {
    const cfg = await config(planted.url);
    const report = json<Report>(await runDbops(['analyze', 'indexes', '--config', cfg, '--format', 'json']));
    const unused = report.checks.find((c) => c.check === 'index.unused');
    expect(unused?.status).toBe('skipped');
    expect(unused?.note).toMatch(/min-window/);
    expect(objects(report, 'index.unused')).toEqual([]);
  });

  it('finds nothing on a clean schema and exits 0', async () => {
    const cfg = await config(clean.url);
    const r = await runDbops([
      'analyze',
      '--config',
      cfg,
      '--min-window',
      '0',
      '--fail-on',
      'warning',
      '--format',
      'json',
    ]);
    const report = json<Report>(r);
    expect(report.findings.filter((f) => !clusterWide.has(f.check))).toEqual([]);
    expect(r.exitCode).toBe(0);
  });

  it('silences allow-listed objects with their reason', async () => {
    const cfg = await config(
      planted.url,
      'analyze:\n  allow:\n    - { check: tables, object: public.logs, reason: "append-only audit table" }\n',
    );
    const report = json<Report & { suppressed: (Finding & { reason: string })[] }>(
      await runDbops(['analyze', 'tables', '--config', cfg, '--min-window', '0', '--format', 'json']),
    );
    expect(objects(report, 'table.no-primary-key')).toEqual([]);
    expect(report.suppressed.map((s) => [s.object, s.reason])).toContainEqual([
      'public.logs',
      'append-only audit table',
    ]);
  });

  it('writes SARIF 2.1.0 and JUnit that CI tools read', async () => {
    const cfg = await config(planted.url);
    const sarif = JSON.parse(
      (await runDbops(['analyze', 'indexes', '--config', cfg, '--min-window', '0', '--format', 'sarif']))
        .stdout,
    );
    expect(sarif.version).toBe('2.1.0');
    expect(sarif.$schema).toMatch(/sarif-2\.1\.0/);
    const run = sarif.runs[0];
    expect(run.tool.driver.name).toBe('dbops');
    const rule = run.tool.driver.rules.find((x: { id: string }) => x.id === 'index.unused');
    expect(rule).toMatchObject({
      shortDescription: { text: expect.any(String) },
      helpUri: expect.any(String),
    });
    expect(rule.help.text).toBeTruthy();
    const result = run.results.find((x: { ruleId: string }) => x.ruleId === 'index.unused');
    expect(result).toMatchObject({
      level: 'warning',
      message: { text: expect.stringContaining('events_payload_idx') },
      partialFingerprints: { 'dbopsFinding/v1': expect.stringMatching(/^[0-9a-f]{64}$/) },
    });
    expect(result.locations[0].physicalLocation.artifactLocation.uri).toBeTruthy();
    expect(run.tool.driver.rules[result.ruleIndex].id).toBe('index.unused');

    const junit = (
      await runDbops([
        'analyze',
        'indexes',
        '--config',
        cfg,
        '--min-window',
        '0',
        '--format',
        'junit',
        '--fail-on',
        'warning',
      ])
    ).stdout;
    expect(junit).toMatch(/^<\?xml version="1.0" encoding="UTF-8"\?>\n<testsuites /);
    expect(junit).toMatch(/<testsuite name="[^"]+" tests="\d+" failures="[1-9]\d*" errors="0" skipped="\d+"/);
    expect(junit).toContain(
      '<testcase classname="dbops.analyze.indexes" name="index.unused:public.events.events_payload_idx" time="0"><failure',
    );
    expect(junit).toContain('name="index.invalid" time="0"/>');
  });

  it('passes against its own baseline and fails on a new problem', async () => {
    const cfg = await config(planted.url);
    const baseline = join(dir, 'baseline.json');
    const first = await runDbops([
      'analyze',
      'tables',
      'indexes',
      '--config',
      cfg,
      '--min-window',
      '0',
      '--fail-on',
      'warning',
      '--write-baseline',
      baseline,
      '--format',
      'json',
    ]);
    expect(first.exitCode).toBe(1);
    const file = JSON.parse(await readFile(baseline, 'utf8'));
    expect(file.format).toBe('dbops-analyze-baseline');
    expect(file.entries.map((e: Finding) => e.check)).toContain('seq.overflow');

    const second = await runDbops([
      'analyze',
      'tables',
      'indexes',
      '--config',
      cfg,
      '--min-window',
      '0',
      '--fail-on',
      'warning',
      '--baseline',
      baseline,
      '--format',
      'json',
    ]);
    expect(second.exitCode).toBe(0);
    expect(json<Report>(second).verdict.newFindings).toBe(0);

    await withClient(planted.url, (c) => c.query('create table logs2 (msg text)'));
    try {
      const third = await runDbops([
        'analyze',
        'tables',
        'indexes',
        '--config',
        cfg,
        '--min-window',
        '0',
        '--fail-on',
        'warning',
        '--baseline',
        baseline,
        '--format',
        'json',
      ]);
      expect(third.exitCode).toBe(1);
      const news = json<Report>(third).findings.filter((f) => f.baseline === 'new');
      expect(news.map((f) => `${f.check} ${f.object}`)).toEqual(['table.no-primary-key public.logs2']);
    } finally {
      await withClient(planted.url, (c) => c.query('drop table logs2'));
    }
  });

  it('shows a blocking chain: a lock held by one session blocking another', async () => {
    const cfg = await config(planted.url, 'analyze:\n  checks:\n    locks.blocked: { seconds: 0 }\n');
    const holder = new pg.Client({ connectionString: planted.url });
    const waiter = new pg.Client({ connectionString: planted.url });
    await holder.connect();
    await waiter.connect();
    try {
      const holderPid = (await holder.query('select pg_backend_pid() as pid')).rows[0].pid as number;
      const waiterPid = (await waiter.query('select pg_backend_pid() as pid')).rows[0].pid as number;
      await holder.query('begin; lock table counters in access exclusive mode');
      const blocked = waiter.query('select count(*) from counters').catch(() => undefined);
      for (let i = 0; i < 50; i++) {
        const { rows } = await holder.query('select wait_event_type from pg_stat_activity where pid = $1', [
          waiterPid,
        ]);
        if (rows[0]?.wait_event_type === 'Lock') break;
        await new Promise((res) => setTimeout(res, 100));
      }
      const r = await runDbops([
        'analyze',
        'locks',
        '--config',
        cfg,
        '--format',
        'json',
        '--fail-on',
        'warning',
      ]);
      const report = json<Report>(r);
      expect(objects(report, 'locks.blocked')).toEqual([`pid:${waiterPid}`]);
      expect(report.chains?.[0]).toMatchObject({ pid: waiterPid, blockedBy: [{ pid: holderPid }] });
      expect(r.exitCode).toBe(1);
      await holder.query('rollback');
      await blocked;
    } finally {
      await holder.end();
      await waiter.end();
    }
  });
});

describe('dbops analyze advise and explain', () => {
  let corpus: string;
  beforeAll(async () => {
    corpus = join(dir, 'corpus.sql');
    await writeFile(
      corpus,
      `-- name: events_by_customer\n-- params: [42]\nselect id, kind from events where customer_id = $1;\n\n-- name: recent_orders\nselect id from orders where total > 10 order by id limit 10;\n`,
    );
  });

  it('proposes the missing index with a HypoPG cost drop', async () => {
    await withClient(planted.url, (c) => c.query('create extension if not exists hypopg'));
    const cfg = await config(planted.url);
    const r = await runDbops([
      'analyze',
      'advise',
      corpus,
      '--no-slow-queries',
      '--config',
      cfg,
      '--format',
      'json',
    ]);
    const report = json<Report>(r);
    const proven = report.candidates?.filter((c) => c.status === 'proven') ?? [];
    expect(proven.map((c) => `${c.relation}(${c.columns.join(',')})`)).toEqual([
      'public.events(customer_id)',
    ]);
    expect(proven[0]!.proofs[0]!.after).toBeLessThan(proven[0]!.proofs[0]!.before / 2);
    expect(objects(report, 'index.missing')).toEqual(['public.events(customer_id)']);
  });

  it('fails the corpus gate on a seq scan, passes with the index, and catches the regression when it is dropped', async () => {
    const cfg = await config(planted.url);
    const plans = join(dir, 'plans.json');
    const before = await runDbops(['analyze', 'explain', corpus, '--config', cfg, '--format', 'json']);
    expect(before.exitCode).toBe(1);
    expect(objects(json<Report>(before), 'plan.seq-scan')).toEqual(['events_by_customer:public.events']);

    await withClient(planted.url, (c) => c.query('create index events_customer_idx on events (customer_id)'));
    const withIndex = await runDbops([
      'analyze',
      'explain',
      corpus,
      '--config',
      cfg,
      '--analyze',
      '--write-baseline',
      plans,
      '--format',
      'json',
    ]);
    expect(json<Report>(withIndex).findings.filter((f) => f.check === 'plan.seq-scan')).toEqual([]);
    expect(withIndex.exitCode).toBe(0);

    await withClient(planted.url, (c) => c.query('drop index events_customer_idx'));
    const regressed = await runDbops([
      'analyze',
      'explain',
      corpus,
      '--config',
      cfg,
      '--baseline',
      plans,
      '--format',
      'json',
    ]);
    expect(regressed.exitCode).toBe(1);
    const report = json<Report>(regressed);
    expect(objects(report, 'plan.shape-change')).toContain('events_by_customer:public.events');
    expect(objects(report, 'plan.cost-regression')).toEqual(['query:events_by_customer']);
  });

  it('rejects a corpus entry with several statements (exit 2)', async () => {
    const bad = join(dir, 'bad.sql');
    await writeFile(bad, '-- name: two\nselect 1; delete from events;\n');
    const r = await runDbops(['analyze', 'explain', bad, '--config', await config(planted.url)]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/2 statements/);
  });
});
