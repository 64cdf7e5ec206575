import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

import { findBackup, scanCatalogue } from '../../src/commands/backup/catalogue.js';
import { backupIdTime, isBackupId, newBackupId } from '../../src/commands/backup/ids.js';
import { backupKey, manifestKey, parseBackupKey, storedSuffix } from '../../src/commands/backup/layout.js';
import { RepositoryBusyError, withWriterLease } from '../../src/commands/backup/lease.js';
import {
  manualRestoreLines,
  parseManifest,
  readManifest,
  serializeManifest,
  writeManifest,
  type BackupManifest,
} from '../../src/commands/backup/manifest.js';
import {
  mongodumpArgs,
  mongorestoreArgs,
  mongoToolConfigYaml,
  writeMongoToolConfig,
} from '../../src/commands/backup/mongodb/commands.js';
import { conninfoDbname, pgDumpArgs, pgRestoreArgs } from '../../src/commands/backup/postgres/commands.js';
import { compareRowCounts } from '../../src/commands/backup/postgres/row-counts.js';
import { nextKeyGeneration } from '../../src/commands/backup/run-rekey.js';
import { parseZstdRawBytes } from '../../src/commands/backup/store-piped.js';
import { resolveEncryptOptions } from '../../src/commands/backup/encryption.js';
import { LocalRepository } from '../../src/storage/local.js';
import { tempDir } from '../support/temp-dir.js';

const sha = (c: string) => c.repeat(64);

function sampleManifest(over: Partial<BackupManifest> = {}): BackupManifest {
  return {
    format: 'dbops-backup-manifest',
    version: 1,
    id: '20240502T031500Z-7f3a9c',
    kind: 'logical',
    engine: 'postgres',
    target: { name: 'main', where: 'postgresql://app@db:5432/app', database: 'app' },
    method: { tool: 'pg_dump', format: 'custom', args: ['--format=custom', '--compress=0'] },
    startedAt: '2024-05-02T03:15:00.000Z',
    finishedAt: '2024-05-02T03:16:00.000Z',
    server: { version: '16.2', major: 16 },
    tool: { name: 'pg_dump', version: '16.2' },
    dbops: { version: '0.1.0', host: 'backup-1' },
    objects: [
      {
        key: 'main/backups/20240502T031500Z-7f3a9c/db.dump.zst.age',
        content: 'pg_dump/custom',
        raw: { size: 1000, sha256: sha('a') },
        stored: { size: 400, sha256: sha('b') },
        pipeline: {
          compression: { algorithm: 'zstd', level: 1, implementation: 'zstd-binary' },
          encryption: { format: 'age', recipients: ['age1xyz'] },
        },
      },
    ],
    rowCounts: { method: 'snapshot', tables: { 'public.users': 100 } },
    labels: { reason: 'nightly' },
    manualRestore: [],
    ...over,
  };
}

/** A local repository in a temp directory (removed after this file's tests). */
async function withLocalRepo(name: string, fn: (repo: LocalRepository) => Promise<void>): Promise<void> {
  await fn(new LocalRepository('t', { path: await tempDir(`dbops-${name}-`) }));
}

describe('backup ids', () => {
  it('sort by time and carry it', () => {
    const a = newBackupId(new Date('2024-05-02T03:15:00.123Z'), 'abcdef');
    expect(a).toBe('20240502T031500Z-abcdef');
    expect(isBackupId(a)).toBe(true);
    expect(backupIdTime(a).toISOString()).toBe('2024-05-02T03:15:00.000Z');
    const b = newBackupId(new Date('2024-05-02T03:15:01Z'));
    expect(a < b).toBe(true);
    expect(isBackupId('20240502-nope')).toBe(false);
    expect(() => backupIdTime('nope')).toThrow(/not a backup id/);
  });
});

