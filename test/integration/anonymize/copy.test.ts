import { randomBytes } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';

import { seedDemo } from '../../../src/sandbox/seed-demo.js';
import { json, runDbops } from '../../support/cli.js';
import { createDatabase } from '../../support/pg.js';
import { CHAT_ANONYMIZE_YAML, writeConfig } from './fixtures.js';

/**
 * Masked copy: every original PII value of the source is absent from the copy — from its rows,
 * and from the destination's heap, index and WAL files.
 */
const EXTRA_YAML = `
    contacts:
      columns: { id: keep, user_id: keep, email: permute, note: { rule: json, keys: { phone: fake.phone } } }
    '"We""ird Table"':
      columns: { id: keep, 'e mail': fake.email }
`;

type Db = Awaited<ReturnType<typeof createDatabase>>;
let src: Db;
const dests: Db[] = [];
let client: pg.Client;
let cfg: { dir: string; path: string };
const originals = new Set<string>();
const tag = randomBytes(4).toString('hex');

async function run(args: string[], secret = 'copy-secret-A', env: Record<string, string> = {}) {
  return runDbops(['--config', cfg.path, '--format', 'json', ...args], {
    env: { TEST_ANON_SECRET: secret, ...env },
  });
}

async function newDest(): Promise<Db> {
  const d = await createDatabase(inject('pgUrl'));
  dests.push(d);
  return d;
}

async function writeTargets(destUrls: Record<string, string>) {
  const targets = Object.entries(destUrls)
    .map(([n, u]) => `  ${n}: { engine: postgres, url: "${u}" }`)
    .join('\n');
  await writeFile(
    cfg.path,
    `targets:\n  src: { engine: postgres, url: "${src.url}" }\n  prod: { engine: postgres, url: "${src.url}", production: true }\n${targets}\n${CHAT_ANONYMIZE_YAML}${EXTRA_YAML}`,
  );
}

async function query<T extends pg.QueryResultRow>(
  url: string,
  sql: string,
  params: unknown[] = [],
): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<T>(sql, params)).rows;
  } finally {
    await c.end();
  }
}

beforeAll(async () => {
  src = await createDatabase(inject('pgUrl'));
  await seedDemo(src.url, { messages: 2000, users: 150 });
  client = new pg.Client({ connectionString: src.url });
  await client.connect();
  // Unique random originals (cannot collide with another test's data anywhere in the cluster).
  await client.query(
    `update users set email = 'em' || id || 'x' || $1 || '@orig-mail.test', display_name = 'Dn' || id || 'Q' || $1,
            username = 'un' || id || 'z' || $1`,
    [tag],
  );
  await client.query(`update messages set body = 'secret-body-' || id || '-' || $1 where id % 7 = 0`, [tag]);
  await client.query(
    `create table contacts (id serial primary key, user_id bigint references users(id), email text, note jsonb)`,
  );
  await client.query(
    `insert into contacts (user_id, email, note)
       select id, email, jsonb_build_object('phone', '+49' || id || $1::text, 'kind', 'home') from users where id % 3 = 0`,
    [tag],
  );
  await client.query(`create table "We""ird Table" (id int primary key, "e mail" text)`);
  await client.query(
    `insert into "We""ird Table" select id, 'weird' || id || $1::text || '@orig-mail.test' from users where id < 20`,
    [tag],
  );
  for (const r of (
    await client.query<{ v: string }>(`select email as v from users union all select display_name from users
      union all select username from users union all select body from messages where body like 'secret-body-%'
      union all select "e mail" from "We""ird Table" union all select note->>'phone' from contacts`)
  ).rows) {
    originals.add(r.v);
  }
  // Settle the source's pages (hint bits, visibility) and start a fresh WAL segment, so the WAL
  // written from now on can only contain what the copy writes.
  // Autovacuum's ANALYZE of the source would write sampled originals into pg_statistic — WAL of
  // the shared cluster that the leak search below must not mistake for the copy's.
  for (const t of [
    'users',
    'rooms',
    'room_members',
    'messages',
    'user_relationships',
    'user_sessions',
    'audit_log',
    'contacts',
    '"We""ird Table"',
  ]) {
    await client.query(`alter table ${t} set (autovacuum_enabled = off)`);
  }
  await client.query('vacuum (freeze, analyze)');
  // pg_statistic now holds sampled originals; settle its pages too, or a later catalog vacuum
  // writes full-page images of them into the WAL searched below.
  await client.query('vacuum (freeze) pg_catalog.pg_statistic');
  await client.query('checkpoint');
  await client.query('select pg_switch_wal()');
  cfg = await writeConfig('');
});

