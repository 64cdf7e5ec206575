import { availableParallelism } from 'node:os';
import { pipeline } from 'node:stream/promises';
import type { PoolClient } from 'pg';
import pgCopyStreams from 'pg-copy-streams';

import type { AnonymizeConfig } from '../../../config/sections/anonymize.js';
import {
  quoteIdent,
  quoteLiteral,
  quoteQualified,
  withPostgres,
  type PostgresHandle,
  type ResolvedPostgresTarget,
} from '../../../connections/index.js';
import { ConfigError } from '../../../errors.js';
import type { Logger, Progress } from '../../../logger.js';
import { noProgress, silentLogger } from '../../../logger.js';
import type { MaskKey } from '../keyed.js';
import { maskValue } from '../mask.js';
import { isExcluded, assertNoProblems, buildMaskingPlan, type TablePlan } from '../plan.js';
import { describeRule } from '../rules.js';
import { readCatalog } from './catalog.js';
import { CopyRowMasker, type FieldMasker } from './copy-text.js';
import { MaskWorkerPool, PooledRowMasker, type WorkerColumn } from './mask-pool.js';
import { exactPattern, transferSchemaSection } from './schema-transfer.js';

export interface CopyTableResult {
  table: string;
  /** masked: rows streamed through the masker; passthrough: no column changes; empty: copy: delete-row. */
  mode: 'masked' | 'passthrough' | 'empty';
  rows: number;
  durationMs: number;
  /** Column → rule actually applied (after unique/FK upgrades). */
  columns: Record<string, string>;
}

export interface CopyResult {
  from: string;
  to: string;
  readFrom: 'primary' | 'replica';
  /** One exported snapshot shared by every table, or per-table snapshots when export failed. */
  snapshot: 'shared' | 'per-table';
  deterministic: boolean;
  keyFingerprint: string;
  tables: CopyTableResult[];
  totalRows: number;
  durationMs: number;
  rowsPerSecond: number;
  notes: string[];
  warnings: string[];
}

export interface MaskedCopyInput {
  source: ResolvedPostgresTarget;
  dest: ResolvedPostgresTarget;
  config: AnonymizeConfig;
  key: MaskKey;
  jobs: number;
  logger?: Logger;
  progress?: Progress;
  signal?: AbortSignal;
}

async function serverIdentity(pg: PostgresHandle): Promise<{ id: string; major: number }> {
  const { rows } = await pg
    .query<{ major: number; db: string; addr: string | null; port: number | null; dir: string | null }>(
      `select current_setting('server_version_num')::int / 10000 as major, current_database() as db,
            inet_server_addr()::text as addr, inet_server_port() as port,
            (select system_identifier::text from pg_control_system()) as dir`,
    )
    .catch(() =>
      pg.query<{ major: number; db: string; addr: string | null; port: number | null; dir: string | null }>(
        `select current_setting('server_version_num')::int / 10000 as major, current_database() as db,
              inet_server_addr()::text as addr, inet_server_port() as port, null::text as dir`,
      ),
    );
  const r = rows[0]!;
  return { id: `${r.dir ?? `${r.addr ?? 'socket'}:${r.port ?? ''}`}/${r.db}`, major: r.major };
}

/**
 * The masked copy: schema (pre-data) → rows through the masker → indexes and constraints
 * (post-data) → ANALYZE. Masking happens in this process between the source's COPY TO and the
 * destination's COPY FROM, so the destination only ever receives masked rows — no original
 * value reaches its heap, indexes or WAL (an in-place UPDATE would leave them in dead tuples and
 * WAL). `null` and `redact` are applied in the source's SELECT, so those originals never even
 * leave the source.
 */
