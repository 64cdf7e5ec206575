import { randomBytes } from 'node:crypto';

import type { MongoHandle } from '../../../connections/mongodb/client.js';
import { DbopsError } from '../../../errors.js';
import type { Logger, Progress } from '../../../logger.js';
import type { Repository } from '../../../storage/repository.js';
import {
  archivePrefix,
  batchKey,
  newRunId,
  settleUnfinishedRuns,
  writeBatchFile,
  writeManifest,
  type BatchFile,
} from '../archive-storage.js';
import { cutoffFor } from '../../../config/duration.js';
import type { RetentionPolicy } from '../policy.js';
import { sleep } from '../../../sleep.js';
import type { PolicyPlan, PolicyRunResult, PolicyStatus } from '../types.js';
import { newRunResult, recordBatch, runDeadline, sizerFor, stopBetweenBatches } from '../run-loop.js';
import { batchDelete, batchFind, eligibilityFilter, lockClaim, type WalkPosition } from './filter.js';

export interface MongoRunDeps {
  mongo: MongoHandle;
  targetName: string;
  repository?: Repository;
  logger: Logger;
  progress: Progress;
  signal?: AbortSignal;
  batchLog?: boolean;
}

const LOCK_COLLECTION = 'dbops_locks';

async function ageIndexed(mongo: MongoHandle, policy: RetentionPolicy): Promise<boolean> {
  if (!policy.ageColumn) return false;
  const indexes = await mongo.client.db().collection(policy.relation).indexes();
  return indexes.some(
    (ix) => Object.keys(ix.key)[0] === policy.ageColumn && Object.keys(ix.key).length === 1,
  );
}

const isDuplicateOnly = (err: unknown): boolean => {
  const e = err as { code?: number; writeErrors?: { code?: number }[] };
  if (e?.code === 11000 && !e.writeErrors) return true;
  return (
    Array.isArray(e?.writeErrors) && e.writeErrors.length > 0 && e.writeErrors.every((w) => w.code === 11000)
  );
};

export async function runMongoPolicy(policy: RetentionPolicy, deps: MongoRunDeps): Promise<PolicyRunResult> {
  const { BSON } = await import('mongodb');
  const EJSON = BSON.EJSON;
  const started = Date.now();
  const db = deps.mongo.client.db();
  const coll = db.collection(policy.relation);
  const result = newRunResult(policy, 'mongodb', deps.targetName, deps.batchLog);
  const holder = randomBytes(8).toString('hex');
  const lockTtl = Math.max(60_000, policy.maxBatchDurationMs * 20);
  const claim = async () => {
    const c = lockClaim(policy.name, holder, new Date(), lockTtl);
    try {
      await db.collection<{ _id: string }>(LOCK_COLLECTION).updateOne(c.filter as never, c.update, c.options);
      return true;
    } catch (err) {
      if (isDuplicateOnly(err)) return false;
      throw err;
    }
  };
  if (!(await claim())) {
    result.outcome = 'skipped-running';
    result.message = `policy ${policy.name} is already running elsewhere (lock document held); skipped`;
    deps.logger.warn(result.message);
    return result;
  }
  try {
    const cutoff = policy.olderThan ? cutoffFor(policy.olderThan, new Date()) : undefined;
    result.cutoff = cutoff?.toISOString();
    const indexed = await ageIndexed(deps.mongo, policy);
    if (policy.ageColumn && !indexed)
      deps.logger.warn(`no index on ${policy.relation}.${policy.ageColumn}: batches will scan`);
    const storage = policy.action === 'archive-storage' ? deps.repository : undefined;
    const prefix = archivePrefix(deps.targetName, policy.name);
    const runId = newRunId();
    const runStarted = new Date().toISOString();
    const files: BatchFile[] = [];
    const base = {
      format: 'dbops-retention-archive/1' as const,
      policy: policy.name,
      target: deps.targetName,
      relation: policy.relation,
      engine: 'mongodb' as const,
    };
    if (storage) {
      result.settledRows = await settleUnfinishedRuns(
        storage,
        prefix,
        base,
        runId,
        async (lines, fileCutoff) => {
          const ids = lines.map((l) => (EJSON.parse(l) as { _id: unknown })._id);
          const del = batchDelete(policy, fileCutoff ? new Date(fileCutoff) : cutoff, ids);
          return (await coll.deleteMany(del.filter, del.options)).deletedCount;
        },
        deps.logger,
      );
    }
    const archive = policy.action === 'archive-table' ? db.collection(policy.archiveTable!) : undefined;
    const sizer = sizerFor(policy);
    const deadline = runDeadline(policy);
    let last: WalkPosition | undefined;
    deps.progress.start(`retention ${policy.name}`);
    let inDoubt = false;
    try {
      for (;;) {
        if (stopBetweenBatches(result, deps.signal, deadline)) break;
        const size = sizer.current;
        const t0 = performance.now();
        const find = batchFind(policy, cutoff, last, size, {
          fullDocuments: policy.action !== 'delete',
          ageIndexed: indexed,
        });
        const docs = await coll
          .find(find.filter, {
            sort: find.sort,
            limit: find.limit,
            maxTimeMS: policy.statementTimeoutMs,
            ...(find.projection ? { projection: find.projection } : {}),
            ...(find.hint ? { hint: find.hint } : {}),
          })
          .toArray();
        if (docs.length === 0) break;
        const ids = docs.map((d) => d._id);
        if (archive) {
          // Keyed by _id: re-inserting a batch after a crash hits duplicate keys, which are ignored,
          // so the archive never holds a document twice.
          await archive
            .insertMany(docs, { ordered: false, writeConcern: { w: 'majority' } })
            .catch((err: unknown) => {
              if (!isDuplicateOnly(err)) throw err;
            });
        }
        if (storage) {
          inDoubt = true;
          files.push(
            await writeBatchFile(
              storage,
              batchKey(prefix, runId, files.length + 1),
              docs.map((d) => EJSON.stringify(d, { relaxed: false })),
              { cutoff: result.cutoff },
            ),
          );
        }
        const del = batchDelete(policy, cutoff, ids);
        const { deletedCount } = await coll.deleteMany(del.filter, del.options);
        inDoubt = false;
        const lastDoc = docs[docs.length - 1]!;
        last = { id: lastDoc._id, ...(policy.ageColumn ? { age: lastDoc[policy.ageColumn] } : {}) };
        const ms = performance.now() - t0;
        recordBatch(result, sizer, { rows: deletedCount, size, fetched: docs.length, ms });
        deps.progress.update(result.rows);
        if (!(await claim())) throw new DbopsError(`lost the lock of policy ${policy.name}`);
        await sleep(policy.pauseMs, deps.signal);
      }
    } catch (err) {
      result.outcome = 'failed';
      result.message = (err as Error).message;
      deps.logger.error(
        `retention policy ${policy.name} failed: ${result.message}`,
        err instanceof DbopsError && err.hint ? { hint: err.hint } : undefined,
      );
    } finally {
      deps.progress.stop();
    }
    if (storage && !inDoubt && (files.length > 0 || result.settledRows > 0)) {
      result.manifest = await writeManifest(storage, prefix, {
        ...base,
        runId,
        cutoff: result.cutoff,
        startedAt: runStarted,
        finishedAt: new Date().toISOString(),
        rows: files.reduce((s, f) => s + f.rows, 0),
        batches: files,
        outcome: result.outcome,
      });
    }
  } finally {
    await db
      .collection<{ _id: string }>(LOCK_COLLECTION)
      .deleteOne({ _id: `retention:${policy.name}`, holder })
      .catch(() => {});
  }
  result.durationMs = Date.now() - started;
  return result;
}

