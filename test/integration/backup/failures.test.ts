import { randomBytes } from 'node:crypto';
import { open, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

import { DBOPS_BIN, runDbops } from '../../support/cli.js';
import { withClient } from '../../support/pg.js';
import { tempDir } from '../../support/temp-dir.js';
import { generateIdentity } from '../../../src/streams/encrypt.js';
import { backupWorld, databaseExists, expectExit, json, type BackupWorld } from './helpers.js';

async function files(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true }))
    if (e.isFile()) out.push(join(e.parentPath, e.name));
  return out.sort();
}

/** pids of the pg_dump processes dumping `database` (Linux /proc). */
async function dumpsOf(database: string): Promise<string[]> {
  const pids: string[] = [];
  for (const pid of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(pid)) continue;
    const comm = await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '');
    if (comm.trim() !== 'pg_dump') continue;
    const environ = await readFile(`/proc/${pid}/environ`, 'utf8').catch(() => '');
    if (environ.split('\0').includes(`PGDATABASE=${database}`)) pids.push(pid);
  }
  return pids;
}

/** Damages one byte of a stored object in place. */
async function flipByte(file: string, at: number, mask: number): Promise<void> {
  const fh = await open(file, 'r+');
  try {
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, at);
    b[0] = b[0]! ^ mask;
    await fh.write(b, 0, 1, at);
  } finally {
    await fh.close();
  }
}