export async function maskedCopy(input: MaskedCopyInput): Promise<CopyResult> {
  const logger = input.logger ?? silentLogger;
  const progress = input.progress ?? noProgress;
  if (input.dest.production) {
    throw new ConfigError(
      `refusing to write a masked copy into ${input.dest.name}: it is marked production: true`,
    );
  }
  const started = Date.now();
  const jobs = Math.max(1, Math.floor(input.jobs));
  return withPostgres(
    input.source,
    (src) =>
      withPostgres(
        input.dest,
        async (dst) => {
          const [s, d] = await Promise.all([serverIdentity(src), serverIdentity(dst)]);
          if (s.id === d.id || (input.source.url && input.source.url === input.dest.url)) {
            throw new ConfigError(
              'refusing to copy a database onto itself: --to is the same database as --from',
            );
          }
          const existing = await readCatalog(dst.pool);
          if (existing.tables.size > 0) {
            throw new ConfigError(`the destination database already has ${existing.tables.size} table(s)`, {
              hint: 'a masked copy goes into an empty database: drop and recreate it first',
            });
          }
          const catalog = await readCatalog(src.pool, input.config.schemas);
          const plan = buildMaskingPlan(catalog, input.config);
          // Privacy by default: an unclassified column anywhere stops the copy before it starts.
          assertNoProblems(plan, 'masked copy');
          const excluded = [...(await readCatalog(src.pool)).tables.values()]
            .filter((t) => isExcluded(input.config, t.key))
            .map((t) => exactPattern(t.schema, t.name));

          logger.info('copying schema (pre-data)');
          await transferSchemaSection({
            source: input.source,
            dest: input.dest,
            sourceMajor: s.major,
            destMajor: d.major,
            section: 'pre-data',
            ...(input.config.schemas ? { schemas: input.config.schemas } : {}),
            excludeTables: excluded,
            ...(input.signal ? { signal: input.signal } : {}),
          });

          const reader = await src.reader();
          const tables = [...plan.tables.values()].sort(
            (a, b) => b.table.estimatedRows - a.table.estimatedRows,
          );
          const { results, snapshot } = await copyTables(
            reader.pool,
            dst,
            tables,
            input,
            jobs,
            progress,
            logger,
          );
          await copySequences(src, dst, plan.tables);

          logger.info('creating indexes and constraints (post-data)');
          await transferSchemaSection({
            source: input.source,
            dest: input.dest,
            sourceMajor: s.major,
            destMajor: d.major,
            section: 'post-data',
            ...(input.config.schemas ? { schemas: input.config.schemas } : {}),
            excludeTables: excluded,
            ...(input.signal ? { signal: input.signal } : {}),
          });
          // Statistics are rebuilt from the masked rows, never copied: pg_statistic holds samples.
          await dst.query('analyze');
          const durationMs = Date.now() - started;
          const totalRows = results.reduce((n, r) => n + r.rows, 0);
          return {
            from: src.where,
            to: dst.where,
            readFrom: reader.role,
            snapshot,
            deterministic: input.key.deterministic,
            keyFingerprint: input.key.fingerprint,
            tables: results.sort((a, b) => a.table.localeCompare(b.table)),
            totalRows,
            durationMs,
            rowsPerSecond: Math.round(totalRows / Math.max(0.001, durationMs / 1000)),
            notes: plan.notes,
            warnings:
              snapshot === 'shared'
                ? []
                : ['tables were read in separate snapshots (snapshot export failed)'],
          };
        },
        { logger, maxConnections: jobs + 1 },
      ),
    { logger, maxConnections: jobs + 2 },
  );
}