describe('repository layout', () => {
  it('puts a backup under <target>/backups/<id>/', () => {
    expect(manifestKey('main', '20240502T031500Z-7f3a9c')).toBe(
      'main/backups/20240502T031500Z-7f3a9c/manifest.json',
    );
    expect(parseBackupKey('main/backups/X/db.dump.zst')).toEqual({
      target: 'main',
      id: 'X',
      name: 'db.dump.zst',
    });
    expect(parseBackupKey('main/wal/00000001/000000010000000000000001')).toBeUndefined();
    expect(() => backupKey('../evil', 'x', 'y')).toThrow();
    expect(storedSuffix('zstd', true)).toBe('.zst.age');
    expect(storedSuffix('gzip', false)).toBe('.gz');
    expect(storedSuffix('none', false)).toBe('');
  });
  it('names rekeyed objects by generation', () => {
    expect(nextKeyGeneration('a/db.dump.zst.age')).toBe('a/db.dump.zst.k1.age');
    expect(nextKeyGeneration('a/db.dump.zst.k1.age')).toBe('a/db.dump.zst.k2.age');
  });
});

describe('manifest', () => {
  it('round-trips and keeps fields it does not know', () => {
    const m = { ...sampleManifest(), futureField: { x: 1 } } as BackupManifest;
    const back = parseManifest(Buffer.from(serializeManifest(m)).toString('utf8'), 'k');
    expect(back).toEqual(m);
  });
  it('rejects a damaged manifest with the reason', () => {
    const bad = { ...sampleManifest(), objects: [] };
    expect(() => parseManifest(JSON.stringify(bad), 'k/manifest.json')).toThrow(/not a valid dbops manifest/);
    expect(() => parseManifest('{', 'k/manifest.json')).toThrow(/not valid JSON/);
  });
  it('records the manual restore pipeline', () => {
    expect(manualRestoreLines(sampleManifest())).toEqual([
      'age -d -i KEY_FILE db.dump.zst.age | zstd -d -c | pg_restore -d DBNAME --single-transaction',
    ]);
    const plain = sampleManifest();
    plain.objects[0]!.pipeline = {
      compression: { algorithm: 'gzip', level: 1, implementation: 'node:zlib' },
      encryption: null,
    };
    plain.objects[0]!.key = 'k/db.tar.gz';
    plain.method = { ...plain.method, format: 'directory' };
    expect(manualRestoreLines(plain)[0]).toBe(
      'gzip -d -c db.tar.gz | tar -x -C DUMP_DIR && pg_restore -d DBNAME -j 4 DUMP_DIR',
    );
  });
  it('is written once and read back from a repository', async () => {
    await withLocalRepo('manifest', async (repo) => {
      const m = sampleManifest();
      expect(await readManifest(repo, 'main', m.id)).toBeUndefined();
      await writeManifest(repo, m);
      expect(await readManifest(repo, 'main', m.id)).toEqual(m);
      await expect(writeManifest(repo, m)).rejects.toThrow(/already exists/);
      await writeManifest(repo, { ...m, labels: {} }, { replace: true });
      expect((await readManifest(repo, 'main', m.id))!.labels).toEqual({});
    });
  });
});

