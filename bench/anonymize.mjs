#!/usr/bin/env node
// Masked copy throughput against two references measured in the same run, plus subject erasure.
//   pass-through: COPY TO → COPY FROM of the same tables, no masking (the ceiling of any copy)
//   in-place:     UPDATE of the same columns with server-side expressions (what static masking does)
// Targets (issue 6): masked ≥ 0.6× pass-through, masked faster than in-place UPDATE, and erasure of
// a subject with 10,000 messages < 1 s. Run after `npm run build`:
//   node bench/anonymize.mjs                     # 1M users, 5M messages (needs several GB and minutes)
//   BENCH_USERS=100000 BENCH_MESSAGES=500000 node bench/anonymize.mjs
// Uses DBOPS_BENCH_URL (a superuser URL) when set, else starts a throwaway sandbox cluster.
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import pgCopyStreams from 'pg-copy-streams';

import { anonymizeCopy, anonymizeSubject, parseConfig } from '../dist/src/index.js';
import { sandboxDown, sandboxUp } from '../dist/src/sandbox/cluster.js';
import { withClient } from './lib.mjs';

const USERS = Number(process.env.BENCH_USERS ?? 1_000_000);
const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 5_000_000);
const SUBJECT_MESSAGES = 10_000;
const DBOPS = fileURLToPath(new URL('../bin/dbops.cjs', import.meta.url));

function dbUrl(admin, name) {
  const u = new URL(admin);
  u.pathname = `/${name}`;
  return u.toString();
}

const SCHEMA = `
create table users (id bigint primary key, email text not null unique, name text not null, phone text, address text,
                    created_at timestamptz not null);
create table messages (id bigint primary key, user_id bigint not null references users(id), body text not null,
                       created_at timestamptz not null);
create index messages_user_id_idx on messages (user_id);`;

const CONFIG = {
  anonymize: {
    secretEnv: 'BENCH_SECRET',
    subjects: {
      users: { root: { table: 'users', key: 'id' }, related: [{ table: 'messages', key: 'user_id' }] },
    },
    tables: {
      users: {
        columns: {
          id: 'keep',
          email: 'fake.email',
          name: 'fake.name',
          phone: 'fake.phone',
          address: 'fake.address',
          created_at: 'keep',
        },
      },
      messages: {
        columns: {
          id: 'keep',
          user_id: 'keep',
          body: { rule: 'redact', text: '[deleted]' },
          created_at: 'keep',
        },
      },
    },
  },
};

async function seed(url) {
  await withClient(url, async (c) => {
    await c.query(SCHEMA);
    await c.query(`set synchronous_commit = off`);
    await c.query(
      `insert into users select i, 'user' || i || '.' || md5(i::text) || '@example.org', 'Name ' || md5(i::text),
              '+49 ' || (100000000 + i), i || ' Main Street, ' || (i % 1000) || ' Town', now() - i * interval '1 minute'
         from generate_series(1, $1::int) i`,
      [USERS],
    );
    // Users 1 and 2 get 10,000 messages each (erased by the core function, then by the CLI); the
    // rest are spread over everyone.
    await c.query(
      `insert into messages select i, case when i <= $2 then 1 when i <= 2 * $2 then 2 else 1 + (i::bigint * 7919) % $1 end,
              'message body number ' || i || ' ' || md5(i::text), now() - i * interval '1 second'
         from generate_series(1, $3::int) i`,
      [USERS, SUBJECT_MESSAGES, MESSAGES],
    );
    await c.query('vacuum analyze');
  });
}

async function passThrough(srcUrl, dstUrl) {
  await withClient(dstUrl, (c) =>
    c.query(
      SCHEMA.replace(/create index[^;]*;/, '')
        .replace(/ unique/, '')
        .replace(/references users\(id\)/, ''),
    ),
  );
  const t = Date.now();
  await Promise.all(
    ['users', 'messages'].map(async (table) => {
      const src = new pg.Client({ connectionString: srcUrl });
      const dst = new pg.Client({ connectionString: dstUrl });
      await Promise.all([src.connect(), dst.connect()]);
      try {
        await pipeline(
          src.query(pgCopyStreams.to(`copy (select * from only ${table}) to stdout`)),
          dst.query(pgCopyStreams.from(`copy ${table} from stdin`)),
        );
      } finally {
        await Promise.all([src.end(), dst.end()]);
      }
    }),
  );
  return Date.now() - t;
}