async function copyTables(
  readerPool: import('pg').Pool,
  dst: PostgresHandle,
  tables: TablePlan[],
  input: MaskedCopyInput,
  jobs: number,
  progress: Progress,
  logger: Logger,
): Promise<{ results: CopyTableResult[]; snapshot: 'shared' | 'per-table' }> {
  // One exported snapshot for every worker: all tables as of the same instant, so FKs hold.
  const coordinator = await readerPool.connect();
  let snapshotId: string | undefined;
  try {
    await coordinator.query('begin isolation level repeatable read read only');
    try {
      snapshotId = (await coordinator.query<{ id: string }>('select pg_export_snapshot() as id')).rows[0]!.id;
    } catch (err) {
      logger.warn('cannot export a snapshot; each table is read in its own', {
        error: (err as Error).message,
      });
      await coordinator.query('rollback');
      await coordinator.query('begin');
    }
    const results: CopyTableResult[] = [];
    const queue = [...tables];
    const workers = new LazyPool(input.key, Math.max(1, Math.min(jobs, availableParallelism())));
    const totalEstimate = tables.reduce((n, t) => n + t.table.estimatedRows, 0);
    let copied = 0;
    progress.start('masked copy', totalEstimate || undefined);
    const worker = async () => {
      for (let tp = queue.shift(); tp; tp = queue.shift()) {
        if (input.signal?.aborted) throw input.signal.reason ?? new Error('aborted');
        const r = await copyOneTable(readerPool, dst, tp, input, snapshotId, workers, (n) => {
          copied += n;
          progress.update(copied);
        });
        logger.info(`copied ${tp.table.key}`, { rows: r.rows, mode: r.mode, ms: r.durationMs });
        results.push(r);
      }
    };
    try {
      await Promise.all(Array.from({ length: Math.min(jobs, Math.max(1, tables.length)) }, worker));
    } finally {
      progress.stop();
      await workers.close();
    }
    return { results, snapshot: snapshotId ? 'shared' : 'per-table' };
  } finally {
    await coordinator.query('rollback').catch(() => {});
    coordinator.release();
  }
}

/**
 * Tables with at least this many (estimated) rows are masked in worker threads; smaller ones in
 * this thread, where starting workers would cost more than the masking.
 */
export const WORKER_MIN_ROWS = Number(process.env.DBOPS_ANONYMIZE_WORKER_ROWS ?? 20_000);

class LazyPool {
  private pool: MaskWorkerPool | undefined;
  constructor(
    private readonly key: MaskKey,
    private readonly size: number,
  ) {}
  get(): MaskWorkerPool {
    this.pool ??= new MaskWorkerPool(this.key, this.size);
    return this.pool;
  }
  async close(): Promise<void> {
    await this.pool?.close();
  }
}

function selectExpression(cp: TablePlan['columns'][number]): string {
  const r = cp.copyRule;
  if (r.kind === 'null') return 'null';
  if (r.kind === 'redact') {
    const text = cp.column.type.family === 'json' ? JSON.stringify(r.text) : r.text;
    const max = cp.column.type.maxLength;
    return `${quoteLiteral(max !== undefined ? [...text].slice(0, max).join('') : text)}::${cp.column.type.sql}`;
  }
  return quoteIdent(cp.column.name);
}

