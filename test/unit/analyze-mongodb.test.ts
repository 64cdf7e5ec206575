import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

import { analyzeSchemas } from '../../src/config/sections/analyze.js';
import {
  mongoExplainFindings,
  mongoIndexSize,
  mongoLongRunning,
  mongoRedundantIndexes,
  mongoSlowQueries,
  mongoUnusedIndexes,
  type CollStats,
  type IndexStatsDoc,
  type MongoExplain,
} from '../../src/commands/analyze/mongodb/analyze.js';
import { checkSettings } from '../../src/commands/analyze/settings.js';

const fixture = <T>(name: string): T =>
  JSON.parse(readFileSync(new URL(`../fixtures/analyze/mongodb/${name}`, import.meta.url), 'utf8')) as T;
const config = analyzeSchemas()
  .section.unwrap()
  .parse({ checks: { 'query.slow': { minCalls: 3 } } });
const settings = (id: Parameters<typeof checkSettings>[1]) => checkSettings(config, id);
const objects = (fs: { object: string }[]) => fs.map((f) => f.object).sort();

describe('MongoDB checks on recorded server outputs', () => {
  const members = fixture<IndexStatsDoc[][]>('indexStats-orders.json');
  const stats = fixture<CollStats>('collStats-orders.json');
  const now = new Date('2026-09-20T09:00:00Z');

  it('index.unused sums ops over every member and skips _id_, unique and TTL indexes', () => {
    const out = mongoUnusedIndexes('shop.orders', members, stats.indexSizes, settings, {
      now,
      minWindowSeconds: 14 * 86400,
    });
    // reportKey_1 is unused on the primary but serves reads on the secondary.
    expect(objects(out.findings)).toEqual(['shop.orders.customerId_1', 'shop.orders.legacyRef_1']);
    expect(out.findings[0]!.evidence?.values?.opsPerHost).toBeDefined();
  });

  it('index.unused refuses a verdict when a member restarted inside the window', () => {
    const out = mongoUnusedIndexes('shop.orders', members, stats.indexSizes, settings, {
      now,
      minWindowSeconds: 30 * 86400,
    });
    expect(out.findings).toEqual([]);
    expect(out.skipped?.note).toMatch(/min-window/);
  });

  it('index.redundant finds the prefix-covered index only', () => {
    expect(objects(mongoRedundantIndexes('shop.orders', members[0]!, settings))).toEqual([
      'shop.orders.customerId_1',
    ]);
  });

  it('collection.index-size flags indexes larger than the data', () => {
    const out = mongoIndexSize(stats, settings);
    expect(out.map((f) => [f.object, f.value])).toEqual([['shop.orders', 128]]);
  });

  it('explain: COLLSCAN, docs examined per returned and the in-memory SORT', () => {
    const bad = mongoExplainFindings(
      'refunds',
      fixture<MongoExplain>('explain-orders-collscan.json'),
      settings,
    );
    expect(bad.map((f) => f.check).sort()).toEqual([
      'plan.in-memory-sort',
      'plan.scan-efficiency',
      'plan.seq-scan',
    ]);
    expect(bad.find((f) => f.check === 'plan.scan-efficiency')?.value).toBe(1865);
    expect(
      mongoExplainFindings('by_customer', fixture<MongoExplain>('explain-orders-ixscan.json'), settings),
    ).toEqual([]);
  });

  it('currentOp: long user operations only (no TTL monitor, no oplog tailing)', () => {
    const { inprog } = fixture<{ inprog: Parameters<typeof mongoLongRunning>[0] }>('currentOp.json');
    expect(objects(mongoLongRunning(inprog, settings))).toEqual(['opid:9123311']);
  });

  it('profiler: slow query shapes grouped by queryHash', () => {
    const out = mongoSlowQueries(fixture('profile-shop.json'), settings);
    expect(out.map((f) => [f.object, f.value])).toEqual([['query:5D1F2A6C', 3134]]);
  });
});