describe('finding a backup by id', () => {
  it("reads that backup's manifest only, and says why another id is not there", async () => {
    await withLocalRepo('find', async (repo) => {
      const put = (key: string, text: string) => repo.put(key, Buffer.from(text));
      const wanted = sampleManifest({ id: '20240503T031500Z-aaaaaa' });
      await writeManifest(repo, wanted);
      await writeManifest(repo, sampleManifest({ id: '20240504T031500Z-bbbbbb' }));
      // Another backup's damaged manifest: a lookup by id must not read it (list and prune do).
      await put(manifestKey('main', '20240505T031500Z-cccccc'), '{');
      // A crash's leftover: data but no manifest.
      await put(backupKey('main', '20240506T031500Z-dddddd', 'db.dump.zst'), 'x');
      const both = sampleManifest({ id: '20240507T031500Z-eeeeee' });
      await writeManifest(repo, both);
      await writeManifest(repo, { ...both, target: { ...both.target, name: 'other' } });

      expect((await findBackup(repo, wanted.id)).manifest).toEqual(wanted);
      expect((await findBackup(repo, wanted.id, 'main')).target).toBe('main');
      await expect(findBackup(repo, wanted.id, 'other')).rejects.toThrow(/no backup 20240503T031500Z-aaaaaa/);
      await expect(findBackup(repo, '20240506T031500Z-dddddd')).rejects.toMatchObject({
        hint: expect.stringMatching(/never completed/),
      });
      await expect(findBackup(repo, '20240508T031500Z-ffffff')).rejects.toMatchObject({
        hint: expect.stringMatching(/backup list/),
      });
      await expect(findBackup(repo, both.id)).rejects.toThrow(/several targets: main, other/);
      expect((await findBackup(repo, both.id, 'other')).target).toBe('other');
      await expect(findBackup(repo, '20240505T031500Z-cccccc')).rejects.toThrow(/not valid JSON/);
    });
  });
});

describe('catalogue listing', () => {
  it("visits every target's backups and skips the rest of its tree (its WAL)", async () => {
    await withLocalRepo('catalogue', async (repo) => {
      const one = sampleManifest({ id: '20240503T031500Z-aaaaaa' });
      await writeManifest(repo, one);
      await writeManifest(repo, { ...one, target: { ...one.target, name: 'other' } });
      for (let i = 0; i < 50; i++) {
        await repo.put(`main/wal/00000001/${String(i).padStart(24, '0')}`, Buffer.from('x'));
        await repo.put(`other/wal/00000001/${String(i).padStart(24, '0')}`, Buffer.from('x'));
      }
      await repo.put('locks/writer.json', Buffer.from('{}'));
      await repo.put('stray-top-level-file', Buffer.from('x'));
      // Count what the listing hands over.
      let listed = 0;
      const counting = Object.create(repo) as LocalRepository;
      counting.list = async function* (prefix, options) {
        for await (const o of repo.list(prefix, options)) {
          listed++;
          yield o;
        }
      };
      const scan = await scanCatalogue(counting);
      expect(scan.backups.map((b) => `${b.target}/${b.id}`)).toEqual([
        'main/20240503T031500Z-aaaaaa',
        'other/20240503T031500Z-aaaaaa',
      ]);
      expect(scan.incomplete).toEqual([]);
      expect(listed).toBeLessThan(20); // not the 100 WAL objects
      listed = 0;
      expect((await findBackup(counting, one.id, 'other')).target).toBe('other');
      expect(listed).toBeLessThan(5);
    });
  });
});

