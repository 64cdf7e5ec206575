import type { AnonymizeConfig } from '../../../config/sections/anonymize.js';
import { withMongo, type ResolvedMongodbTarget } from '../../../connections/index.js';
import { ConfigError } from '../../../errors.js';
import type { Logger } from '../../../logger.js';
import type { MaskKey } from '../keyed.js';
import type { TableReceipt } from '../receipt.js';
import { describeRule, normalizeRule, type Rule } from '../rules.js';
import type { SubjectTable } from '../subject-plan.js';
import { applyUpdate, maskDocumentUpdate } from './documents.js';

export type MongoFilter = Record<string, unknown>;

/** One write of a MongoDB erasure, built without a server (unit-tested), run in order. */
export type MongoErasureOp =
  | { collection: string; kind: 'deleteMany'; filter: MongoFilter }
  | {
      collection: string;
      kind: 'updateOne';
      filter: { _id: unknown };
      update: { $set?: Record<string, unknown>; $unset?: Record<string, ''> };
    };

/**
 * The forms a subject id may take in documents: the string, the number when it is one, and an
 * ObjectId when it is 24 hex digits — applications store keys in any of them.
 */
export function subjectIdCandidates(id: string, makeObjectId: (hex: string) => unknown): unknown[] {
  const out: unknown[] = [id];
  if (/^-?\d{1,15}$/.test(id)) out.push(Number(id));
  if (/^[0-9a-f]{24}$/i.test(id)) out.push(makeObjectId(id));
  return out;
}

export function subjectFilter(
  keys: string[],
  id: string,
  makeObjectId: (hex: string) => unknown,
): MongoFilter {
  const values = subjectIdCandidates(id, makeObjectId);
  const clauses = keys.map((k) => ({ [k]: { $in: values } }));
  return clauses.length === 1 ? clauses[0]! : { $or: clauses };
}

export function collectionRules(config: AnonymizeConfig, collection: string): Map<string, Rule> {
  const tc = config.tables[collection];
  if (!tc) throw new ConfigError(`collection ${collection}: no rules in anonymize.tables`);
  return new Map(Object.entries(tc.columns).map(([path, input]) => [path, normalizeRule(input)]));
}

export interface MongoErasurePlanInput {
  config: AnonymizeConfig;
  table: SubjectTable;
  subjectId: string;
  /** The subject's documents in this collection (found with subjectFilter). */
  documents: Record<string, unknown>[];
  key: MaskKey;
  makeObjectId: (hex: string) => unknown;
  sampleSize?: number;
}

/** The writes (and the receipt line) for one collection of a subject. */
export function buildCollectionErasure(input: MongoErasurePlanInput): {
  ops: MongoErasureOp[];
  receipt: TableReceipt;
} {
  const { table, config } = input;
  const tc = config.tables[table.name];
  if (!tc) throw new ConfigError(`collection ${table.name}: no rules in anonymize.tables`);
  if (tc.erase === 'delete-row') {
    return {
      ops: input.documents.length
        ? [
            {
              collection: table.name,
              kind: 'deleteMany',
              filter: subjectFilter(table.keys, input.subjectId, input.makeObjectId),
            },
          ]
        : [],
      receipt: {
        table: table.name,
        action: 'delete-row',
        matched: input.documents.length,
        changed: input.documents.length,
        columns: [],
      },
    };
  }
  const rules = collectionRules(config, table.name);
  const skip = new Set(table.keys);
  const ops: MongoErasureOp[] = [];
  const sample: TableReceipt['sample'] = [];
  for (const doc of input.documents) {
    const id = doc._id;
    const update = maskDocumentUpdate(
      doc,
      rules,
      skip,
      (path) => ({ key: input.key, mode: 'erase', identity: `${table.name}/${String(id)}/${path}` }),
      input.makeObjectId,
    );
    if (!update) continue;
    const u: { $set?: Record<string, unknown>; $unset?: Record<string, ''> } = {};
    if (Object.keys(update.$set).length) u.$set = update.$set;
    if (Object.keys(update.$unset).length) u.$unset = update.$unset;
    ops.push({ collection: table.name, kind: 'updateOne', filter: { _id: id }, update: u });
    if (sample.length < (input.sampleSize ?? 0)) {
      const after = applyUpdate(doc, update);
      sample.push(
        [...Object.keys(update.$set), ...Object.keys(update.$unset)].map((p) => ({
          column: p,
          before: p
            .split('.')
            .reduce<unknown>((n, k) => (n as Record<string, unknown> | undefined)?.[k], doc),
          after: p
            .split('.')
            .reduce<unknown>((n, k) => (n as Record<string, unknown> | undefined)?.[k], after),
        })),
      );
    }
  }
  const receipt: TableReceipt = {
    table: table.name,
    action: 'mask',
    matched: input.documents.length,
    changed: ops.length,
    columns: [...rules]
      .filter(([p, r]) => r.kind !== 'keep' && !skip.has(p))
      .map(([p, r]) => ({ column: p, rule: describeRule(r) })),
    ...(sample.length ? { sample } : {}),
  };
  return { ops, receipt };
}