export async function planMongoPolicy(
  policy: RetentionPolicy,
  mongo: MongoHandle,
  targetName: string,
): Promise<PolicyPlan> {
  const coll = mongo.client.db().collection(policy.relation);
  const cutoff = policy.olderThan ? cutoffFor(policy.olderThan, new Date()) : undefined;
  const filter = eligibilityFilter(policy, cutoff);
  const eligible = await coll.countDocuments(filter);
  const indexed = await ageIndexed(mongo, policy);
  const edge = async (dir: 1 | -1) => {
    if (!policy.ageColumn) return null;
    const doc = await coll.findOne(filter, {
      sort: { [policy.ageColumn]: dir },
      projection: { [policy.ageColumn]: 1 },
    });
    const v = doc?.[policy.ageColumn];
    return v instanceof Date ? v.toISOString() : v === undefined || v === null ? null : String(v);
  };
  const find = batchFind(policy, cutoff, undefined, policy.batchSize, {
    fullDocuments: policy.action !== 'delete',
    ageIndexed: indexed,
  });
  const estimatedBatches = Math.ceil(eligible / policy.batchSize);
  return {
    policy: policy.name,
    target: targetName,
    engine: 'mongodb',
    relation: policy.relation,
    action: policy.action,
    eligible,
    oldest: await edge(1),
    newest: await edge(-1),
    cutoff: cutoff?.toISOString(),
    walk: policy.ageColumn ? [policy.ageColumn, '_id'] : ['_id'],
    batchSize: policy.batchSize,
    estimatedBatches,
    estimatedMs: Math.round((eligible / 20_000) * 1000 + estimatedBatches * policy.pauseMs),
    statements: [
      `db.${policy.relation}.find(${JSON.stringify(find.filter)}).sort(${JSON.stringify(find.sort)}).limit(${find.limit})`,
      `db.${policy.relation}.deleteMany({ _id: { $in: [<batch>] }, …eligibility }, { writeConcern: { w: "majority" } })`,
    ],
    warnings:
      policy.ageColumn && !indexed
        ? [`no index on ${policy.ageColumn}: every batch scans the collection`]
        : [],
    ...(policy.archiveTable ? { archiveTarget: `collection ${policy.archiveTable}` } : {}),
  };
}

export async function statusMongoPolicy(
  policy: RetentionPolicy,
  mongo: MongoHandle,
  targetName: string,
  graceMs: number,
): Promise<PolicyStatus> {
  const coll = mongo.client.db().collection(policy.relation);
  const now = new Date();
  const cutoff = policy.olderThan ? cutoffFor(policy.olderThan, now) : undefined;
  const past = await coll.countDocuments(eligibilityFilter(policy, cutoff));
  let oldest: Date | null = null;
  if (policy.ageColumn) {
    const doc = await coll.findOne(policy.filter ?? {}, {
      sort: { [policy.ageColumn]: 1 },
      projection: { [policy.ageColumn]: 1 },
    });
    const v = doc?.[policy.ageColumn];
    oldest = v instanceof Date ? v : null;
  }
  const late = cutoff
    ? await coll.countDocuments(eligibilityFilter(policy, new Date(cutoff.getTime() - graceMs)))
    : past;
  return {
    policy: policy.name,
    target: targetName,
    relation: policy.relation,
    olderThan: policy.olderThanText,
    oldest: oldest?.toISOString() ?? null,
    oldestAgeSeconds: oldest ? Math.round((now.getTime() - oldest.getTime()) / 1000) : null,
    rowsPastPolicy: past,
    violated: late > 0,
    ...(late > 0 ? { reason: `${late} document(s) past the policy` } : {}),
  };
}
