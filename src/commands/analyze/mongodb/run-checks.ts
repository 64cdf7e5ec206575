import type { AnalyzeCheckId, AnalyzeConfig } from '../../../config/sections/analyze.js';
import { withMongo, type ResolvedMongodbTarget } from '../../../connections/index.js';
import type { Logger } from '../../../logger.js';
import { checkSettings } from '../settings.js';
import type { CheckRun, Finding, ObservationWindow } from '../types.js';
import {
  mongoIndexSize,
  mongoLongRunning,
  mongoRedundantIndexes,
  mongoSlowQueries,
  mongoUnusedIndexes,
  type CurrentOp,
  type IndexStatsDoc,
  type ProfileDoc,
} from './analyze.js';

export interface MongoRunOptions {
  checks: AnalyzeCheckId[];
  config: AnalyzeConfig;
  minWindowSeconds: number;
}

/**
 * Reads the target database: per collection $indexStats and $collStats (MongoDB has no
 * cross-collection catalogue, so this is one round trip per collection and kind), currentOp and
 * the profiler when it is on. $indexStats counts only the member that served the query: on a
 * replica set, reading one member cannot prove an index unused, so that verdict is refused.
 */
export async function runMongoChecks(
  target: ResolvedMongodbTarget,
  options: MongoRunOptions,
  deps: { logger: Logger; counter: { sent: number }; signal?: AbortSignal | undefined },
): Promise<{ where: string; window: ObservationWindow[]; checks: CheckRun[]; findings: Finding[] }> {
  const settings = (id: AnalyzeCheckId) => checkSettings(options.config, id);
  const want = new Set(options.checks);
  const { counter } = deps;
  return withMongo(target, async (m) => {
    const db = m.client.db(m.databaseName);
    const admin = m.client.db('admin');
    const findings: Finding[] = [];
    const runs = new Map<AnalyzeCheckId, CheckRun>();
    const note = (id: AnalyzeCheckId, status: CheckRun['status'], text?: string) =>
      runs.set(id, { check: id, status, findings: 0, ...(text ? { note: text } : {}) });
    counter.sent++;
    const hello = (await admin.command({ hello: 1 })) as { setName?: string; msg?: string };
    const replicated = Boolean(hello.setName) || hello.msg === 'isdbgrid';
    counter.sent++;
    const collections = (await db.listCollections({ type: 'collection' }, { nameOnly: true }).toArray())
      .map((c) => c.name)
      .filter((n) => !n.startsWith('system.'));
    let oldestSince = Infinity;
    const now = new Date();
    for (const name of collections) {
      deps.signal?.throwIfAborted();
      const ns = `${m.databaseName}.${name}`;
      const coll = db.collection(name);
      counter.sent += 2;
      const stats = (await coll.aggregate([{ $indexStats: {} }]).toArray()) as unknown as IndexStatsDoc[];
      const [cs] = (await coll.aggregate([{ $collStats: { storageStats: {} } }]).toArray()) as {
        storageStats?: {
          size: number;
          count: number;
          totalIndexSize: number;
          indexSizes: Record<string, number>;
        };
      }[];
      const storage = cs?.storageStats ?? { size: 0, count: 0, totalIndexSize: 0, indexSizes: {} };
      for (const d of stats)
        oldestSince = Math.min(oldestSince, now.getTime() - new Date(d.accesses.since).getTime());
      if (want.has('index.unused')) {
        if (replicated) {
          note(
            'index.unused',
            'skipped',
            '$indexStats counts one member only; reading every replica-set member / shard is not implemented yet, so no "unused" verdict',
          );
        } else {
          const out = mongoUnusedIndexes(ns, [stats], storage.indexSizes, settings, {
            now,
            minWindowSeconds: options.minWindowSeconds,
          });
          findings.push(...out.findings);
          if (out.skipped) note('index.unused', 'skipped', out.skipped.note);
        }
      }
      if (want.has('index.redundant')) findings.push(...mongoRedundantIndexes(ns, stats, settings));
      if (want.has('collection.index-size')) findings.push(...mongoIndexSize({ ns, ...storage }, settings));
    }
    if (want.has('activity.long-running')) {
      counter.sent++;
      const op = (await admin.command({ currentOp: 1, active: true })) as { inprog: CurrentOp[] };
      findings.push(
        ...mongoLongRunning(
          op.inprog.filter((o) => !o.ns || o.ns.startsWith(`${m.databaseName}.`)),
          settings,
        ),
      );
    }
    if (want.has('query.slow')) {
      counter.sent++;
      const level = (await db.command({ profile: -1 })) as { was: number };
      if (!level.was) {
        note(
          'query.slow',
          'skipped',
          'the profiler is off for this database (db.setProfilingLevel(1, { slowms: 100 }) turns it on)',
        );
      } else {
        counter.sent++;
        const docs = (await db
          .collection('system.profile')
          .find({})
          .sort({ ts: -1 })
          .limit(10_000)
          .toArray()) as unknown as ProfileDoc[];
        findings.push(...mongoSlowQueries(docs, settings));
      }
    }
    const checks: CheckRun[] = options.checks.map((id) => {
      const known = runs.get(id);
      if (known) return known;
      const implemented = [
        'index.unused',
        'index.redundant',
        'collection.index-size',
        'activity.long-running',
        'query.slow',
      ];
      if (!implemented.includes(id))
        return { check: id, status: 'skipped', findings: 0, note: 'not available for MongoDB' };
      const n = findings.filter((f) => f.check === id).length;
      return { check: id, status: n ? 'findings' : 'ok', findings: n };
    });
    const window: ObservationWindow[] = [
      {
        node: m.where,
        role: 'primary',
        statsReset: Number.isFinite(oldestSince) ? new Date(now.getTime() - oldestSince).toISOString() : null,
        days: Number.isFinite(oldestSince) ? oldestSince / 86_400_000 : null,
      },
    ];
    return { where: m.where, window, checks, findings };
  });
}