describe('tool command lines', () => {
  it('pg_dump: no compression of its own, snapshot, directory + jobs', () => {
    expect(pgDumpArgs({ format: 'custom', snapshot: '00000003-1' })).toEqual([
      '--format=custom',
      '--compress=0',
      '--no-password',
      '--snapshot=00000003-1',
    ]);
    expect(pgDumpArgs({ format: 'directory', jobs: 4, directory: '/tmp/x' })).toEqual([
      '--format=directory',
      '--compress=0',
      '--no-password',
      '--jobs=4',
      '--file=/tmp/x',
    ]);
  });
  it('pg_restore: single transaction unless parallel, quoted dbname, filters', () => {
    expect(pgRestoreArgs({ database: "o'brien", format: 'custom', singleTransaction: true })).toEqual([
      '--format=custom',
      "--dbname=dbname='o\\'brien'",
      '--no-password',
      '--exit-on-error',
      '--single-transaction',
    ]);
    const par = pgRestoreArgs({
      database: 'x',
      format: 'directory',
      jobs: 2,
      singleTransaction: true,
      clean: true,
      schemas: ['s'],
      tables: ['t'],
      archive: '/d',
    });
    expect(par).toContain('--jobs=2');
    expect(par).not.toContain('--single-transaction');
    expect(par).toEqual(expect.arrayContaining(['--clean', '--if-exists', '--schema=s', '--table=t']));
    expect(par.at(-1)).toBe('/d');
    expect(conninfoDbname('postgresql://evil')).toBe("dbname='postgresql://evil'");
  });
  it('mongodump/mongorestore: the URI only in the 0600 config file', async () => {
    const uri = 'mongodb://app:s3cret@db:27017/chat?replicaSet=rs0';
    const dump = mongodumpArgs({ configFile: '/p/c.yaml', oplog: true });
    expect(dump).toEqual(['--config=/p/c.yaml', '--archive', '--oplog']);
    expect(mongodumpArgs({ configFile: '/p/c.yaml', oplog: false })).not.toContain('--oplog');
    expect(dump.join(' ')).not.toContain('s3cret');
    const restore = mongorestoreArgs({
      configFile: '/p/c.yaml',
      oplogReplay: true,
      drop: false,
      rename: { from: 'chat', to: 'chat_copy' },
      include: ['chat.users'],
    });
    expect(restore).toEqual([
      '--config=/p/c.yaml',
      '--archive',
      '--oplogReplay',
      '--nsInclude=chat.users',
      '--nsFrom=chat.*',
      '--nsTo=chat_copy.*',
    ]);
    expect(mongorestoreArgs({ configFile: 'c', oplogReplay: false, drop: true })).toContain('--drop');
    expect(mongoToolConfigYaml(uri)).toBe(`uri: "${uri}"\n`);
    const file = await writeMongoToolConfig(await tempDir('dbops-mongo-'), uri);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(await readFile(file, 'utf8')).toContain('s3cret');
  });
});

describe('zstd byte count (dump piped straight into zstd)', () => {
  it('reads the exact raw size from the -vv summary of zstd 1.5 and 1.4', () => {
    const v15 =
      '*** Zstandard CLI (64-bit) v1.5.4, by Yann Collet ***\nUsing stdout for output \n' +
      '/*stdin*\\            :  0.00%   (300000000 B =>  10176 B, /*stdout*\\) \n';
    expect(parseZstdRawBytes(v15)).toBe(300000000);
    expect(parseZstdRawBytes('/*stdin*\\ : 11.50%   (2048 => 236 bytes, /*stdout*\\) ')).toBe(2048);
    expect(parseZstdRawBytes('(  4.77 MiB =>   4.77 MiB, /*stdout*\\)')).toBeUndefined();
  });
  it('accepts manifests without a raw sha256 (size only)', () => {
    const noRawHash = sampleManifest();
    noRawHash.objects[0]!.raw = { size: 1000 };
    const text = Buffer.from(serializeManifest(noRawHash)).toString('utf8');
    expect(parseManifest(text, 'manifest.json').objects[0]!.raw.sha256).toBeUndefined();
  });
});

describe('row counts', () => {
  it('reports differing and missing tables', () => {
    expect(
      compareRowCounts({ 'public.a': 1, 'public.b': 2 }, { 'public.a': 1, 'public.b': 3, 'public.c': 0 }),
    ).toEqual([
      { table: 'public.b', expected: 2, actual: 3 },
      { table: 'public.c', expected: null, actual: 0 },
    ]);
  });
});

describe('encryption choice', () => {
  const recipients = ['age1qqqq'];
  it('encrypts when the config has keys, unless --no-encrypt', () => {
    expect(resolveEncryptOptions({ recipients, enabled: true }, undefined)).toEqual({ recipients });
    expect(resolveEncryptOptions({ recipients, enabled: true }, false)).toBeNull();
    expect(resolveEncryptOptions({ recipients, enabled: false }, undefined)).toBeNull();
    expect(resolveEncryptOptions(undefined, undefined)).toBeNull();
    expect(() => resolveEncryptOptions(undefined, true)).toThrow(/--encrypt needs/);
    expect(
      resolveEncryptOptions({ recipients: [], passphraseEnv: 'PW', enabled: true }, undefined, { PW: 'x' }),
    ).toEqual({ passphrase: 'x' });
    expect(() =>
      resolveEncryptOptions({ recipients: [], passphraseEnv: 'PW', enabled: true }, undefined, {}),
    ).toThrow(/PW/);
  });
});

