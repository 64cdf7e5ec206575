import { describe, expect, it } from 'vitest';

import { parseConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';
import { BatchSizer } from '../../src/commands/retention/batch-sizer.js';
import { ageToIsoInterval, cutoffFor, parseAge, parseDuration } from '../../src/config/duration.js';
import {
  batchDelete,
  batchFind,
  eligibilityFilter,
  lockClaim,
} from '../../src/commands/retention/mongodb/filter.js';
import { resolvePolicy, selectPolicies } from '../../src/commands/retention/policy.js';
import type { TableInfo } from '../../src/commands/retention/postgres/introspect.js';
import { buildBatchSql, chooseWalkMode } from '../../src/commands/retention/postgres/sql.js';
import {
  newRunResult,
  recordBatch,
  sizerFor,
  stopBetweenBatches,
} from '../../src/commands/retention/run-loop.js';

describe('durations and ages', () => {
  it('parses durations and ages', () => {
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('2m')).toBe(120_000);
    expect(parseDuration(250)).toBe(250);
    expect(() => parseDuration('5 parsecs')).toThrow();
    expect(ageToIsoInterval(parseAge('7y'))).toBe('P7Y');
    expect(ageToIsoInterval(parseAge('18mo'))).toBe('P18M');
    expect(ageToIsoInterval(parseAge('PT12H'))).toBe('PT12H');
    expect(ageToIsoInterval(parseAge('1y6mo2w'))).toBe('P1Y6M14D');
    expect(ageToIsoInterval(parseAge('30min'))).toBe('PT30M');
    expect(() => parseAge('2 years')).toThrow();
    expect(() => parseAge('0d')).toThrow(/zero/);
  });

  it('computes calendar cutoffs like PostgreSQL (end-of-month clamps)', () => {
    expect(cutoffFor(parseAge('1mo'), new Date('2025-03-31T10:00:00Z')).toISOString()).toBe(
      '2025-02-28T10:00:00.000Z',
    );
    expect(cutoffFor(parseAge('2y'), new Date('2024-02-29T00:00:00Z')).toISOString()).toBe(
      '2022-02-28T00:00:00.000Z',
    );
    expect(cutoffFor(parseAge('90d'), new Date('2025-01-01T00:00:00Z')).toISOString()).toBe(
      '2024-10-03T00:00:00.000Z',
    );
  });
});

describe('retention config', () => {
  const cfg = (policies: unknown, defaults?: unknown) =>
    parseConfig({ retention: { ...(defaults ? { defaults } : {}), policies } }, undefined);

  it('validates policies and applies defaults', () => {
    const c = cfg(
      { 'audit-logs': { table: 'audit_log', ageColumn: 'created_at', olderThan: '7y', batchSize: 5000 } },
      { maxBatchDuration: '250ms', pause: '10ms' },
    );
    const [p] = selectPolicies(c, []);
    expect(p).toMatchObject({
      name: 'audit-logs',
      engine: 'postgres',
      batchSize: 5000,
      maxBatchDurationMs: 250,
      pauseMs: 10,
      olderThanInterval: 'P7Y',
      action: 'delete',
    });
    expect(() => selectPolicies(c, ['nope'])).toThrow(ConfigError);
  });

  it('rejects contradictions and unsafe where expressions', () => {
    expect(() => cfg({ a: { table: 't', olderThan: '1y' } })).toThrow(ConfigError);
    expect(() => cfg({ a: { table: 't', collection: 'c', ageColumn: 'x', olderThan: '1y' } })).toThrow(
      ConfigError,
    );
    expect(() => cfg({ a: { table: 't', where: 'true; drop table t' } })).toThrow(ConfigError);
    expect(() => cfg({ a: { table: 't', where: 'x -- comment' } })).toThrow(ConfigError);
    expect(() => cfg({ a: { table: 't', where: 'x', action: 'archive-table' } })).toThrow(ConfigError);
    expect(() => cfg({ a: { table: 't', where: 'x', maxBatchDuration: 'soon' } })).toThrow(ConfigError);
    expect(() => cfg({ a: { table: 't', where: 'x', bogus: 1 } })).toThrow(ConfigError);
    expect(() => cfg({ a: { table: 't', where: 'x', walCompression: 'brotli' } })).toThrow(ConfigError);
    try {
      cfg({ a: { collection: 'c', filter: {}, walCompression: 'lz4' } });
      expect.unreachable();
    } catch (err) {
      expect((err as ConfigError).problems.join('\n')).toMatch(/walCompression is for PostgreSQL tables/);
    }
  });

  it('walCompression: from defaults or the policy, unset by default', () => {
    const c = cfg(
      { a: { table: 't', where: 'x' }, b: { table: 't', where: 'x', walCompression: 'zstd' } },
      {
        walCompression: 'lz4',
      },
    );
    expect(selectPolicies(c, []).map((p) => p.walCompression)).toEqual(['lz4', 'zstd']);
    expect(selectPolicies(cfg({ a: { table: 't', where: 'x' } }), [])[0]!.walCompression).toBeUndefined();
  });
});