/** Whether the deployment runs multi-document transactions: a replica set or a mongos. */
export function supportsTransactions(hello: Record<string, unknown>): boolean {
  return typeof hello.setName === 'string' || hello.msg === 'isdbgrid';
}

export interface MongoEraseInput {
  config: AnonymizeConfig;
  tables: SubjectTable[];
  key: MaskKey;
  subjectId: string;
  subjectRef: string;
  dryRun: boolean;
  sampleSize: number;
  logger: Logger;
}

/**
 * MongoDB erasure. With a replica set or mongos: one session transaction over every collection
 * plus the audit document. On a standalone server: the same writes ordered per collection
 * (related first, root last); the receipt says so, because a crash in between leaves a partial
 * erasure that a re-run completes.
 */
export async function eraseMongoSubject(
  target: ResolvedMongodbTarget,
  input: MongoEraseInput,
): Promise<{
  tables: TableReceipt[];
  atomicity: 'transaction' | 'ordered-per-collection';
  warnings: string[];
}> {
  const { ObjectId } = await import('mongodb');
  const makeObjectId = (hex: string) => new ObjectId(hex);
  return withMongo(target, async (m) => {
    const db = m.client.db();
    const hello = (await db.admin().command({ hello: 1 })) as Record<string, unknown>;
    const transactional = supportsTransactions(hello);
    const warnings: string[] = transactional
      ? []
      : ['standalone MongoDB: no multi-document transactions; collections were erased one after another'];
    const run = async (session?: import('mongodb').ClientSession) => {
      const receipts: TableReceipt[] = [];
      const allOps: MongoErasureOp[] = [];
      for (const table of input.tables) {
        const filter = subjectFilter(table.keys, input.subjectId, makeObjectId);
        const documents = (await db
          .collection(table.name)
          .find(filter, session ? { session } : {})
          .toArray()) as Record<string, unknown>[];
        const { ops, receipt } = buildCollectionErasure({
          config: input.config,
          table,
          subjectId: input.subjectId,
          documents,
          key: input.key,
          makeObjectId,
          sampleSize: input.dryRun ? input.sampleSize : 0,
        });
        receipts.push(receipt);
        allOps.push(...ops);
        if (input.dryRun || ops.length === 0) continue;
        const updates = ops.filter((o) => o.kind === 'updateOne');
        if (updates.length) {
          await db.collection(table.name).bulkWrite(
            updates.map((o) => ({
              updateOne: { filter: o.filter, update: o.update },
            })) as import('mongodb').AnyBulkWriteOperation[],
            { ordered: true, ...(session ? { session } : {}) },
          );
        }
        for (const o of ops)
          if (o.kind === 'deleteMany')
            await db.collection(o.collection).deleteMany(o.filter, session ? { session } : {});
      }
      if (!input.dryRun) {
        await db.collection(input.config.auditTable).insertOne(
          {
            at: new Date(),
            operation: 'ANONYMIZE',
            subjectRef: input.subjectRef,
            counts: Object.fromEntries(
              receipts.map((r) => [r.table, { action: r.action, matched: r.matched, changed: r.changed }]),
            ),
          },
          session ? { session } : {},
        );
      }
      return receipts;
    };
    if (transactional && !input.dryRun) {
      const session = m.client.startSession();
      try {
        let out: TableReceipt[] = [];
        await session.withTransaction(async () => {
          out = await run(session);
        });
        return { tables: out, atomicity: 'transaction' as const, warnings };
      } finally {
        await session.endSession();
      }
    }
    return {
      tables: await run(),
      atomicity: transactional ? ('transaction' as const) : ('ordered-per-collection' as const),
      warnings,
    };
  });
}
