#!/usr/bin/env node
// `dbops analyze` on a large catalogue: 1,000 tables and 3,000 indexes (the whole check run),
// and a corpus of 200 queries through `analyze explain`. Targets on a 2-core machine: < 5 s and
// < 10 s. Prints the number of statements sent: every check is one catalogue query, so the count
// must not grow with the number of tables. Uses a throwaway sandbox cluster; run after
// `npm run build`. Set BENCH_PG_URL to use an existing server instead (a database is created).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withClient } from './lib.mjs';

const dist = new URL('../dist/src/', import.meta.url);
const { analyzeRun, explainRun } = await import(new URL('commands/analyze/index.js', dist).href);
const { withSandbox } = await import(new URL('sandbox/index.js', dist).href);

const TABLES = Number(process.env.TABLES ?? 1000);
const QUERIES = Number(process.env.QUERIES ?? 200);

async function withServer(fn) {
  if (process.env.BENCH_PG_URL) return fn(process.env.BENCH_PG_URL);
  const dir = await mkdtemp(join(tmpdir(), 'dbops-bench-analyze-'));
  try {
    return await withSandbox({ dir }, (s) => fn(s.url));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const sql = (url, text) => withClient(url, (c) => c.query(text));

await withServer(async (adminUrl) => {
  const db = `bench_analyze_${process.pid}`;
  await sql(adminUrl, `create database ${db}`);
  const u = new URL(adminUrl);
  u.pathname = `/${db}`;
  const url = u.toString();
  try {
    const t0 = Date.now();
    // Per table: primary key + (a) + (a, b) = 3 indexes, the single one prefix-redundant.
    await sql(
      url,
      `do $$ begin
         for i in 1..${TABLES} loop
           execute format('create table t%s (id serial primary key, a int, b int, c text)', i);
           execute format('create index t%s_a_idx on t%s (a)', i, i);
           execute format('create index t%s_ab_idx on t%s (a, b)', i, i);
           execute format('insert into t%s (a, b, c) select g, g %% 10, ''x'' from generate_series(1, 20) g', i);
         end loop;
       end $$`,
    );
    await sql(url, 'analyze');
    console.log(
      `catalogue: ${TABLES} tables, ${TABLES * 3} indexes (built in ${((Date.now() - t0) / 1000).toFixed(1)} s)`,
    );

    const target = {
      name: 'bench',
      engine: 'postgres',
      url,
      replicas: [],
      connectTimeout: 10,
      production: false,
      maxReplicaLag: 30,
    };
    const s1 = Date.now();
    const report = await analyzeRun({ target, minWindow: 0 });
    const analyzeSeconds = (Date.now() - s1) / 1000;
    const byCheck = {};
    for (const f of report.findings) byCheck[f.check] = (byCheck[f.check] ?? 0) + 1;
    console.log(
      `dbops analyze:         ${analyzeSeconds.toFixed(2)} s (target < 5 s, ratio ${(analyzeSeconds / 5).toFixed(2)}), ` +
        `${report.checks.length} checks, ${report.queriesSent} queries sent, findings ${JSON.stringify(byCheck)}`,
    );

    const dir = await mkdtemp(join(tmpdir(), 'dbops-bench-corpus-'));
    try {
      const lines = [];
      for (let q = 1; q <= QUERIES; q++) {
        const t = ((q * 7) % TABLES) + 1;
        lines.push(
          `-- name: q${q}\n-- params: [${q}]\nselect id, c from t${t} where ${q % 2 ? 'a' : 'b'} = $1 order by id limit 10;\n`,
        );
      }
      await writeFile(join(dir, 'corpus.sql'), lines.join('\n'));
      const s2 = Date.now();
      const ex = await explainRun({ target, files: [join(dir, 'corpus.sql')] });
      const explainSeconds = (Date.now() - s2) / 1000;
      console.log(
        `dbops analyze explain: ${explainSeconds.toFixed(2)} s (target < 10 s, ratio ${(explainSeconds / 10).toFixed(2)}), ` +
          `${ex.queries.length} queries, ${ex.queriesSent} statements sent (${QUERIES} EXPLAIN + 1 catalogue + session)`,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  } finally {
    await sql(adminUrl, `drop database ${db} with (force)`);
  }
});
