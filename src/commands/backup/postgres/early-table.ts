import { open, rm } from 'node:fs/promises';

import { followFile } from '../../../streams/follow-file.js';
import { spawnTool, type SpawnedTool } from '../../../tools/spawn-tool.js';
import type { BackupManifest } from '../manifest.js';
import type { PgRestoreArgsOptions } from './commands.js';
import {
  SECTION_DATA,
  SECTION_NONE,
  SECTION_POST_DATA,
  SECTION_PRE_DATA,
  type TocEntry,
} from './archive-offsets.js';

/**
 * A parallel restore (`pg_restore -j`) cannot start before the whole archive is spooled and its data
 * offsets are known. Its critical path is nearly always the largest table: its COPY, then its
 * indexes and constraints (measured on the bench database: 3.7 s + 3.7 s of a 7.4 s restore). So
 * that table's data is restored first, by a `pg_restore` of its one entry that reads the spool as
 * it is written; the other tables are restored beside it once the spool is verified, and what
 * depends on the large table (its indexes, constraints, foreign keys into it) after both.
 */
export interface EarlyTablePlan {
  /** `schema.table` whose data is restored while the archive is spooled. */
  table: string;
  /** Its TABLE DATA entry. */
  early: number[];
  /** Data and post-data entries that do not wait for it, in archive order. */
  rest: number[];
  /** Entries that depend on it, in archive order: restored once both others are done. */
  after: number[];
  /** Whether any of `after` has data: else the TOC alone is enough to restore them. */
  afterHasData: boolean;
}

/**
 * Below this raw archive size the spool takes milliseconds and one pg_restore -j is as quick.
 * `DBOPS_EARLY_TABLE_MIN_BYTES` overrides it (the tests use small databases).
 */
export function earlyTableMinBytes(): number {
  const set = Number(process.env.DBOPS_EARLY_TABLE_MIN_BYTES);
  return process.env.DBOPS_EARLY_TABLE_MIN_BYTES && Number.isFinite(set) ? set : 32 * 2 ** 20;
}

/**
 * What the largest table is measured by: the manifest's table sizes, or its row counts in backups
 * made before sizes were recorded. Sizes are page counts as of the last VACUUM/ANALYZE, all zero
 * on a fresh load that none has seen yet: row counts then too.
 */
export function earlyTableWeights(m: BackupManifest): Record<string, number> | undefined {
  const bytes = m.tableBytes;
  return bytes && Object.values(bytes).some((n) => n > 0) ? bytes : m.rowCounts?.tables;
}

/**
 * Plans the early table from the archive's TOC and the manifest's table sizes (or, in backups made
 * before they were recorded, row counts): the largest table, when it holds at least half of the
 * whole (it is then the critical path; with several tables of a size, one pg_restore -j shares the
 * work better, and a table large only in rows would hold back its indexes for nothing). Undefined
 * when there is no such table.
 */
export function planEarlyTable(
  entries: TocEntry[],
  weights: Record<string, number> | undefined,
  rawBytes: number,
  minBytes = earlyTableMinBytes(),
): EarlyTablePlan | undefined {
  if (!weights || rawBytes < minBytes) return undefined;
  const byId = new Map(entries.map((e) => [e.dumpId, e]));
  let total = 0;
  let best: { entry: TocEntry; table: TocEntry; weight: number } | undefined;
  for (const e of entries) {
    if (e.desc !== 'TABLE DATA' || e.namespace === null || e.tag === null) continue;
    const weight = weights[`${e.namespace}.${e.tag}`] ?? 0;
    total += weight;
    const table = e.deps.map((d) => byId.get(d)).find((d) => d?.desc === 'TABLE');
    if (table && weight > (best?.weight ?? 0)) best = { entry: e, table, weight };
  }
  if (!best || best.weight * 2 < total) return undefined;
  // Everything that depends on the table, directly or through another entry (a foreign key of
  // another table depends on this table's primary key). pg_dump orders dependencies first, so the
  // second pass normally finds nothing new.
  const waits = new Set([best.entry.dumpId, best.table.dumpId]);
  for (let grew = true; grew;) {
    grew = false;
    for (const e of entries)
      if (!waits.has(e.dumpId) && e.deps.some((d) => waits.has(d))) grew = Boolean(waits.add(e.dumpId));
  }
  const plan: EarlyTablePlan = {
    table: `${best.entry.namespace}.${best.entry.tag}`,
    early: [best.entry.dumpId],
    rest: [],
    after: [],
    afterHasData: false,
  };
  // An entry without a section (an ACL, a comment) belongs to the section of the entry before it,
  // as pg_restore --section sees it. The pre-data is restored before any of these.
  let section = SECTION_PRE_DATA;
  for (const e of entries) {
    if (e.section !== SECTION_NONE) section = e.section;
    if (section !== SECTION_DATA && section !== SECTION_POST_DATA) continue;
    if (e.dumpId === best.entry.dumpId) continue;
    if (waits.has(e.dumpId)) {
      plan.after.push(e.dumpId);
      plan.afterHasData ||= e.hasData;
    } else plan.rest.push(e.dumpId);
  }
  return plan;
}