async function copyOneTable(
  readerPool: import('pg').Pool,
  dst: PostgresHandle,
  tp: TablePlan,
  input: MaskedCopyInput,
  snapshotId: string | undefined,
  workers: LazyPool,
  onRows: (n: number) => void,
): Promise<CopyTableResult> {
  const started = Date.now();
  const cols = tp.columns.filter((c) => !c.column.generated);
  const columns = Object.fromEntries(
    cols.map((c) => [c.column.name, describeRule(c.copyRule) + (c.copyReason ? ` (${c.copyReason})` : '')]),
  );
  const qualified = quoteQualified({ schema: tp.table.schema, name: tp.table.name });
  if (tp.config?.copy === 'delete-row' || cols.length === 0) {
    return { table: tp.table.key, mode: 'empty', rows: 0, durationMs: Date.now() - started, columns };
  }
  const maskers = new Map<number, FieldMasker>();
  const workerColumns: WorkerColumn[] = [];
  cols.forEach((cp, i) => {
    const r = cp.copyRule;
    if (r.kind === 'keep' || r.kind === 'null' || r.kind === 'redact') return;
    const type = cp.column.type;
    maskers.set(i, (value, ctx) => maskValue(r, value, type, ctx));
    workerColumns.push({ index: i, rule: r, type });
  });
  const select = `select ${cols.map(selectExpression).join(', ')} from ${tp.table.kind === 'p' ? '' : 'only '}${qualified}`;
  const source: PoolClient = await readerPool.connect();
  let broken = false;
  try {
    await source.query('begin isolation level repeatable read read only');
    if (snapshotId) await source.query(`set transaction snapshot ${quoteLiteral(snapshotId)}`);
    // Dates are parsed and printed in Node: fix their text form; keep every float digit.
    await source.query(
      `select set_config('TimeZone', 'UTC', true), set_config('DateStyle', 'ISO, YMD', true),
              set_config('extra_float_digits', '3', true), set_config('IntervalStyle', 'postgres', true)`,
    );
    const rows = await dst.withClient(async (target) => {
      const from = source.query(pgCopyStreams.to(`copy (${select}) to stdout`));
      const into = target.query(
        pgCopyStreams.from(
          `copy ${qualified} (${cols.map((c) => quoteIdent(c.column.name)).join(', ')}) from stdin`,
        ),
      );
      if (maskers.size === 0) {
        let n = 0;
        from.on('data', (chunk: Buffer) => {
          let lines = 0;
          for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, i + 1)) lines++;
          n += lines;
          onRows(lines);
        });
        await pipeline(from, into);
        return n;
      }
      const masker =
        tp.table.estimatedRows >= WORKER_MIN_ROWS
          ? new PooledRowMasker(workers.get(), workers.get().addTable(workerColumns))
          : new CopyRowMasker(maskers, { key: input.key, mode: 'copy' });
      let reported = 0;
      masker.on('data', () => {
        onRows(masker.rows - reported);
        reported = masker.rows;
      });
      await pipeline(from, masker, into);
      return masker.rows;
    });
    await source.query('commit');
    return {
      table: tp.table.key,
      mode: maskers.size === 0 && cols.every((c) => c.copyRule.kind === 'keep') ? 'passthrough' : 'masked',
      rows,
      durationMs: Date.now() - started,
      columns,
    };
  } catch (err) {
    broken = true;
    throw new ConfigError(`masked copy of ${tp.table.key} failed: ${(err as Error).message}`, { cause: err });
  } finally {
    source.release(broken);
  }
}

/** Sequences continue where the source's are (or past the highest permuted key) so inserts work. */
async function copySequences(
  src: PostgresHandle,
  dst: PostgresHandle,
  tables: Map<string, TablePlan>,
): Promise<void> {
  const { rows } = await src.query<{
    seq: string;
    last: string | null;
    schema: string;
    table: string | null;
    column: string | null;
  }>(
    `select format('%I.%I', s.schemaname, s.sequencename) as seq, s.last_value::text as last,
            tn.nspname as schema, t.relname as table, a.attname as column
       from pg_sequences s
       join pg_class sc on sc.relname = s.sequencename
       join pg_namespace sn on sn.oid = sc.relnamespace and sn.nspname = s.schemaname
       left join pg_depend d on d.classid = 'pg_class'::regclass and d.objid = sc.oid and d.deptype in ('a', 'i')
                             and d.refclassid = 'pg_class'::regclass
       left join pg_class t on t.oid = d.refobjid
       left join pg_namespace tn on tn.oid = t.relnamespace
       left join pg_attribute a on a.attrelid = d.refobjid and a.attnum = d.refobjsubid`,
  );
  for (const r of rows) {
    if (r.last === null) continue;
    const exists = await dst.query('select to_regclass($1) is not null as ok', [r.seq]);
    if (!exists.rows[0]?.ok) continue;
    let value = BigInt(r.last);
    if (r.table && r.column) {
      const tp = [...tables.values()].find((t) => t.table.schema === r.schema && t.table.name === r.table);
      const cp = tp?.columns.find((c) => c.column.name === r.column);
      if (cp?.copyRule.kind === 'permute') {
        const m = await dst.query<{ max: string | null }>(
          `select max(${quoteIdent(r.column)})::text as max from ${quoteQualified({ schema: r.schema, name: r.table })}`,
        );
        if (m.rows[0]?.max && BigInt(m.rows[0].max) > value) value = BigInt(m.rows[0].max);
      }
    }
    await dst.query('select setval($1::regclass, $2::bigint)', [r.seq, value.toString()]);
  }
}