describe('backup failure modes', () => {
  let w: BackupWorld;
  beforeAll(async () => {
    w = await backupWorld();
  });
  afterAll(() => w?.cleanup());

  it('one flipped byte: verify exits 1 naming the object, restore refuses before writing', async () => {
    const { id } = json<{ id: string }>(
      expectExit(await w.dbops(['-f', 'json', 'backup', 'run', '--no-encrypt', '--compress', 'none']), 0),
    );
    const info = json<{ manifest: { objects: { key: string; stored: { size: number } }[] } }>(
      await w.dbops(['-f', 'json', 'backup', 'info', id]),
    );
    const object = info.manifest.objects[0]!;
    const file = join(w.dir, 'repo', ...object.key.split('/'));
    // Flip a byte in the middle: no compression or encryption layer can catch it, only the checksum.
    await flipByte(file, Math.floor(object.stored.size / 2), 0xff);

    const verify = await w.dbops(['backup', 'verify', id]);
    expect(verify.exitCode).toBe(1);
    expect(verify.stdout + verify.stderr).toContain(object.key);
    expect(verify.stdout).toMatch(/VERIFY FAILED/);

    const database = `flip_${randomBytes(4).toString('hex')}`;
    const restore = await w.dbops(['restore', 'run', id, '--database', database, '--create']);
    expect(restore.exitCode).toBe(1);
    expect(restore.stderr).toContain(object.key);
    expect(await databaseExists(database)).toBe(false);

    const list = json<{ backups: { id: string; status: string }[] }>(
      await w.dbops(['-f', 'json', 'backup', 'list']),
    );
    expect(list.backups.find((x) => x.id === id)?.status).toBe('verify-failed');
  });

  it.each([
    // The table of contents decompresses from these bytes: the schema is made from it while the
    // rest spools.
    ['in its table of contents', () => 200, {}],
    // Inside messages' data: the table restored while spooling (before the checksums are known)
    // reads these bytes.
    [
      'inside the table restored while spooling',
      (size: number) => Math.floor(size * 0.6),
      { DBOPS_EARLY_TABLE_MIN_BYTES: '0' },
    ],
  ])(
    'restore --jobs of a zstd backup damaged %s: exit 1 naming the object, the new database dropped',
    async (_where, at, env) => {
      const { id } = json<{ id: string }>(
        expectExit(await w.dbops(['-f', 'json', 'backup', 'run', '--no-encrypt']), 0),
      );
      const info = json<{ manifest: { objects: { key: string; stored: { size: number } }[] } }>(
        await w.dbops(['-f', 'json', 'backup', 'info', id]),
      );
      const object = info.manifest.objects[0]!;
      await flipByte(join(w.dir, 'repo', ...object.key.split('/')), at(object.stored.size), 0x5a);
      const database = `flipj_${randomBytes(4).toString('hex')}`;
      const restore = await w.dbops(
        ['restore', 'run', id, '--database', database, '--create', '--jobs', '2'],
        env,
      );
      expect(restore.exitCode).toBe(1);
      expect(restore.stderr).toContain(`${object.key} is damaged`);
      expect(await databaseExists(database)).toBe(false);
    },
  );

  it('restore --jobs into a database the role may not create: the server says why, nothing left', async () => {
    const { id } = json<{ id: string }>(
      expectExit(await w.dbops(['-f', 'json', 'backup', 'run', '--no-encrypt']), 0),
    );
    // CREATE DATABASE runs while the archive is spooled: its refusal must stop the spool and be
    // what the operator reads, with no database and no spool left behind.
    const role = `nocreate_${randomBytes(4).toString('hex')}`;
    const password = randomBytes(12).toString('hex');
    await withClient(inject('pgUrl'), (c) => c.query(`create role ${role} login password '${password}'`));
    try {
      const url = new URL(inject('pgUrl'));
      url.username = role;
      url.password = password;
      const config = join(w.dir, 'nocreate.yaml');
      const base = await readFile(w.configFile, 'utf8');
      await writeFile(
        config,
        base.replace(
          'targets:\n',
          `targets:\n  weak:\n    engine: postgres\n    url: ${JSON.stringify(url.toString())}\n`,
        ),
        { mode: 0o600 },
      );
      const tmp = await tempDir('dbops-spool-');
      const database = `nocreate_${randomBytes(4).toString('hex')}`;
      const restore = await runDbops(
        [
          '--config',
          config,
          '--target',
          'main',
          'restore',
          'run',
          id,
          '--to-target',
          'weak',
          '--database',
          database,
          '--create',
          '--jobs',
          '2',
        ],
        { cwd: w.dir, env: { TMPDIR: tmp } },
      );
      expect(restore.exitCode).toBe(2);
      expect(restore.stderr).toContain(
        `cannot create database ${database} on postgresql://${role}:****@127.0.0.1:${url.port}/postgres: permission denied to create database`,
      );
      expect(restore.stderr).toMatch(/hint: grant the role CREATEDB/);
      expect(restore.stderr).not.toContain(password);
      expect(await databaseExists(database)).toBe(false);
      // Only the per-user cache of tool versions (dbops-<uid>), no spool directory.
      expect((await readdir(tmp)).filter((e) => e.startsWith('dbops-restore-'))).toEqual([]);
    } finally {
      await withClient(inject('pgUrl'), (c) => c.query(`drop role if exists ${role}`));
    }
  });

  it('wrong age identity: clear error, exit 2, nothing restored', async () => {
    const { id } = json<{ id: string }>(
      expectExit(await w.dbops(['-f', 'json', 'backup', 'run', '--encrypt']), 0),
    );
    const wrong = join(w.dir, 'wrong-key.txt');
    await writeFile(wrong, `${await generateIdentity()}\n`, { mode: 0o600 });
    const verify = await w.dbops(['backup', 'verify', id, '--identity', wrong]);
    expect(verify.exitCode).toBe(2);
    expect(verify.stderr).toMatch(/no identity matches/);
    const database = `wrongkey_${randomBytes(4).toString('hex')}`;
    const restore = await w.dbops([
      'restore',
      'run',
      id,
      '--identity',
      wrong,
      '--database',
      database,
      '--create',
    ]);
    expect(restore.exitCode).toBe(2);
    expect(restore.stderr).toMatch(/cannot decrypt .*db\.dump\.zst\.age: no identity matches/);
    expect(await databaseExists(database)).toBe(false);
  });

  it('kill -9 during a backup: no manifest, not listed, next backup fine, prune removes the leftovers', async () => {
    const before = json<{ backups: { id: string }[] }>(await w.dbops(['-f', 'json', 'backup', 'list']))
      .backups.length;
    // Slow the dump down so the kill lands mid-stream: pg_dump waits for a lock held here.
    const { withClient } = await import('../../support/pg.js');
    await withClient(w.db.url, async (c) => {
      await c.query('begin');
      await c.query('lock table messages in access exclusive mode');
      const child = execa(
        process.execPath,
        [DBOPS_BIN, '--config', w.configFile, 'backup', 'run', '--no-encrypt'],
        {
          cwd: w.dir,
          reject: false,
          env: { NO_COLOR: '1' },
        },
      );
      // Wait until the backup has started writing (its in-progress marker exists).
      const repo = join(w.dir, 'repo', 'main', 'backups');
      for (let i = 0; i < 200; i++) {
        const all = await files(repo).catch(() => [] as string[]);
        if (all.some((f) => f.endsWith('in-progress.json'))) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      await new Promise((r) => setTimeout(r, 500));
      child.kill('SIGKILL');
      const r = await child;
      expect(r.signal).toBe('SIGKILL');
      // pg_dump dies with dbops although it writes (through zstd) to the repository file, not to
      // a pipe into dbops: no dump of the dead run goes on once the lock below is released.
      for (let i = 0; i < 100 && (await dumpsOf(w.db.name)).length > 0; i++) {
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(await dumpsOf(w.db.name)).toEqual([]);
      await c.query('rollback');
    });
    const all = await files(join(w.dir, 'repo', 'main', 'backups'));
    const leftover = all.find((f) => f.endsWith('in-progress.json'))!;
    expect(leftover).toBeDefined();
    const leftoverDir = leftover.slice(0, -'/in-progress.json'.length);
    expect(all.some((f) => f.startsWith(leftoverDir) && f.endsWith('manifest.json'))).toBe(false);

    const list = json<{ backups: { id: string }[]; incomplete: number }>(
      await w.dbops(['-f', 'json', 'backup', 'list']),
    );
    expect(list.backups).toHaveLength(before);
    expect(list.incomplete).toBe(1);
    // The dead holder's lease does not block the next backup.
    expectExit(await w.dbops(['backup', 'run', '--no-encrypt']), 0);

    // Younger than a day: kept (it might be running elsewhere). Two days later: removed.
    const dry = json<{ leftovers: unknown[] }>(
      expectExit(await w.dbops(['-f', 'json', 'backup', 'prune', '--keep-last', '100', '--dry-run']), 0),
    );
    expect(dry.leftovers).toHaveLength(0);
    const later = new Date(Date.now() + 2 * 86_400_000).toISOString();
    const pruned = json<{ leftovers: unknown[]; removed: string[] }>(
      expectExit(await w.dbops(['-f', 'json', 'backup', 'prune', '--keep-last', '100', '--now', later]), 0),
    );
    expect(pruned.leftovers).toHaveLength(1);
    expect(pruned.removed).toHaveLength(0);
    expect(
      (await files(join(w.dir, 'repo', 'main', 'backups'))).filter((f) => f.startsWith(leftoverDir)),
    ).toEqual([]);
  });

  /**
   * Runs dbops with `args` while this test holds an exclusive lock on messages, so that pg_dump
   * (which takes its table locks after importing the snapshot) waits; then calls `act`, releases
   * the lock and returns what `act` returned and the finished dbops.
   */
  async function whileDumpWaits<T>(args: string[], act: (c: pg.Client, child: ResultPromise) => Promise<T>) {
    const { withClient } = await import('../../support/pg.js');
    return withClient(w.db.url, async (c) => {
      await c.query('begin');
      await c.query('lock table messages in access exclusive mode');
      const child = execa(process.execPath, [DBOPS_BIN, '--config', w.configFile, ...args], {
        cwd: w.dir,
        reject: false,
        env: { NO_COLOR: '1' },
      });
      for (let i = 0; i < 200; i++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        // Inside a transaction pg_stat_activity keeps its first snapshot unless cleared.
        await c.query('select pg_stat_clear_snapshot()');
        // Blocked on the lock, not between two of pg_dump's LOCK TABLEs (then its session idles in
        // its transaction, and a test ending idle sessions would end pg_dump's too).
        const waiting = await c.query(
          `select 1 from pg_stat_activity where datname = current_database() and query ilike 'lock table%'
             and state = 'active' and wait_event_type = 'Lock'`,
        );
        if (waiting.rowCount !== 0) break;
      }
      const acted = await act(c, child);
      await c.query('rollback');
      return { acted, result: await child };
    });
  }

  /** Ends the sessions matching `match`; returns what they last ran. */
  async function endSessions(c: pg.Client, match: string): Promise<string[]> {
    // OFFSET 0 keeps the filter ahead of pg_terminate_backend (no other session is ended).
    const r = await c.query<{ q: string }>(
      `select q from (select pid, query as q from pg_stat_activity
                       where datname = current_database() and pid <> pg_backend_pid() and ${match} offset 0) t
       where pg_terminate_backend(pid)`,
    );
    return r.rows.map((row) => row.q);
  }

  /** In-progress markers and temp files under the local repository: what a failed run must not leave. */
  async function leftovers(): Promise<string[]> {
    return (await files(join(w.dir, 'repo', 'main', 'backups')).catch(() => [] as string[])).filter(
      (f) => f.endsWith('in-progress.json') || f.includes('.dbops-tmp'),
    );
  }

  it('pg_dump failing mid-dump (its connection terminated): exit 4, nothing stored, nothing left', async () => {
    const before = json<{ backups: { id: string }[] }>(await w.dbops(['-f', 'json', 'backup', 'list']))
      .backups.length;
    // As a server restart or an administrator would.
    const { acted: ended, result: r } = await whileDumpWaits(['backup', 'run', '--no-encrypt'], (c) =>
      endSessions(c, `query ilike 'lock table%'`),
    );
    expect(ended).toHaveLength(1);
    expect(r.exitCode).toBe(4);
    expect(r.stderr).toMatch(/pg_dump/);
    const list = json<{ backups: { id: string }[] }>(await w.dbops(['-f', 'json', 'backup', 'list']));
    expect(list.backups).toHaveLength(before);
    // The failed run removed its in-progress marker and its temp file: nothing for prune to find.
    expect(await leftovers()).toEqual([]);
  });

  it('the session holding the exported snapshot ends mid-dump: no crash, the backup completes', async () => {
    // pg_dump has imported the snapshot; the exporting session idles in its transaction.
    const { acted: ended, result: r } = await whileDumpWaits(
      ['-f', 'json', 'backup', 'run', '--no-encrypt', '--no-row-counts'],
      (c) => endSessions(c, `state like 'idle in transaction%'`),
    );
    // Its last query: the snapshot's export, or the table sizes read after it.
    expect(ended).toEqual([expect.stringMatching(/pg_export_snapshot|relpages/)]);
    expect(r.stderr).not.toMatch(/Unhandled|at .*\.js:\d+/);
    expect(r.exitCode).toBe(0);
    const { id } = JSON.parse(r.stdout) as { id: string };
    expectExit(await w.dbops(['backup', 'verify', id]), 0);
  });

  it('Ctrl-C mid-dump: exit 130, pg_dump stopped, nothing stored, nothing left', async () => {
    const before = json<{ backups: { id: string }[] }>(await w.dbops(['-f', 'json', 'backup', 'list']))
      .backups.length;
    const { acted: dumping, result: r } = await whileDumpWaits(
      ['backup', 'run', '--no-encrypt'],
      async (_c, child) => {
        const t0 = Date.now();
        child.kill('SIGINT');
        await child;
        // The row count waiting on the same lock is cancelled, not waited for.
        expect(Date.now() - t0).toBeLessThan(5000);
        // Before the lock is released: pg_dump was stopped, not left to finish.
        for (let i = 0; i < 100 && (await dumpsOf(w.db.name)).length > 0; i++) {
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        return dumpsOf(w.db.name);
      },
    );
    expect(r.exitCode).toBe(130);
    expect(dumping).toEqual([]);
    const list = json<{ backups: { id: string }[] }>(await w.dbops(['-f', 'json', 'backup', 'list']));
    expect(list.backups).toHaveLength(before);
    expect(await leftovers()).toEqual([]);
  });

  it('Ctrl-C mid-restore: exit 130 (not a tool or damage error), no database, no spool left', async () => {
    const { id } = json<{ id: string }>(
      expectExit(await w.dbops(['-f', 'json', 'backup', 'run', '--no-encrypt']), 0),
    );
    const tmp = await tempDir('dbops-spool-');
    const database = `ctrlc_${randomBytes(4).toString('hex')}`;
    // CREATE DATABASE waits behind this lock while the archive spools: the interrupt lands mid-restore.
    const r = await withClient(inject('pgUrl'), async (c) => {
      await c.query('begin');
      await c.query('lock table pg_catalog.pg_database in exclusive mode');
      const child = execa(
        process.execPath,
        [
          DBOPS_BIN,
          '--config',
          w.configFile,
          'restore',
          'run',
          id,
          '--database',
          database,
          '--create',
          '--jobs',
          '2',
          '--temp-dir',
          tmp,
        ],
        { cwd: w.dir, reject: false, env: { NO_COLOR: '1' } },
      );
      for (let i = 0; i < 200; i++) {
        await new Promise((resolve) => setTimeout(resolve, 25));
        await c.query('select pg_stat_clear_snapshot()');
        // This restore's own: other test files' CREATE DATABASE wait behind the lock too.
        const waiting = await c.query(
          `select 1 from pg_stat_activity
             where query ilike 'create database%' and strpos(query, $1) > 0 and wait_event_type = 'Lock'`,
          [database],
        );
        if (waiting.rowCount !== 0) break;
      }
      child.kill('SIGINT');
      await new Promise((resolve) => setTimeout(resolve, 200));
      await c.query('rollback');
      return child;
    });
    expect(r.exitCode).toBe(130);
    expect(r.stderr).toMatch(/interrupted/);
    expect(r.stderr).not.toMatch(/damaged|cannot be trusted|pg_restore/);
    expect(await databaseExists(database)).toBe(false);
    expect(await readdir(tmp)).toEqual([]);
  });

  it('prune --dry-run deletes nothing; prune keeps what the policy and the floors say', async () => {
    const repoDir = join(w.dir, 'repo');
    const beforeFiles = await files(repoDir);
    const all = json<{ backups: { id: string }[] }>(await w.dbops(['-f', 'json', 'backup', 'list'])).backups;
    expect(all.length).toBeGreaterThanOrEqual(3);
    const dry = json<{
      removed: string[];
      kept: number;
      targets: { decisions: { id: string; keep: boolean; reasons: string[] }[] }[];
    }>(expectExit(await w.dbops(['-f', 'json', 'backup', 'prune', '--keep-last', '1', '--dry-run']), 0));
    expect(dry.removed.length).toBeGreaterThan(0);
    expect(await files(repoDir)).toEqual(beforeFiles);
    const table = await w.dbops(['backup', 'prune', '--keep-last', '1', '--dry-run']);
    expect(table.stdout).toMatch(/would delete/);
    expect(table.stdout).toMatch(/last 1\/1/);

    const real = json<{ removed: string[]; kept: number }>(
      expectExit(await w.dbops(['-f', 'json', 'backup', 'prune', '--keep-last', '1']), 0),
    );
    expect(real.removed).toEqual(dry.removed);
    const left = json<{ backups: { id: string }[] }>(await w.dbops(['-f', 'json', 'backup', 'list'])).backups;
    expect(left).toHaveLength(real.kept);
  });
});
