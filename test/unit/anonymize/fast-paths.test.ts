import { createHmac } from 'node:crypto';

import { describe, expect, it } from 'vitest';

import { fakeValue } from '../../../src/commands/anonymize/fake.js';
import { permuteInteger, permuteText } from '../../../src/commands/anonymize/fpe.js';
import { MaskKey } from '../../../src/commands/anonymize/keyed.js';
import { CopyRowMasker, maskCopyBlock } from '../../../src/commands/anonymize/postgres/copy-text.js';

/*
 * Known answers computed by the earlier (slower) implementations: the speed-ups — char-code
 * permuteText, allocation-free Feistel rounds, one-shot HMAC, lazily filled fake pools — must not
 * change a single masked value, or refreshed copies and repeated erasures would drift.
 */
const key = new MaskKey('pinned-secret');

function seedFor(index: number): Buffer {
  const s = Buffer.alloc(32);
  s.writeUInt32BE(index, 0);
  return s;
}

describe('masking fast paths keep their values', () => {
  it('permutes text, uuids and integers as before', () => {
    expect(
      ['user42.9f3a@example.org', 'AbC-123_xyz', 'é😀x9Z', 'a'.repeat(80)].map((v) => permuteText(key, v)),
    ).toEqual([
      'reay87.0s9c@xkqqgbb.pwd',
      'CfX-580_dkj',
      'é😀o6P',
      'yjdzivzuiskipwuamnkcvyqewbjcfiowadlwbncbhfbhkqgckdhtcuhwkcqhysnzhviegsoqfuteuntp',
    ]);
    expect(permuteText(key, '3f2504e0-4f89-11d3-9a0c-0305e82c3301', { hex: true })).toBe(
      '1ed31277-c71d-ea5a-7a79-a6c8c1bd91d4',
    );
    expect(permuteInteger(key, 123456789n, 2147483647n)).toBe(258490672n);
    expect(permuteInteger(key, -42n, 32767n)).toBe(-56n);
  });

  it('seeds with the same HMAC-SHA-256, short, long and non-ASCII', () => {
    expect(key.seed('v\u0000alice@example.org').toString('hex')).toBe(
      '5ef503f6969a537753c31832a318bdf4f17a0cc2c360808f4df12bbfe030bcdb',
    );
    expect(key.seed('é😀').toString('hex')).toBe(
      'adcc366f591c6c4f97f86645e6b3396f015da7b4e2f72a3d985e19deaff50be5',
    );
    // Longer than the preallocated buffer, and longer than the one-shot limit.
    const valueKey = createHmac('sha256', 'pinned-secret').update('dbops/anonymize/v1/value').digest();
    for (const long of ['x'.repeat(5000) + 'é'.repeat(3000), 'y'.repeat(70_000)])
      expect(key.seed(long)).toEqual(createHmac('sha256', valueKey).update(long).digest());
  });

  it('fills fake pools lazily with the same entries, in any order', () => {
    expect(fakeValue('phone', seedFor(8191))).toBe('+15846528257');
    expect(fakeValue('address', seedFor(77))).toBe('855 Maryjane Run');
    expect(fakeValue('email', seedFor(0))).toBe('colt51@example.com');
    expect(fakeValue('name', seedFor(1234))).toBe('Ahmed Aufderhar');
    expect(fakeValue('country', seedFor(3))).toMatch(/^[A-Z]{2}$/);
  });

  it('a worker key rebuilt from the master masks identically', () => {
    const random = new MaskKey();
    const copy = new MaskKey({ master: random.master, deterministic: random.deterministic });
    expect(copy.fingerprint).toBe(random.fingerprint);
    expect(permuteText(copy, 'bob@example.org')).toBe(permuteText(random, 'bob@example.org'));
    expect(copy.seed('v')).toEqual(random.seed('v'));
  });

  it('maskCopyBlock equals the streaming masker', () => {
    const maskers = new Map([[1, (v: string) => permuteText(key, v)]]);
    const text = '1\talice@example.org\tx\n2\t\\N\ty\n3\ttab\\there\tz\n';
    const streamed: Buffer[] = [];
    const m = new CopyRowMasker(maskers, { key, mode: 'copy' });
    m.on('data', (d: Buffer) => streamed.push(Buffer.from(d)));
    m.end(Buffer.from(text));
    const block = maskCopyBlock(text, [undefined, (v) => permuteText(key, v)], { key, mode: 'copy' });
    expect(block.rows).toBe(3);
    expect(Buffer.concat(streamed).toString()).toBe(block.text);
    expect(maskCopyBlock('', [], { key, mode: 'copy' })).toEqual({ text: '', rows: 0 });
  });
});