const table = (over: Partial<TableInfo> = {}): TableInfo => ({
  oid: 1,
  sql: '"public"."we""ird tab"',
  partitioned: false,
  columns: [
    { name: 'id', type: 'bigint', notNull: true, generated: false, identity: false },
    {
      name: 'created at',
      type: 'timestamp with time zone',
      notNull: true,
      generated: false,
      identity: false,
    },
    { name: 'payload', type: 'text', notNull: false, generated: false, identity: false },
  ],
  primaryKey: ['id'],
  ageIndexed: true,
  pages: 1000,
  rowsPerPage: 50,
  tidRangeScans: true,
  ...over,
});

describe('PostgreSQL batch SQL', () => {
  const policy = resolvePolicy(
    'p',
    { table: 'x', ageColumn: 'created at', olderThan: '2y', action: 'delete' },
    undefined,
  );

  it('walks the age index with a keyset row comparison, locks with SKIP LOCKED and deletes by ctid', () => {
    const sql = buildBatchSql(policy, table());
    expect(sql.walk.map((c) => c.name)).toEqual(['created at', 'id']);
    expect(sql.nextBatch).toContain(
      '(t."created at", t."id") > ($3::timestamp with time zone, $4::bigint) and t."created at" < $1::timestamp with time zone',
    );
    expect(sql.nextBatch).toContain('order by t."created at", t."id"');
    expect(sql.nextBatch).toContain('for update of t skip locked');
    expect(sql.nextBatch).toContain('x.ctid = any (array(select t.ctid from "public"."we""ird tab" t');
    // Only the count and the last walk key come back: one row, no deleted rows shipped.
    expect(sql.nextBatch).toContain('returning x."created at", x."id")');
    expect(sql.nextBatch).toContain('order by "created at" desc, "id" desc limit 1');
    expect(sql.nextBatch).not.toContain('materialized');
    expect(sql.firstBatch).not.toContain('$3');
  });

  it('falls back to the primary key without an age index, and deletes by key on partitioned tables', () => {
    const sql = buildBatchSql(policy, table({ ageIndexed: false, partitioned: true }));
    expect(sql.walk.map((c) => c.name)).toEqual(['id']);
    expect(sql.nextBatch).toContain('t."id" > $3::bigint');
    expect(sql.nextBatch).toContain('x."id" in (select "id" from batch)');
  });

  it('archives in the same statement and builds the key-based delete for archive files', () => {
    const arch = resolvePolicy(
      'p',
      {
        table: 'x',
        ageColumn: 'created at',
        olderThan: '2y',
        action: 'archive-table',
        archiveTable: 'x_archive',
      },
      undefined,
    );
    const sql = buildBatchSql(arch, table(), {
      sql: '"x_archive"',
      columns: ['id', 'created at', 'payload'],
    });
    expect(sql.firstBatch).toMatch(
      /gone as \(delete from .* returning x\.\*\),\s*moved as \(insert into "x_archive"/s,
    );
    const st = resolvePolicy(
      'p',
      { table: 'x', ageColumn: 'created at', olderThan: '2y', action: 'archive-storage' },
      undefined,
    );
    const s2 = buildBatchSql(st, table());
    expect(s2.selectFirst).toContain('row_to_json(t)::text as j');
    expect(s2.deleteByKeys).toContain('json_to_recordset($1::json) as k("id" bigint)');
    expect(s2.deleteByKeys).toContain('x."created at" < $2::timestamp with time zone');
  });

  it('walks page ranges when many rows go or no index helps, and by key otherwise', () => {
    const t = table();
    expect(chooseWalkMode(policy, t, 20_000).mode).toBe('pages');
    expect(chooseWalkMode(policy, t, 1_000).mode).toBe('key');
    expect(chooseWalkMode(policy, t, undefined).mode).toBe('key');
    expect(chooseWalkMode(policy, table({ ageIndexed: false }), 10).mode).toBe('pages');
    expect(chooseWalkMode(policy, table({ partitioned: true }), 50_000).mode).toBe('key');
    expect(chooseWalkMode(policy, table({ tidRangeScans: false }), 50_000).mode).toBe('key');
    const keyed = resolvePolicy(
      'p',
      { table: 'x', ageColumn: 'created at', olderThan: '2y', walk: 'key', action: 'delete' },
      undefined,
    );
    expect(chooseWalkMode(keyed, t, 50_000).mode).toBe('key');
    const paged = resolvePolicy(
      'p',
      { table: 'x', ageColumn: 'created at', olderThan: '2y', walk: 'pages', action: 'delete' },
      undefined,
    );
    expect(chooseWalkMode(paged, t, 10).mode).toBe('pages');
    expect(() => chooseWalkMode(paged, table({ partitioned: true }), 10)).toThrow(
      /walk: pages is not possible/,
    );
  });

  it('deletes a page range in one plain statement, with a SKIP LOCKED variant for locked rows', () => {
    const sql = buildBatchSql(policy, table(), undefined, 'pages');
    expect(sql.pageBatch).toBe(
      'delete from "public"."we""ird tab" x where x.ctid >= $2::tid and x.ctid < $3::tid and x."created at" < $1::timestamp with time zone',
    );
    expect(sql.pageBatchSkipLocked).toContain('for update of t skip locked');
    const arch = resolvePolicy(
      'p',
      { table: 'x', ageColumn: 'created at', olderThan: '2y', action: 'archive-table', archiveTable: 'a' },
      undefined,
    );
    const a = buildBatchSql(arch, table(), { sql: '"a"', columns: ['id', 'payload'] }, 'pages');
    expect(a.pageBatch).toMatch(
      /^with gone as \(delete from .* returning x\.\*\)\s*insert into "a" \("id", "payload"\)/s,
    );
  });

  it('refuses a table without a usable key', () => {
    expect(() => buildBatchSql(policy, table({ primaryKey: [] }))).toThrow(/no primary key/);
  });
});

describe('adaptive batch size', () => {
  it('shrinks at once when slow, grows gently while fast, stays in bounds', () => {
    const s = new BatchSizer(10_000, 10, 50_000, 500);
    s.record(10_000, 10_000, 2000);
    expect(s.current).toBeLessThan(1100);
    const after = s.current;
    s.record(after, after, 20);
    expect(s.current).toBe(after * 2);
    s.record(10, s.current, 5);
    expect(s.current).toBe(after * 2);
    for (let i = 0; i < 50; i++) s.record(s.current, s.current, 1);
    expect(s.current).toBe(50_000);
    s.timedOut();
    expect(s.current).toBe(12_500);
  });
});

describe('MongoDB batch commands', () => {
  const policy = resolvePolicy(
    'sessions',
    {
      collection: 'sessions',
      ageColumn: 'expiresAt',
      olderThan: '1d',
      filter: { kind: 'web' },
      action: 'delete',
    },
    undefined,
  );
  const cutoff = new Date('2025-01-01T00:00:00Z');

  it('filters by age and the extra filter, walks (age, _id) through the age index', () => {
    expect(eligibilityFilter(policy, cutoff)).toEqual({
      $and: [{ expiresAt: { $lt: cutoff } }, { kind: 'web' }],
    });
    const first = batchFind(policy, cutoff, undefined, 500, { fullDocuments: false, ageIndexed: true });
    expect(first).toEqual({
      filter: { $and: [{ expiresAt: { $lt: cutoff } }, { kind: 'web' }] },
      sort: { expiresAt: 1, _id: 1 },
      limit: 500,
      projection: { _id: 1, expiresAt: 1 },
      hint: { expiresAt: 1 },
    });
    const last = { age: new Date('2024-06-01T00:00:00Z'), id: 'abc' };
    const next = batchFind(policy, cutoff, last, 500, { fullDocuments: true, ageIndexed: false });
    expect(next.filter).toEqual({
      $and: [
        { $and: [{ expiresAt: { $lt: cutoff } }, { kind: 'web' }] },
        { $or: [{ expiresAt: { $gt: last.age } }, { expiresAt: last.age, _id: { $gt: 'abc' } }] },
      ],
    });
    expect(next.projection).toBeUndefined();
    expect(next.hint).toBeUndefined();
  });

  it('deletes exactly the batch by _id with majority write concern, re-checking eligibility', () => {
    expect(batchDelete(policy, cutoff, [1, 2])).toEqual({
      filter: {
        $and: [{ _id: { $in: [1, 2] } }, { $and: [{ expiresAt: { $lt: cutoff } }, { kind: 'web' }] }],
      },
      options: { writeConcern: { w: 'majority' } },
    });
  });

  it('claims a per-policy lock document that expires', () => {
    const now = new Date('2025-01-01T00:00:00Z');
    expect(lockClaim('p', 'h1', now, 60_000)).toEqual({
      filter: { _id: 'retention:p', $or: [{ expiresAt: { $lt: now } }, { holder: 'h1' }] },
      update: { $set: { holder: 'h1', expiresAt: new Date('2025-01-01T00:01:00Z'), since: now } },
      options: { upsert: true },
    });
  });
});

describe('shared batch-loop book-keeping', () => {
  const policy = resolvePolicy(
    'p',
    { table: 'x', ageColumn: 'created_at', olderThan: '2y', action: 'delete', batchSize: 100 },
    undefined,
  );

  it('records batches, learns from the rows found, and stops only between batches', () => {
    const result = newRunResult(policy, 'postgres', 'main', true);
    const sizer = sizerFor(policy);
    recordBatch(result, sizer, { rows: 100, size: 100, fetched: 100, ms: 12.34 });
    recordBatch(result, sizer, { rows: 7, size: 200, fetched: 7, ms: 3 });
    expect(result).toMatchObject({ rows: 107, batches: 2, maxBatchMs: 12.3 });
    expect(result.batchLog).toEqual([
      { rows: 100, size: 100, ms: 12.3 },
      { rows: 7, size: 200, ms: 3 },
    ]);
    // The full, fast batch doubled the size; the partial one taught nothing.
    expect(sizer.current).toBe(200);
    expect(stopBetweenBatches(result, undefined, Number.POSITIVE_INFINITY)).toBe(false);
    expect(result.outcome).toBe('complete');
    const ac = new AbortController();
    ac.abort();
    expect(stopBetweenBatches(result, ac.signal, 0)).toBe(true);
    expect(result).toMatchObject({ outcome: 'partial', stoppedBy: 'signal' });
    const timed = newRunResult(policy, 'mongodb', 'main', false);
    expect(timed.batchLog).toBeUndefined();
    expect(stopBetweenBatches(timed, undefined, Date.now() - 1)).toBe(true);
    expect(timed.stoppedBy).toBe('max-run-time');
  });
});