describe('writer lease', () => {
  let dir: string;
  let repo: LocalRepository;
  beforeAll(async () => {
    dir = await tempDir('dbops-lease-');
    repo = new LocalRepository('t', { path: join(dir, 'repo') });
  });
  const opts = () => ({ command: 'test', hostLockDir: join(dir, 'locks') });

  it('admits one writer at a time and releases afterwards', async () => {
    await withWriterLease(repo, opts(), async (lease) => {
      expect(lease.record.pid).toBe(process.pid);
      expect(await repo.head('locks/writer.json')).toBeDefined();
      await expect(withWriterLease(repo, opts(), async () => 1)).rejects.toBeInstanceOf(RepositoryBusyError);
    });
    expect(await repo.head('locks/writer.json')).toBeUndefined();
    expect(await withWriterLease(repo, opts(), async () => 42)).toBe(42);
  });

  it('refuses a live lease of another host, takes over an expired one', async () => {
    const { Readable } = await import('node:stream');
    const put = (expiresAt: string) =>
      repo.put(
        'locks/writer.json',
        Readable.from([
          Buffer.from(
            JSON.stringify({
              owner: 'x',
              host: 'elsewhere',
              pid: 1,
              command: 'backup run',
              acquiredAt: expiresAt,
              expiresAt,
            }),
          ),
        ]),
      );
    await put(new Date(Date.now() + 60_000).toISOString());
    await expect(withWriterLease(repo, opts(), async () => 1)).rejects.toThrow(
      /busy: dbops backup run on elsewhere/,
    );
    await put(new Date(Date.now() - 1000).toISOString());
    expect(await withWriterLease(repo, opts(), async () => 2)).toBe(2);
  });

  it('takes over a lease whose holder on this host is dead (kill -9)', async () => {
    const { Readable } = await import('node:stream');
    const { hostname } = await import('node:os');
    const far = new Date(Date.now() + 3_600_000).toISOString();
    await repo.put(
      'locks/writer.json',
      Readable.from([
        Buffer.from(
          JSON.stringify({
            owner: 'y',
            host: hostname(),
            pid: 2 ** 22 + 7,
            command: 'backup run',
            acquiredAt: far,
            expiresAt: far,
          }),
        ),
      ]),
    );
    expect(await withWriterLease(repo, opts(), async () => 3)).toBe(3);
  });
});

describe('tempSpaceError', () => {
  it('says a full temp directory as a storage error; passes anything else through', async () => {
    const { tempSpaceError, isNoSpace } = await import('../../src/commands/backup/temp-dir.js');
    const { StorageError, ToolError } = await import('../../src/errors.js');
    const enospc = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    const mapped = tempSpaceError(enospc, '/var/tmp/dbops-restore-x', 'the spooled archive (3 MiB)');
    expect(mapped).toBeInstanceOf(StorageError);
    expect((mapped as Error).message).toBe('no space left in /var/tmp for the spooled archive (3 MiB)');
    expect((mapped as InstanceType<typeof StorageError>).hint).toMatch(/--temp-dir/);
    const zstd = new ToolError('zstd exited with code 1', {
      tool: 'zstd',
      stderrTail: 'zstd: error 70 : Write error : cannot write block : No space left on device',
    });
    expect(isNoSpace(zstd)).toBe(true);
    const other = new ToolError('pg_dump exited with code 1', {
      tool: 'pg_dump',
      stderrTail: 'permission denied',
    });
    expect(tempSpaceError(other, '/tmp/x', 'y')).toBe(other);
    expect(isNoSpace(new Error('EPIPE'))).toBe(false);
  });
});
