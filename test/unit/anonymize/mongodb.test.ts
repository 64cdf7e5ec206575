import { readFileSync } from 'node:fs';
import { BSON, ObjectId } from 'mongodb';
import { describe, expect, it } from 'vitest';

import { MaskKey } from '../../../src/commands/anonymize/keyed.js';
import { checkCollectionFields, collectFields } from '../../../src/commands/anonymize/mongodb/fields.js';
import {
  buildCollectionErasure,
  subjectFilter,
  supportsTransactions,
} from '../../../src/commands/anonymize/mongodb/subject.js';
import { anonymizeSectionSchema } from '../../../src/config/sections/anonymize.js';

const docs = BSON.EJSON.parse(
  readFileSync(new URL('../../fixtures/anonymize/mongo-messages-sample.json', import.meta.url), 'utf8'),
) as Record<string, unknown>[];
const makeObjectId = (hex: string) => new ObjectId(hex);

const config = anonymizeSectionSchema.parse({
  subjects: {
    users: { root: { table: 'users', key: '_id' }, related: [{ table: 'messages', key: 'userId' }] },
  },
  tables: {
    messages: {
      columns: {
        _id: 'keep',
        userId: 'keep',
        body: { rule: 'redact', text: '[deleted]' },
        sender: { rule: 'json', keys: { email: 'fake.email', name: 'fake.name' } },
        attachments: 'null',
        createdAt: 'keep',
      },
    },
    sessions: { erase: 'delete-row', columns: {} },
  },
})!;

describe('MongoDB anonymize', () => {
  it('collects nested field paths and flags unclassified ones with a PII guess', () => {
    const fields = collectFields(docs);
    expect([...fields.keys()].sort()).toEqual(
      [
        '_id',
        'attachments.size',
        'attachments.url',
        'body',
        'createdAt',
        'phoneNumber',
        'sender.email',
        'sender.name',
        'userId',
      ].sort(),
    );
    const r = checkCollectionFields(config, 'messages', docs);
    expect(r.problems).toEqual([
      expect.objectContaining({
        kind: 'unclassified',
        column: 'phoneNumber',
        pii: 'phone',
        suggestion: 'fake.phone',
      }),
    ]);
  });

  it('matches the subject id as string, number and ObjectId', () => {
    expect(subjectFilter(['userId'], '42', makeObjectId)).toEqual({ userId: { $in: ['42', 42] } });
    const f = subjectFilter(['a', 'b'], '65f1a2b3c4d5e6f708192a3b', makeObjectId) as { $or: unknown[] };
    expect(f.$or).toHaveLength(2);
  });

  it('builds per-document updates, skipping key fields, and nothing on a second pass', () => {
    const key = new MaskKey('mongo-secret');
    const table = { key: 'messages', name: 'messages', keys: ['userId'], root: false };
    const first = buildCollectionErasure({
      config,
      table,
      subjectId: '42',
      documents: [docs[0]!],
      key,
      makeObjectId,
      sampleSize: 1,
    });
    expect(first.ops).toHaveLength(1);
    const op = first.ops[0]!;
    expect(op.kind).toBe('updateOne');
    if (op.kind !== 'updateOne') return;
    expect(op.update.$set).toMatchObject({ body: '[deleted]', attachments: null });
    expect((op.update.$set!.sender as { email: string }).email).toMatch(/@example\./);
    expect(op.update.$set).not.toHaveProperty('userId');
    expect(first.receipt).toMatchObject({ matched: 1, changed: 1, action: 'mask' });
    const erased = { ...docs[0]!, ...op.update.$set };
    const second = buildCollectionErasure({
      config,
      table,
      subjectId: '42',
      documents: [erased],
      key,
      makeObjectId,
    });
    expect(second.ops).toEqual([]);
  });

  it('deletes with one deleteMany for delete-row collections', () => {
    const table = { key: 'sessions', name: 'sessions', keys: ['userId'], root: false };
    const r = buildCollectionErasure({
      config,
      table,
      subjectId: '7',
      documents: [{ _id: 1 }, { _id: 2 }],
      key: new MaskKey('k1234'),
      makeObjectId,
    });
    expect(r.ops).toEqual([
      { collection: 'sessions', kind: 'deleteMany', filter: { userId: { $in: ['7', 7] } } },
    ]);
    expect(r.receipt.changed).toBe(2);
  });

  it('uses a transaction on replica sets and mongos only', () => {
    expect(supportsTransactions({ setName: 'rs0' })).toBe(true);
    expect(supportsTransactions({ msg: 'isdbgrid' })).toBe(true);
    expect(supportsTransactions({ isWritablePrimary: true })).toBe(false);
  });
});
