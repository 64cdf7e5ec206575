import { describe, expect, it } from 'vitest';

import { MaskKey } from '../../../src/commands/anonymize/keyed.js';
import { permuteInteger, permuteText } from '../../../src/commands/anonymize/fpe.js';
import { maskValue } from '../../../src/commands/anonymize/mask.js';
import { normalizeRule } from '../../../src/commands/anonymize/rules.js';
import {
  decodeCopyField,
  encodeCopyField,
  CopyRowMasker,
} from '../../../src/commands/anonymize/postgres/copy-text.js';
import { guessPii } from '../../../src/commands/anonymize/pii.js';
import { anonymizeSectionSchema } from '../../../src/config/sections/anonymize.js';

const TEXT = { sql: 'text', family: 'text' as const };

describe('keyed format-preserving permutation', () => {
  const key = new MaskKey('unit-secret');
  it('keeps 100k unique e-mails unique, same length and character classes', () => {
    const out = new Set<string>();
    for (let i = 0; i < 100_000; i++) {
      const v = `user.${i}@example.com`;
      const p = permuteText(key, v);
      if (p.length !== v.length) throw new Error(`length changed: ${v} → ${p}`);
      out.add(p);
    }
    expect(out.size).toBe(100_000);
    const sample = permuteText(key, 'Alice.Smith42@mail.example');
    expect(sample).toMatch(/^[A-Z][a-z]{4}\.[A-Z][a-z]{4}\d\d@[a-z]{4}\.[a-z]{7}$/);
  }, 60_000);

  it('is a bijection on integers within each digit count and the type range', () => {
    const seen = new Set<bigint>();
    for (let i = 1n; i <= 100_000n; i++) {
      const p = permuteInteger(key, i, 2147483647n);
      if (p.toString().length !== i.toString().length) throw new Error(`digit count changed: ${i} → ${p}`);
      seen.add(p);
    }
    expect(seen.size).toBe(100_000);
    expect(permuteInteger(key, 2147483647n, 2147483647n)).toBeLessThanOrEqual(2147483647n);
    expect(permuteInteger(key, -5n, 2147483647n)).toBeLessThan(0n);
  }, 60_000);

  it('is deterministic per secret and differs across secrets', () => {
    const other = new MaskKey('other-secret');
    expect(permuteText(key, 'bob@example.com')).toBe(
      permuteText(new MaskKey('unit-secret'), 'bob@example.com'),
    );
    expect(permuteText(key, 'bob@example.com')).not.toBe(permuteText(other, 'bob@example.com'));
  });
});

describe('maskValue', () => {
  const key = new MaskKey('unit-secret');
  const copy = { key, mode: 'copy' as const };
  it('fakes deterministically from the value in copy mode', () => {
    const r = normalizeRule('fake.email');
    const a = maskValue(r, 'x@y.z', TEXT, copy);
    expect(a).toBe(maskValue(r, 'x@y.z', TEXT, { key: new MaskKey('unit-secret'), mode: 'copy' }));
    expect(a).toMatch(/@example\.(com|org|net)$/);
    expect(a).not.toBe(maskValue(r, 'x@y.z', TEXT, { key: new MaskKey('nope'), mode: 'copy' }));
  });
  it('erase mode derives from identity and is idempotent for noise and partial', () => {
    const ctx = { key, mode: 'erase' as const, identity: 'public.users/1/last_seen_at' };
    const noise = normalizeRule({ rule: 'noise', range: '1 day' });
    const t = { sql: 'timestamptz', family: 'timestamptz' as const };
    const once = maskValue(noise, '2024-05-01 10:00:00+00', t, ctx) as string;
    expect(Math.abs(Date.parse(once) - Date.parse('2024-05-01T10:00:00Z'))).toBeLessThanOrEqual(86_400_000);
    expect(maskValue(noise, once, t, ctx)).toBe(once);
    const partial = normalizeRule({ rule: 'partial', keep: 4 });
    expect(maskValue(partial, '+44 7700 900123', TEXT, ctx)).toBe('***********0123');
  });
  it('hash is keyed HMAC-SHA-256 hex, generalize truncates', () => {
    expect(maskValue(normalizeRule('hash'), 'a', TEXT, copy)).toMatch(/^[0-9a-f]{64}$/);
    const d = { sql: 'date', family: 'date' as const };
    expect(maskValue(normalizeRule({ rule: 'generalize', to: 'year' }), '1987-06-15', d, copy)).toBe(
      '1987-01-01',
    );
    const n = { sql: 'integer', family: 'int' as const };
    expect(maskValue(normalizeRule({ rule: 'generalize', to: 10 }), '37', n, copy)).toBe('30');
  });
  it('json rules apply inside documents by path or key name', () => {
    const r = normalizeRule({ rule: 'json', keys: { ip: 'null', 'contact.email': 'redact' } });
    const out = JSON.parse(
      maskValue(
        r,
        '{"ip":"1.2.3.4","contact":{"email":"a@b.c","x":1},"list":[{"ip":"5.6.7.8"}]}',
        TEXT,
        copy,
      ) as string,
    );
    expect(out).toEqual({ ip: null, contact: { email: '[redacted]', x: 1 }, list: [{ ip: null }] });
  });
});

describe('COPY text codec', () => {
  it('round-trips escapes and masks only the chosen columns', async () => {
    expect(decodeCopyField('a\\tb\\nc\\\\d')).toBe('a\tb\nc\\d');
    expect(encodeCopyField('a\tb\nc\\d')).toBe('a\\tb\\nc\\\\d');
    const m = new CopyRowMasker(new Map([[1, (v: string) => v.toUpperCase()]]), {
      key: new MaskKey('k1234'),
      mode: 'copy',
    });
    const chunks: Buffer[] = [];
    m.on('data', (c: Buffer) => chunks.push(Buffer.from(c)));
    m.write(Buffer.from('1\tab\\tc\tx\n2\t\\N\ty\n3\té'));
    m.end(Buffer.from('t\tz\n'));
    await new Promise((r) => m.on('end', r));
    expect(Buffer.concat(chunks).toString()).toBe('1\tAB\\tC\tx\n2\t\\N\ty\n3\tÉT\tz\n');
    expect(m.rows).toBe(3);
  });
});

describe('config and PII guesses', () => {
  it('rejects unknown strategies and accepts YAML null as the null rule', () => {
    expect(anonymizeSectionSchema.safeParse({ tables: { t: { columns: { a: 'scramble' } } } }).success).toBe(
      false,
    );
    expect(
      anonymizeSectionSchema.safeParse({ tables: { t: { columns: { a: null, b: 'fake.firstName' } } } })
        .success,
    ).toBe(true);
    expect(anonymizeSectionSchema.safeParse({ tables: { t: { colums: {} } } }).success).toBe(false);
  });
  it('flags likely PII by name and type', () => {
    expect(guessPii('phone_number', 'text')).toEqual({ category: 'phone', suggestion: 'fake.phone' });
    expect(guessPii('customerEmail', 'text').category).toBe('email');
    expect(guessPii('last_login_ip', 'inet').category).toBe('ip');
    expect(guessPii('iban', 'text').category).toBe('iban');
    expect(guessPii('created_at', 'timestamptz').category).toBeUndefined();
    expect(guessPii('password_hash', 'text').category).toBe('password');
  });
});
