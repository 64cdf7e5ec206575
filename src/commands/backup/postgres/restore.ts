import { createWriteStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';

import { ConfigError } from '../../../errors.js';
import type { Progress } from '../../../logger.js';
import type { Repository } from '../../../storage/repository.js';
import type { ReadPipelineOptions } from '../../../streams/pipeline.js';
import { findPostgresTool, type FoundTool } from '../../../tools/find-tool.js';
import { spawnTool, type SpawnedTool } from '../../../tools/spawn-tool.js';
import type { BackupManifest, StoredObject } from '../manifest.js';
import { HoldbackSink, readObject } from '../read-object.js';
import { ensureTempSpace, tempSpaceError, withTempDir } from '../temp-dir.js';
import { pgRestoreArgs, pgRestoreListArgs, type PostgresDumpFormat } from './commands.js';
import { unpackInto } from './directory-tar.js';
import { DataOffsetScanner, writeToc, type TocEntry } from './archive-offsets.js';
import {
  earlyTableWeights,
  planEarlyTable,
  restoreAroundEarlyTable,
  restoreWhileSpooling,
  useListText,
  type EarlyTablePlan,
} from './early-table.js';
import { directSpoolBinary, spoolThroughZstd } from './spool.js';

/** The manifest's archive format for pg_restore, or an error for anything pg_restore cannot read. */
export function pgArchiveFormat(m: BackupManifest): PostgresDumpFormat {
  if (m.engine !== 'postgres' || m.kind !== 'logical') {
    throw new ConfigError(`backup ${m.id} is a ${m.kind} ${m.engine} backup, not a pg_dump archive`);
  }
  if (m.method.format !== 'custom' && m.method.format !== 'directory') {
    throw new ConfigError(`backup ${m.id} has an unknown archive format "${m.method.format}"`);
  }
  return m.method.format;
}

/** pg_restore must be at least as new as the pg_dump that wrote the archive. */
export async function findPgRestore(m: BackupManifest): Promise<FoundTool> {
  const major = Number(/^(\d+)/.exec(m.tool.version)?.[1] ?? m.server.major ?? 0);
  return findPostgresTool('pg_restore', major > 0 ? { serverMajor: major } : {});
}

export interface PostgresRestoreOptions {
  repo: Repository;
  manifest: BackupManifest;
  object: StoredObject;
  read: ReadPipelineOptions;
  /** PG* environment for the server restored into. */
  env: Record<string, string>;
  database: string;
  jobs: number;
  clean: boolean;
  noOwner: boolean;
  schemas: string[];
  tables: string[];
  signal: AbortSignal;
  progress: Progress;
  tempRoot?: string;
  /**
   * The database was created for this restore and is dropped if it fails: a parallel restore may
   * then create the schema from the archive's table of contents while the rest is still being
   * spooled and verified.
   */
  newDatabase?: boolean;
  /**
   * Settles once the database to restore into exists: it may still be being created while the
   * archive is read and spooled. No pg_restore starts before it.
   */
  databaseReady?: Promise<unknown>;
}

export interface PostgresRestoreResult {
  args: string[];
  /** `stream` (custom, one job: straight into pg_restore), `spool-file` (custom, jobs) or `directory`. */
  mode: 'stream' | 'spool-file' | 'directory';
  singleTransaction: boolean;
  /** `schema.table` whose data was restored while the archive was still being spooled. */
  earlyTable?: string;
  storedBytes: number;
  rawBytes: number;
}

/**
 * Restores one pg_dump archive. Custom format with one job streams straight into
 * `pg_restore --single-transaction`; the checksums are compared before pg_restore sees the end of
 * its input (HoldbackSink), so damage rolls everything back. Parallel restore (`pg_restore -j`)
 * needs a seekable archive: it is spooled to a private temp file first, fully verified, then
 * restored. A directory-format archive is unpacked and verified the same way.
 */
export async function restorePostgresArchive(o: PostgresRestoreOptions): Promise<PostgresRestoreResult> {
  const format = pgArchiveFormat(o.manifest);
  const tool = await findPgRestore(o.manifest);
  const base = {
    database: o.database,
    format,
    clean: o.clean,
    noOwner: o.noOwner,
    schemas: o.schemas,
    tables: o.tables,
  };
  const total = o.object.stored.size;
  const onProgress = (stored: number) => o.progress.update(stored, total);
  o.progress.start(`restore ${o.manifest.id}`, total);
  try {
    // With --schema/--table pg_restore may stop reading before the end of a piped archive; spool then.
    const filtered = o.schemas.length > 0 || o.tables.length > 0;
    if (format === 'custom' && o.jobs <= 1 && !filtered) {
      const args = pgRestoreArgs({ ...base, singleTransaction: true });
      await o.databaseReady;
      const { startTool } = await import('../../../tools/run-tool.js');
      const child = startTool('pg_restore', tool.path, args, {
        env: o.env,
        stdin: 'pipe',
        stdout: 'buffer',
        signal: o.signal,
      });
      const sink = new HoldbackSink(child.stdin!, () => child.kill());
      const reading = readObject(o.repo, o.object, sink, {
        read: o.read,
        signal: o.signal,
        onProgress,
        beforeFail: () => child.kill(),
      });
      const [r, c] = await Promise.allSettled([reading, child.done]);
      if (r.status === 'rejected') throw r.reason;
      if (c.status === 'rejected') throw c.reason;
      return { args, mode: 'stream', singleTransaction: true, ...r.value };
    }
    return await withTempDir(
      'restore',
      async (tmp) => {
        const archive = join(tmp, format === 'custom' ? 'archive.dump' : 'dump');
        const zstdBinary = format === 'custom' ? directSpoolBinary(o.object) : undefined;
        const readOptions = { read: o.read, signal: o.signal, onProgress };
        // The schema (pre-data: tables, types, functions) needs only the TOC at the start of the
        // archive. Into a new database it is restored while the rest is spooled, in one
        // transaction; the data and indexes follow once the spool is verified (pg_restore -j).
        // The spool runs to its end either way: a damaged archive is reported as damaged even
        // when its damage also made the schema step fail.
        const schemaFirst = o.newDatabase === true && !o.clean && !filtered;
        let preData: SpawnedTool | undefined;
        // The largest table's data, restored from the spool as it is written (early-table.ts).
        let early:
          | { plan: EarlyTablePlan; lists: { rest: string; after: string }; tool: Promise<SpawnedTool> }
          | undefined;
        // The archive's header and TOC alone: what the steps after the early table read.
        const tocFile = join(tmp, 'toc.dump');
        let spoolEnded!: () => void;
        const spoolDone = new Promise<void>((resolve) => (spoolEnded = resolve));
        // Both pg_restores start at once and wait for their input: their start-up overlaps
        // CREATE DATABASE, and each reads the TOC and connects only once the database (or the
        // schema) is there.
        const startPreData = (toc: Buffer, entries: TocEntry[]) => {
          const args = pgRestoreArgs({ ...base, singleTransaction: true, sections: ['pre-data'] });
          const schema = spawnTool('pg_restore', tool.path, args, {
            env: o.env,
            stdio: ['pipe', 'ignore'],
            signal: o.signal,
          });
          schema.child.stdin!.on('error', () => {});
          Promise.resolve(o.databaseReady).then(
            () => schema.child.stdin!.end(toc),
            () => schema.kill(),
          );
          preData = schema;
          const plan = planEarlyTable(entries, earlyTableWeights(o.manifest), o.object.raw.size);
          if (!plan) return;
          const list = (name: string) => join(tmp, `${name}.list`);
          const lists = { rest: list('rest'), after: list('after') };
          const earlyArgs = pgRestoreArgs({ ...base, useList: list('early') });
          const write = (file: string, text: string | Buffer) => writeFile(file, text, { mode: 0o600 });
          const listed = Promise.all([
            write(list('early'), useListText(plan.early)),
            write(lists.rest, useListText(plan.rest)),
            write(lists.after, useListText(plan.after)),
            write(tocFile, toc),
          ]);
          early = {
            plan,
            lists,
            tool: listed.then(() =>
              restoreWhileSpooling(tool.path, earlyArgs, {
                env: o.env,
                spool: archive,
                writerDone: spoolDone,
                startAfter: schema.done,
                signal: o.signal,
              }),
            ),
          };
          early.tool.catch(() => {});
        };
        // pg_restore -j schedules and seeks by data offsets: found while the spool is written.
        const offsets =
          format === 'custom' && o.jobs > 1
            ? new DataOffsetScanner(schemaFirst ? startPreData : undefined)
            : undefined;
        const onRaw = offsets ? (chunk: Uint8Array) => offsets.push(chunk) : undefined;
        const spool = async () => {
          if (zstdBinary)
            return spoolThroughZstd(o.repo, o.object, zstdBinary, archive, {
              ...readOptions,
              ...(onRaw ? { onSpooled: onRaw } : {}),
            });
          if (format === 'custom')
            return readObject(o.repo, o.object, createWriteStream(archive, { mode: 0o600 }), {
              ...readOptions,
              ...(onRaw ? { onRaw } : {}),
            });
          await mkdir(archive, { mode: 0o700 });
          return readObject(o.repo, o.object, unpackInto(archive), readOptions);
        };
        const what = `the ${format === 'custom' ? 'spooled' : 'unpacked'} archive`;
        const hint =
          format === 'custom' && !filtered
            ? `free space there, point --temp-dir (or TMPDIR) at a larger filesystem, or restore with --jobs 1 (streamed, no temporary copy)`
            : undefined;
        await ensureTempSpace(tmp, o.object.raw.size, what, hint);
        const stop = async (started: SpawnedTool | Promise<SpawnedTool> | undefined) =>
          Promise.resolve(started)
            .then((c) => (c?.kill(), c?.done))
            .catch(() => {});
        const read = await spool()
          .finally(spoolEnded)
          .catch(async (err: unknown) => {
            await Promise.all([stop(preData), stop(early?.tool)]);
            throw tempSpaceError(err, tmp, `${what} (${Math.ceil(o.object.raw.size / 2 ** 20)} MiB)`, hint);
          });
        // The spool is verified; the schema must be in place before the data.
        await preData?.done.catch(async (err: unknown) => {
          await stop(early?.tool);
          throw err;
        });
        const singleTransaction = o.jobs <= 1;
        // Written only once the spool is verified.
        if (offsets) {
          const toc = offsets.finish(read.rawBytes);
          if (toc) await writeToc(archive, toc);
        }
        const args = pgRestoreArgs({
          ...base,
          archive,
          jobs: o.jobs,
          singleTransaction,
          ...(preData ? { sections: ['data', 'post-data'] as const } : {}),
        });
        await o.databaseReady;
        const run = (a: string[]) =>
          spawnTool('pg_restore', tool.path, a, {
            env: o.env,
            stdio: ['ignore', 'ignore'],
            signal: o.signal,
          });
        if (early) {
          await restoreAroundEarlyTable(early.plan, await early.tool, {
            archive,
            toc: tocFile,
            lists: early.lists,
            jobs: o.jobs,
            run: (more) => run(pgRestoreArgs({ ...base, ...more })),
          });
        } else {
          await run(args).done;
        }
        return {
          args: args.map((a) => (a === archive ? '<archive>' : a)),
          mode: format === 'custom' ? ('spool-file' as const) : ('directory' as const),
          singleTransaction,
          ...(early ? { earlyTable: early.plan.table } : {}),
          ...read,
        };
      },
      o.tempRoot,
    );
  } finally {
    o.progress.stop();
  }
}

/**
 * Reads the archive back through every check and lists it with `pg_restore --list` (a damaged or
 * truncated archive fails there). Returns the number of table-of-contents entries.
 */
export async function listPostgresArchive(
  repo: Repository,
  m: BackupManifest,
  object: StoredObject,
  read: ReadPipelineOptions,
  signal: AbortSignal,
  tempRoot?: string,
): Promise<number> {
  const format = pgArchiveFormat(m);
  const tool = await findPgRestore(m);
  const countEntries = (text: string) =>
    text.split('\n').filter((l) => l.trim() !== '' && !l.startsWith(';')).length;
  const { startTool } = await import('../../../tools/run-tool.js');
  if (format === 'custom') {
    const child = startTool('pg_restore', tool.path, pgRestoreListArgs('custom'), {
      stdin: 'pipe',
      stdout: 'buffer',
      signal,
    });
    const [r, c] = await Promise.allSettled([
      readObject(repo, object, new ForwardWhileOpen(child.stdin!), {
        read,
        signal,
        beforeFail: () => child.kill(),
      }),
      child.done,
    ]);
    if (r.status === 'rejected') throw r.reason;
    if (c.status === 'rejected') throw c.reason;
    return countEntries(c.value.stdout);
  }
  return withTempDir(
    'verify',
    async (tmp) => {
      const dir = join(tmp, 'dump');
      await mkdir(dir, { mode: 0o700 });
      // pg_restore --list of a directory dump reads toc.dat only; the data files are checked by the digests.
      await readObject(
        repo,
        object,
        unpackInto(dir, (name) => name === 'toc.dat'),
        { read, signal },
      ).catch((err: unknown) => {
        throw tempSpaceError(err, tmp, "the archive's table of contents");
      });
      const { stdout } = await startTool('pg_restore', tool.path, pgRestoreListArgs('directory', dir), {
        stdout: 'buffer',
        signal,
      }).done;
      return countEntries(stdout);
    },
    tempRoot,
  );
}

/**
 * `pg_restore --list` reads the header and table of contents from stdin and exits without reading
 * the data: forward while it listens, then keep draining so the digests still cover every byte.
 */
class ForwardWhileOpen extends Writable {
  private open = true;
  constructor(private readonly target: Writable) {
    super();
    target.on('error', () => (this.open = false));
    target.on('close', () => (this.open = false));
  }
  override _write(chunk: Buffer, _e: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (!this.open || this.target.destroyed) return cb();
    if (this.target.write(chunk)) return cb();
    const done = () => {
      this.target.off('drain', done);
      this.target.off('close', done);
      cb();
    };
    this.target.on('drain', done);
    this.target.on('close', done);
  }
  override _final(cb: (err?: Error | null) => void): void {
    if (this.open && !this.target.destroyed) this.target.end();
    cb();
  }
  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (err) this.target.destroy();
    cb(err);
  }
}