async function inPlaceUpdate(url) {
  return withClient(url, async (c) => {
    const t = Date.now();
    await c.query(`update users set email = encode(sha256(('k' || email)::bytea), 'hex') || '@example.org',
                                     name = encode(sha256(('k' || name)::bytea), 'hex'),
                                     phone = encode(sha256(('k' || phone)::bytea), 'hex'),
                                     address = encode(sha256(('k' || address)::bytea), 'hex')`);
    await c.query(`update messages set body = '[deleted]'`);
    return Date.now() - t;
  });
}

async function main() {
  let admin = process.env.DBOPS_BENCH_URL;
  let dir;
  if (!admin) {
    dir = await mkdtemp(join(tmpdir(), 'dbops-bench-anon-'));
    admin = (await sandboxUp({ dir })).url;
  }
  const names = ['bench_anon_src', 'bench_anon_pass', 'bench_anon_masked'];
  try {
    await withClient(admin, async (c) => {
      for (const n of names) {
        await c.query(`drop database if exists ${n} with (force)`);
        await c.query(`create database ${n}`);
      }
    });
    const [src, pass, masked] = names.map((n) => dbUrl(admin, n));
    console.log(`seeding ${USERS} users, ${MESSAGES} messages …`);
    await seed(src);
    const rows = USERS + MESSAGES;

    const passMs = await passThrough(src, pass);
    const config = parseConfig(
      {
        targets: { src: { engine: 'postgres', url: src }, masked: { engine: 'postgres', url: masked } },
        ...CONFIG,
      },
      'bench',
    );
    const env = { ...process.env, BENCH_SECRET: 'bench-secret' };
    const copy = await anonymizeCopy({
      from: { ...config.targets.src, name: 'src' },
      to: { ...config.targets.masked, name: 'masked' },
      config: config.anonymize,
      jobs: 2,
      env,
    });
    const maskedDataMs = Math.max(...copy.tables.map((t) => t.durationMs));
    const updateMs = await inPlaceUpdate(pass);

    const t = Date.now();
    const receipt = await anonymizeSubject({
      target: { ...config.targets.src, name: 'src' },
      config: config.anonymize,
      subjectId: '1',
      env,
    });
    const eraseMs = Date.now() - t;
    // The same through the command line, as an operator runs it: Node start, config, connect included.
    const cfgDir = await mkdtemp(join(tmpdir(), 'dbops-bench-anon-cfg-'));
    const cfgFile = join(cfgDir, 'dbops.config.yaml');
    await writeFile(
      cfgFile,
      JSON.stringify({ targets: { src: { engine: 'postgres', url: src } }, defaultTarget: 'src', ...CONFIG }),
      { mode: 0o600 },
    );
    const tc = Date.now();
    const cli = spawnSync(
      process.execPath,
      [
        DBOPS,
        '--config',
        cfgFile,
        '--format',
        'json',
        'anonymize',
        'subject',
        '2',
        '--yes',
        '--reason',
        'bench',
      ],
      { env, encoding: 'utf8' },
    );
    const cliMs = Date.now() - tc;
    await rm(cfgDir, { recursive: true, force: true });
    const cliRows = cli.status === 0 ? JSON.parse(cli.stdout).totals.changed : `failed: ${cli.stderr.trim()}`;

    const rps = (ms) => Math.round(rows / (ms / 1000));
    console.log(`rows                    ${rows}`);
    console.log(`pass-through COPY       ${passMs} ms  ${rps(passMs)} rows/s`);
    console.log(
      `masked copy (data)      ${maskedDataMs} ms  ${rps(maskedDataMs)} rows/s   ratio ${(passMs / maskedDataMs).toFixed(2)}× of pass-through (target ≥ 0.60)`,
    );
    console.log(
      `masked copy (total)     ${copy.durationMs} ms  incl. schema, index/constraint build, ANALYZE`,
    );
    console.log(
      `in-place UPDATE         ${updateMs} ms  ${rps(updateMs)} rows/s   masked data phase is ${(updateMs / maskedDataMs).toFixed(2)}× faster (target > 1)`,
    );
    console.log(
      `subject erasure         ${eraseMs} ms for ${receipt.totals.changed} rows (core function; target < 1000 ms)`,
    );
    console.log(
      `subject erasure (CLI)   ${cliMs} ms for ${cliRows} rows (dbops anonymize subject, whole process)`,
    );
    for (const tb of copy.tables)
      console.log(`  ${tb.table.padEnd(18)} ${tb.rows} rows ${tb.durationMs} ms (${tb.mode})`);
  } finally {
    await withClient(admin, async (c) => {
      for (const n of names) await c.query(`drop database if exists ${n} with (force)`);
    }).catch(() => {});
    if (dir) {
      await sandboxDown(dir, { remove: true }).catch(() => {});
      await rm(dir, { recursive: true, force: true });
    }
  }
}

await main();