/** A `pg_restore --use-list` file: one entry per line, restored in this order. */
export function useListText(ids: number[]): string {
  return ids.map((id) => `${id};\n`).join('');
}

/**
 * Runs `pg_restore` (args read the archive from stdin) on the spool file as it is written: the
 * file is read from its start and piped in until the writer is done or pg_restore has what it
 * needs and exits. pg_restore reading a pipe skips the blocks before its entry. Nothing is piped
 * in before `startAfter` (the schema is in place): pg_restore reads the TOC, connects and sends
 * its COPY before it reads any data.
 */
export function restoreWhileSpooling(
  binary: string,
  args: string[],
  o: {
    env: Record<string, string>;
    spool: string;
    writerDone: Promise<unknown>;
    startAfter: Promise<unknown>;
    signal: AbortSignal;
  },
): SpawnedTool {
  const tool = spawnTool('pg_restore', binary, args, {
    env: o.env,
    stdio: ['pipe', 'ignore'],
    signal: o.signal,
  });
  const stdin = tool.child.stdin!;
  stdin.on('error', () => {});
  const exited = new AbortController();
  tool.done.then(
    () => exited.abort(),
    () => exited.abort(),
  );
  // pg_restore closes its end once it has its entry and exits; its exit status tells the rest.
  let readerGone = false;
  const write = (chunk: Uint8Array) =>
    new Promise<void>((resolve, reject) =>
      stdin.write(chunk, (err) => {
        if (!err) return resolve();
        readerGone = true;
        reject(err);
      }),
    );
  const feeding = (async () => {
    await o.startAfter;
    const fh = await open(o.spool, 'r');
    try {
      await followFile(
        async (buffer, position) => (await fh.read(buffer, 0, buffer.length, position)).bytesRead,
        {
          writerDone: o.writerDone,
          // The buffer is reused once this settles: wait until the pipe has taken it.
          onChunk: write,
          signal: AbortSignal.any([o.signal, exited.signal]),
          chunkSize: 1 << 20,
        },
      );
      stdin.end();
    } finally {
      await fh.close();
    }
  })();
  // Only a failure to read the spool (or a cancel) stops pg_restore from here.
  feeding.catch(() => {
    if (!exited.signal.aborted && !readerGone) tool.kill();
  });
  return tool;
}

/**
 * Once the spool is verified: the other tables beside the early one (`jobs - 1`), then what waits
 * for it with all jobs. That last step reads only the TOC when none of it has data, and the spool
 * (the `archive`) is removed meanwhile (~30 ms for 440 MB, off the end of the restore).
 */
export async function restoreAroundEarlyTable(
  plan: EarlyTablePlan,
  early: SpawnedTool,
  o: {
    archive: string;
    /** The archive's header and TOC alone. */
    toc: string;
    /** The use-list files of `rest` and `after`. */
    lists: { rest: string; after: string };
    jobs: number;
    run: (args: Pick<PgRestoreArgsOptions, 'archive' | 'jobs' | 'useList'>) => SpawnedTool;
  },
): Promise<void> {
  const rest =
    plan.rest.length > 0 ? o.run({ archive: o.archive, jobs: o.jobs - 1, useList: o.lists.rest }) : undefined;
  // The first failure is the one to report; the other pg_restore is stopped.
  let failed: { reason: unknown } | undefined;
  const watch = (t: SpawnedTool | undefined, other: SpawnedTool | undefined) =>
    t?.done.catch((reason: unknown) => {
      failed ??= { reason };
      other?.kill();
    });
  await Promise.all([watch(early, rest), watch(rest, early)]);
  if (failed) throw failed.reason;
  const tocOnly = !plan.afterHasData;
  const removing = tocOnly ? rm(o.archive, { force: true }) : Promise.resolve();
  removing.catch(() => {});
  if (plan.after.length > 0) {
    await o.run({ archive: tocOnly ? o.toc : o.archive, jobs: o.jobs, useList: o.lists.after }).done;
  }
  await removing;
}
