import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  backupWorld,
  dropDatabase,
  expectExit,
  json,
  restoredUrl,
  schemaFingerprint,
  tableFingerprints,
  type BackupWorld,
} from './helpers.js';
import { withClient } from '../../support/pg.js';
import { tempDir } from '../../support/temp-dir.js';

const exec = promisify(execFile);

describe('backup → restore round trips (PostgreSQL)', () => {
  let w: BackupWorld;
  let original: Record<string, [number, string]>;
  const restored: string[] = [];

  beforeAll(async () => {
    w = await backupWorld();
    original = await tableFingerprints(w.db.url);
    expect(original['public.messages']![0]).toBe(5000);
  });
  afterAll(async () => {
    for (const name of restored) await dropDatabase(name).catch(() => {});
    await w?.cleanup();
  });

  /** `restore run ID --database <new> --create --jobs 2`, its JSON result. */
  async function restoreJobs(id: string, prefix: string, env?: Record<string, string>, jobs = 2) {
    const database = `${prefix}_${randomBytes(4).toString('hex')}`;
    restored.push(database);
    const res = json<{ mode: string; args: string[]; earlyTable?: string }>(
      expectExit(
        await w.dbops(
          ['-f', 'json', 'restore', 'run', id, '--database', database, '--create', '--jobs', String(jobs)],
          env,
        ),
        0,
      ),
    );
    return { database, res };
  }

  const matrix = [
    { repo: 'local', format: 'custom', encrypt: true },
    { repo: 'local', format: 'directory', encrypt: false },
    { repo: 's3', format: 'custom', encrypt: false },
    { repo: 's3', format: 'directory', encrypt: true },
  ] as const;

  for (const c of matrix) {
    it(`${c.repo} repository, ${c.format} format, ${c.encrypt ? 'encrypted' : 'not encrypted'}`, async () => {
      const run = json<{
        id: string;
        rawBytes: number;
        storedBytes: number;
        encryption: string;
        tables: number;
      }>(
        expectExit(
          await w.dbops([
            '--repo',
            c.repo,
            '--format',
            'json',
            'backup',
            'run',
            '--dump-format',
            c.format,
            ...(c.format === 'directory' ? ['--jobs', '2'] : []),
            c.encrypt ? '--encrypt' : '--no-encrypt',
            '--label',
            'test=roundtrip',
          ]),
          0,
        ),
      );
      expect(run.encryption).toBe(c.encrypt ? 'recipients' : 'none');
      expect(run.storedBytes).toBeGreaterThan(0);
      expect(run.storedBytes).toBeLessThan(run.rawBytes);
      expect(run.tables).toBe(7);
      // The counts recorded for verify --restore are the tables' real row counts.
      const info = json<{ manifest: { rowCounts: { method: string; tables: Record<string, number> } } }>(
        expectExit(await w.dbops(['--repo', c.repo, '-f', 'json', 'backup', 'info', run.id]), 0),
      );
      expect(info.manifest.rowCounts.method).toBe('snapshot');
      expect(info.manifest.rowCounts.tables).toEqual(
        Object.fromEntries(Object.entries(original).map(([table, [rows]]) => [table, rows])),
      );

      if (c.encrypt) {
        // CLI start-up dominates on 2 cores: list and verify run where they matter most.
        const list = json<{ backups: { id: string; labels: Record<string, string> }[] }>(
          expectExit(await w.dbops(['--repo', c.repo, '-f', 'json', 'backup', 'list']), 0),
        );
        expect(list.backups.find((b) => b.id === run.id)?.labels).toEqual({ test: 'roundtrip' });
        const verify = json<{ ok: boolean }>(
          expectExit(await w.dbops(['--repo', c.repo, '-f', 'json', 'backup', 'verify', run.id]), 0),
        );
        expect(verify.ok).toBe(true);
      }

      const database = `rt_${randomBytes(4).toString('hex')}`;
      restored.push(database);
      const res = json<{ mode: string; singleTransaction: boolean; created: boolean }>(
        expectExit(
          await w.dbops([
            '--repo',
            c.repo,
            '-f',
            'json',
            'restore',
            'run',
            run.id,
            '--database',
            database,
            '--create',
            ...(c.format === 'directory' ? ['--jobs', '2'] : []),
          ]),
          0,
        ),
      );
      expect(res.created).toBe(true);
      expect(res.mode).toBe(c.format === 'custom' ? 'stream' : 'directory');
      expect(await tableFingerprints(restoredUrl(database))).toEqual(original);
    });
  }

  it('an S3 backup stages its parts in TMPDIR, leaves none there, verifies and restores', async () => {
    const spool = { TMPDIR: await tempDir('dbops-rt-spool-') };
    const run = json<{ id: string }>(
      expectExit(await w.dbops(['--repo', 's3', '-f', 'json', 'backup', 'run', '--encrypt'], spool), 0),
    );
    // The parts' directory is gone (the others are dbops's lock and tool-probe directories).
    expect((await readdir(spool.TMPDIR)).filter((f) => f.startsWith('dbops-s3-parts-'))).toEqual([]);
    expectExit(await w.dbops(['--repo', 's3', 'backup', 'verify', run.id]), 0);
    const database = `rs_${randomBytes(4).toString('hex')}`;
    restored.push(database);
    expectExit(
      await w.dbops(['--repo', 's3', 'restore', 'run', run.id, '--database', database, '--create']),
      0,
    );
    expect(await tableFingerprints(restoredUrl(database))).toEqual(original);
  });

  it('a zstd fast level (zstd:-3, --fast=3 when piped to the binary) backs up and verifies', async () => {
    const run = json<{ id: string; compression: string }>(
      expectExit(await w.dbops(['-f', 'json', 'backup', 'run', '--no-encrypt', '--compress', 'zstd:-3']), 0),
    );
    expect(run.compression).toBe('zstd:-3');
    expectExit(await w.dbops(['backup', 'verify', run.id]), 0);
  });

  it('restore --jobs spools a custom archive and matches; --dry-run writes nothing', async () => {
    const { id } = json<{ id: string }>(expectExit(await w.dbops(['-f', 'json', 'backup', 'run']), 0));
    const dry = json<{ mode: string; database: string }>(
      expectExit(await w.dbops(['-f', 'json', 'restore', 'run', id, '--dry-run']), 0),
    );
    expect(dry.mode).toBe('plan');
    const { database, res } = await restoreJobs(id, 'rj');
    expect(res.mode).toBe('spool-file');
    // Into a new database the schema was made while spooling; pg_restore -j did the rest.
    expect(res.args).toEqual(expect.arrayContaining(['--jobs=2', '--section=data', '--section=post-data']));
    expect(await tableFingerprints(restoredUrl(database))).toEqual(original);
    // A non-empty database is refused without --clean.
    const again = await w.dbops(['restore', 'run', id, '--database', database]);
    expect(again.exitCode).toBe(2);
    expect(again.stderr).toMatch(/not empty/);
    // --clean with --yes replaces the objects.
    expectExit(await w.dbops(['--yes', 'restore', 'run', id, '--database', database, '--clean']), 0);
    expect(await tableFingerprints(restoredUrl(database))).toEqual(original);
  });

  it('restore --jobs of a gzip backup (decompressed in Node) takes the same schema-first way', async () => {
    const { id } = json<{ id: string }>(
      expectExit(await w.dbops(['-f', 'json', 'backup', 'run', '--compress', 'gzip']), 0),
    );
    const { database, res } = await restoreJobs(id, 'rg');
    expect(res.args).toEqual(expect.arrayContaining(['--section=data', '--section=post-data']));
    expect(await tableFingerprints(restoredUrl(database))).toEqual(original);
  });

  it('restore --jobs into a new database (schema made while spooling) reproduces every kind of object', async () => {
    // One of each kind pg_restore puts in its own section or pass: a comment and privileges (pre-data
    // and the ACL pass), a function, trigger and view, a check constraint, a sequence past its
    // start (data), an index (post-data) and a large object (its metadata and its data).
    const probe = `
      create table sections_probe (id serial primary key, note text check (note <> ''), at timestamptz);
      comment on table sections_probe is 'probe: it''s restored';
      grant select on sections_probe to public;
      create function sections_probe_touch() returns trigger language plpgsql as
        $$ begin new.at := now(); return new; end $$;
      create trigger sections_probe_at before insert on sections_probe
        for each row execute function sections_probe_touch();
      create view sections_probe_view as select id, note from sections_probe where note like 'k%';
      create index sections_probe_note on sections_probe (note);
      insert into sections_probe (note) select 'k' || g from generate_series(1, 50) g;
      select lo_from_bytea(0, decode(repeat('ab', 5000), 'hex'));`;
    await withClient(w.db.url, (c) => c.query(probe));
    try {
      const schema = await schemaFingerprint(w.db.url);
      const rows = await tableFingerprints(w.db.url);
      expect(schema.large_objects).toMatch(/^\d+:/);
      const { id } = json<{ id: string }>(expectExit(await w.dbops(['-f', 'json', 'backup', 'run']), 0));
      const { database, res } = await restoreJobs(id, 'rs');
      expect(res.args).toContain('--section=data');
      expect(await schemaFingerprint(restoredUrl(database))).toEqual(schema);
      expect(await tableFingerprints(restoredUrl(database))).toEqual(rows);
    } finally {
      await withClient(w.db.url, (c) =>
        c.query(
          `drop view sections_probe_view; drop table sections_probe; drop function sections_probe_touch();
           select lo_unlink(oid) from pg_largeobject_metadata`,
        ),
      );
    }
  });

  it('restore --jobs restores the largest table while spooling, then what depends on it', async () => {
    // What waits for messages' data: its keys, indexes, trigger, privileges and a foreign key of
    // another table into it; a view and a comment on it come with the schema before; a large
    // object goes with the other tables.
    const probe = `
      create table reactions (message_id bigint not null references messages (id), emoji text not null);
      insert into reactions select id, 'ok' from messages where id % 7 = 0;
      create index reactions_message on reactions (message_id);
      comment on table messages is 'early: it''s restored first';
      grant select on messages to public;
      create function messages_probe_touch() returns trigger language plpgsql as
        $$ begin return new; end $$;
      create trigger messages_probe before update on messages
        for each row execute function messages_probe_touch();
      create view messages_probe_view as select id from messages where id % 2 = 0;
      create index messages_probe_body on messages (length(body));
      select lo_from_bytea(0, decode(repeat('cd', 3000), 'hex'));`;
    await withClient(w.db.url, (c) => c.query(probe));
    try {
      const schema = await schemaFingerprint(w.db.url);
      const rows = await tableFingerprints(w.db.url);
      const { id } = json<{ id: string }>(expectExit(await w.dbops(['-f', 'json', 'backup', 'run']), 0));
      for (const jobs of [2, 3]) {
        const { database, res } = await restoreJobs(id, 're', { DBOPS_EARLY_TABLE_MIN_BYTES: '0' }, jobs);
        expect(res.earlyTable).toBe('public.messages');
        expect(await schemaFingerprint(restoredUrl(database))).toEqual(schema);
        expect(await tableFingerprints(restoredUrl(database))).toEqual(rows);
      }
      // The table is picked by its size on disk, recorded with or without the row counts.
      const plain = json<{ id: string }>(
        expectExit(await w.dbops(['-f', 'json', 'backup', 'run', '--no-row-counts']), 0),
      );
      const info = json<{ manifest: { rowCounts: unknown; tableBytes: Record<string, number> } }>(
        expectExit(await w.dbops(['-f', 'json', 'backup', 'info', plain.id]), 0),
      );
      expect(info.manifest.rowCounts).toBeNull();
      expect(info.manifest.tableBytes['public.messages']).toBeGreaterThan(
        info.manifest.tableBytes['public.users']!,
      );
      const { database, res } = await restoreJobs(plain.id, 're', { DBOPS_EARLY_TABLE_MIN_BYTES: '0' });
      expect(res.earlyTable).toBe('public.messages');
      expect(await tableFingerprints(restoredUrl(database))).toEqual(rows);
    } finally {
      await withClient(w.db.url, (c) =>
        c.query(
          `drop table reactions; drop view messages_probe_view; drop trigger messages_probe on messages;
           drop function messages_probe_touch(); drop index messages_probe_body;
           comment on table messages is null; revoke select on messages from public;
           select lo_unlink(oid) from pg_largeobject_metadata`,
        ),
      );
    }
  });

  it('the real age CLI decrypts a dbops backup (manual restore recipe)', async () => {
    const { id } = json<{ id: string }>(
      expectExit(await w.dbops(['-f', 'json', 'backup', 'run', '--encrypt']), 0),
    );
    const info = json<{ manifest: { objects: { key: string }[]; manualRestore: string[] } }>(
      expectExit(await w.dbops(['-f', 'json', 'backup', 'info', id]), 0),
    );
    expect(info.manifest.manualRestore[0]).toMatch(
      /^age -d -i KEY_FILE db\.dump\.zst\.age \| zstd -d -c \| pg_restore/,
    );
    const file = join(w.dir, 'repo', ...info.manifest.objects[0]!.key.split('/'));
    const { stdout } = await exec('sh', [
      '-c',
      `age -d -i "$1" "$2" | zstd -d -c | pg_restore --list`,
      'sh',
      w.identityFile,
      file,
    ]);
    expect(stdout).toMatch(/TABLE DATA public messages/);
    expect(await readdir(join(w.dir, 'repo', 'main', 'backups'))).toContain(id);
  });
});