afterAll(async () => {
  await client?.end();
  for (const d of dests) await d.drop().catch(() => {});
  await src?.drop();
});

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await filesUnder(p)));
    else out.push(p);
  }
  return out;
}

async function hits(files: string[], needles: string[]): Promise<string[]> {
  const found: string[] = [];
  for (const f of files) {
    const buf = await readFile(f).catch(() => Buffer.alloc(0));
    for (const n of needles) if (buf.includes(n)) found.push(`${f}: ${n}`);
  }
  return found;
}

describe('anonymize copy', () => {
  let dest: Db;
  let walStart: string;

  it('refuses a production destination and the source itself', async () => {
    const d = await newDest();
    await writeTargets({ dst: d.url, same: src.url });
    const prod = await run(['anonymize', 'copy', '--from', 'src', '--to', 'prod']);
    expect(prod.exitCode).toBe(2);
    expect(prod.stderr).toMatch(/production/);
    const same = await run(['anonymize', 'copy', '--from', 'src', '--to', 'same']);
    expect(same.exitCode).toBe(2);
    expect(same.stderr).toMatch(/onto itself/);
  });

  it('copies schema, masked rows, constraints; no original value in the copy', async () => {
    dest = dests[0]!;
    walStart = (await client.query<{ w: string }>('select pg_walfile_name(pg_current_wal_lsn()) as w'))
      .rows[0]!.w;
    const r = await run(['anonymize', 'copy', '--from', 'src', '--to', 'dst', '--jobs', '2']);
    expect(r.exitCode, r.stderr).toBe(0);
    const result = json<{ tables: { table: string; rows: number; mode: string }[]; snapshot: string }>(r);
    expect(result.snapshot).toBe('shared');

    for (const t of [
      'users',
      'messages',
      'rooms',
      'room_members',
      'user_relationships',
      'user_sessions',
      'audit_log',
      'contacts',
      '"We""ird Table"',
    ]) {
      const [a] = await query<{ n: string }>(src.url, `select count(*) as n from ${t}`);
      const [b] = await query<{ n: string }>(dest.url, `select count(*) as n from ${t}`);
      expect(b!.n, t).toBe(a!.n);
    }
    // Every foreign key exists on the copy and is validated.
    const fkSrc = await query<{ n: string }>(
      src.url,
      `select count(*) as n from pg_constraint where contype = 'f'`,
    );
    const fkDst = await query<{ n: string }>(
      dest.url,
      `select count(*) as n from pg_constraint where contype = 'f' and convalidated`,
    );
    expect(fkDst[0]!.n).toBe(fkSrc[0]!.n);

    // Every text / jsonb column of the copy, searched for every original value.
    const cols = await query<{ t: string; c: string }>(
      dest.url,
      `select format('%I.%I', table_schema, table_name) as t, format('%I', column_name) as c from information_schema.columns
        where table_schema = 'public' and data_type in ('text', 'jsonb', 'character varying', 'json')`,
    );
    const leaks: string[] = [];
    for (const { t, c } of cols) {
      for (const row of await query<{ v: string }>(
        dest.url,
        `select ${c}::text as v from ${t} where ${c} is not null`,
      )) {
        if (originals.has(row.v)) leaks.push(`${t}.${c} = ${row.v}`);
        else if (row.v.includes(tag)) leaks.push(`${t}.${c} contains ${row.v}`);
      }
    }
    expect(leaks).toEqual([]);

    // The unique email column stays unique and joins through the permuted contacts.email hold.
    const joined = await query<{ same: boolean }>(
      dest.url,
      `select bool_and(c.email = u.email) as same from contacts c join users u on u.id = c.user_id`,
    );
    expect(joined[0]!.same).toBe(true);
  });

  it("no original value in the destination's heap, index or WAL files", async () => {
    await client.query('checkpoint');
    const [{ oid }] = (await query<{ oid: string }>(
      src.url,
      'select oid::text from pg_database where datname = $1',
      [dest.name],
    )) as [{ oid: string }];
    const [{ oid: srcOid }] = (await query<{ oid: string }>(
      src.url,
      'select oid::text from pg_database where datname = $1',
      [src.name],
    )) as [{ oid: string }];
    const dataDir = join(inject('pgDir'), 'data');
    const sample = [...originals].filter((v) => v.includes(tag)).slice(0, 60);
    // Positive control: the same search does find originals in the source's own files.
    expect(
      (await hits(await filesUnder(join(dataDir, 'base', srcOid)), sample.slice(0, 5))).length,
    ).toBeGreaterThan(0);
    expect(await hits(await filesUnder(join(dataDir, 'base', oid)), sample)).toEqual([]);
    // Only the WAL written since the copy started: recycled segment files keep stale bytes of
    // older WAL (the seeding) past the current write position, which is not what we look for.
    const [end] = await query<{ file: string; offset: number }>(
      src.url,
      'select file_name as file, file_offset as offset from pg_walfile_name_offset(pg_current_wal_lsn())',
    );
    const wal = (await readdir(join(dataDir, 'pg_wal'))).filter(
      (f) => /^[0-9A-F]{24}$/.test(f) && f >= walStart && f <= end!.file,
    );
    expect(wal.length).toBeGreaterThan(0);
    const walHits: string[] = [];
    for (const f of wal) {
      const buf = await readFile(join(dataDir, 'pg_wal', f));
      const valid = f === end!.file ? buf.subarray(0, end!.offset) : buf;
      for (const n of sample) if (valid.includes(n)) walHits.push(`${f}: ${n}`);
    }
    expect(walHits).toEqual([]);
  });

  it('is deterministic with the same secret (masking threads or not) and different with another one', async () => {
    const again = await newDest();
    const other = await newDest();
    await writeTargets({ dst: dest.url, again: again.url, other: other.url });
    // The second copy masks every table in worker threads (big tables do in production): the
    // same secret must give byte-identical tables whichever path masked them.
    const threaded = await run(['anonymize', 'copy', '--from', 'src', '--to', 'again'], 'copy-secret-A', {
      DBOPS_ANONYMIZE_WORKER_ROWS: '0',
    });
    expect(threaded.exitCode, threaded.stderr).toBe(0);
    for (const t of ['users', 'messages', 'user_sessions', 'contacts', '"We""ird Table"']) {
      const digest = (url: string) =>
        query<{ d: string }>(
          url,
          `select md5(coalesce(string_agg(t::text, '|' order by t::text), '')) as d from ${t} t`,
        );
      expect(await digest(again.url), t).toEqual(await digest(dest.url));
    }
    expect(
      (await run(['anonymize', 'copy', '--from', 'src', '--to', 'other'], 'copy-secret-B')).exitCode,
    ).toBe(0);
    const emails = async (url: string) =>
      await query<{ id: string; email: string; display_name: string }>(
        url,
        'select id::text, email, display_name from users order by users.id',
      );
    const [a, b, c] = await Promise.all([emails(dest.url), emails(again.url), emails(other.url)]);
    expect(b).toEqual(a);
    expect(c.filter((row, i) => row.email === a[i]!.email)).toHaveLength(0);
    // Format preserved: same length as the original, still an address.
    const orig = await query<{ email: string }>(src.url, 'select email from users order by id');
    expect(a.map((row) => row.email.length)).toEqual(orig.map((row) => row.email.length));
    expect(a.every((row) => row.email.includes('@'))).toBe(true);
  });

  it('refuses a non-empty destination', async () => {
    const r = await run(['anonymize', 'copy', '--from', 'src', '--to', 'dst']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/already has/);
  });
});
